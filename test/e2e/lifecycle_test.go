package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

var lossRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// floodPing pings from→to every 20 ms for dur and returns sent and received.
func floodPing(b *lab.Bed, from, to string, dur time.Duration) (sent, recv int, err error) {
	n := int(dur / (20 * time.Millisecond))
	out, err := b.ExecTimeout(from, dur+30*time.Second, "ping", "-n", "-q", "-c", strconv.Itoa(n), "-i", "0.02", "-W", "2", to)
	m := lossRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("ping: %v: %s", err, out)
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ = strconv.Atoi(m[2])
	return sent, recv, nil
}

// TestRekeyUnderLoad: with short lifetimes ipsecgwd rekeys the CHILD_SA and
// the IKE SA while an iperf3 stream and a 50/s ping run through the tunnel:
// the stream never breaks and not one ping is lost to a rekey.
func TestRekeyUnderLoad(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := onPrem(t, b, nil)
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("rekey")
	c.ESPLife, c.IKELife = 12, 25
	g.apply(yamlOf(c))
	st := g.waitState("rekey", api.StateEstablished, 30*time.Second)
	firstChild, firstIKE := installedChild(st).SPIIn, st.IKESAs[0].SPIInitiator
	checkTraffic(t, b, g, "rekey", sw)

	const dur = 35 * time.Second
	var wg sync.WaitGroup
	var iperfErr error
	var res lab.Result
	wg.Go(func() { res, iperfErr = b.Iperf(lab.Client, lab.ServerIP, dur, 1) })
	sent, recv, err := floodPing(b, lab.Client, lab.ServerIP, dur)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if iperfErr != nil {
		t.Fatalf("iperf3 stream broke during rekeys: %v", iperfErr)
	}
	t.Logf("during rekeys: iperf3 %s; ping %d sent, %d received", res, sent, recv)
	if recv != sent {
		t.Fatalf("%d of %d pings lost across rekeys", sent-recv, sent)
	}
	if res.BitsPerSecond < 1e6 {
		t.Fatalf("iperf3 stream stalled: %s", res)
	}
	st = g.waitState("rekey", api.StateEstablished, 5*time.Second)
	if installedChild(st).SPIIn == firstChild {
		t.Fatalf("CHILD_SA was not rekeyed in %v (spi still %s)", dur, firstChild)
	}
	if st.IKESAs[0].SPIInitiator == firstIKE {
		t.Fatalf("IKE SA was not rekeyed in %v", dur)
	}
	// The peer agrees on the current SPIs.
	checkTraffic(t, b, g, "rekey", sw)
}

// TestDPD: a peer that dies (SIGKILL, no Delete) and a path that drops
// everything are both detected within the 30 s DPD timeout (plus the idle
// delay before the first probe and a margin); the SAs and routes go, and
// the tunnel comes back by itself when the peer returns.
func TestDPD(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for _, mode := range []string{"kill", "drop"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, lab.Options{Charon: []string{}})
			sw := onPrem(t, b, nil)
			g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
			g.apply(yamlOf(defaultConn("dpd")))
			g.waitState("dpd", api.StateEstablished, 30*time.Second)
			checkTraffic(t, b, g, "dpd", sw)

			start := time.Now()
			if mode == "kill" {
				sw.Kill()
			} else if err := b.DropBetweenGateways(true); err != nil {
				t.Fatal(err)
			}
			// Detection: DPD delay (10 s idle) + 30 s timeout + margin.
			deadline := start.Add(48 * time.Second)
			for {
				st, err := g.status("dpd")
				if err == nil && st.State != api.StateEstablished && len(st.IKESAs) == 0 {
					t.Logf("peer declared dead after %v: %s: %s", time.Since(start).Round(time.Second), st.State, st.Message)
					if !strings.Contains(st.Message, "dead peer") {
						t.Fatalf("status should say why: %q", st.Message)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("SAs still up %v after the peer went away: %+v", time.Since(start), st)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if out, _ := b.Exec(lab.GwB, "ip", "route", "show", lab.ClientNet); strings.Contains(out, "ipsecgw0") {
				t.Fatalf("route into the tunnel still installed after DPD: %s", out)
			}
			// The peer returns: ipsecgwd re-initiates on its own.
			if mode == "kill" {
				if err := sw.Restart(); err != nil {
					t.Fatal(err)
				}
			} else if err := b.DropBetweenGateways(false); err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			g.waitState("dpd", api.StateEstablished, 70*time.Second)
			t.Logf("tunnel back %v after the peer returned", time.Since(back).Round(time.Second))
			if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
				t.Fatalf("no traffic after recovery: %v", err)
			}
		})
	}
}

// TestModifyAndDelete: changing the PSK through the API renegotiates (new
// SPIs, still working), and deleting the connection deletes the SAs at
// the peer and the routes.
func TestModifyAndDelete(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := onPrem(t, b, func(s *lab.SwanConn) { s.PSK = "second-key" })
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("mod")
	g.apply(yamlOf(c)) // wrong PSK first
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := g.status("mod")
		if strings.Contains(st.Message, "authentication failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected an authentication failure first: %+v", st)
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.PSK = "second-key"
	g.apply(yamlOf(c))
	g.waitState("mod", api.StateEstablished, 30*time.Second)
	checkTraffic(t, b, g, "mod", sw)

	g.apply("connections: []\n")
	deadline = time.Now().Add(15 * time.Second)
	for {
		sas, err := sw.ListSAs()
		if _, up := lab.Established(sas); err == nil && !up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("strongSwan still has the IKE SA after the connection was deleted: %+v", sas)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if out, _ := b.Exec(lab.GwB, "ip", "route", "show", lab.ClientNet); strings.Contains(out, "ipsecgw0") {
		t.Fatalf("route into the tunnel still installed after delete: %s", out)
	}
}
