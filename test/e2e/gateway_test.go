package e2e

import (
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// TestGatewayToGateway runs ipsecgwd on both gateways: raw ESP (IP protocol
// 50) with NAT-T off, ESP in UDP without a NAT (the daemon's default
// esp_encapsulation: udp) and behind one, AES-GCM and the default
// AES-CBC/HMAC-SHA1, policy- and route-based.
func TestGatewayToGateway(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cases := []struct {
		name      string
		nat       bool
		mod       func(*Conn)
		wantEncap bool
	}{
		{name: "raw-esp", mod: func(c *Conn) { c.NATT = false }},
		{name: "udp-no-nat-gcm", wantEncap: true, mod: func(c *Conn) {
			c.ESPEnc, c.ESPAuth = "aes128gcm16", ""
		}},
		{name: "natt-route-based-default", nat: true, wantEncap: true, mod: func(c *Conn) {
			c.Mode, c.Local, c.Remote = "destination", nil, nil
			c.Routes = []string{lab.ClientNet}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, lab.Options{NAT: tc.nat, Charon: []string{}})
			aAddr := lab.GwAWanIP
			if tc.nat {
				aAddr = lab.GwAWanNATIP
			}
			gb := startGateway(t, b, lab.GwB, lab.GwBWanIP)
			ga := startGateway(t, b, lab.GwA, aAddr)
			cb := defaultConn("cloud")
			cb.Immediate = false // gwA initiates
			if tc.nat {
				// gwA identifies itself by its private address.
				cb.RemoteID = lab.GwAWanNATIP
			}
			tc.mod(&cb)
			ca := mirror(cb)
			ca.Name, ca.Immediate = "onprem", true
			gb.apply(yamlOf(cb))
			ga.apply(yamlOf(ca))
			stA := ga.waitState("onprem", api.StateEstablished, 30*time.Second)
			if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
				t.Fatalf("ping through ipsecgwd↔ipsecgwd: %v", err)
			}
			stB := gb.waitState("cloud", api.StateEstablished, 10*time.Second)
			chA, chB := installedChild(stA), installedChild(stB)
			if chA.SPIIn != chB.SPIOut || chA.SPIOut != chB.SPIIn {
				t.Fatalf("SPIs differ: gwA %s/%s gwB %s/%s", chA.SPIIn, chA.SPIOut, chB.SPIIn, chB.SPIOut)
			}
			if chB.UDPEncap != tc.wantEncap {
				t.Fatalf("UDP encapsulation %v, want %v", chB.UDPEncap, tc.wantEncap)
			}
			r, err := b.Iperf(lab.Client, lab.ServerIP, 3*time.Second, 1)
			if err != nil {
				t.Fatalf("iperf3: %v", err)
			}
			t.Logf("%s: ESP %s encap=%v, iperf3 %s", tc.name, chB.Encryption, chB.UDPEncap, r)
		})
	}
}
