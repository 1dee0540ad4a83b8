package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// onPrem starts strongSwan on gwA with the lab defaults adjusted by mod.
func onPrem(t *testing.T, b *lab.Bed, mod func(*lab.SwanConn)) *lab.Charon {
	t.Helper()
	c := b.DefaultConn(lab.GwA)
	if mod != nil {
		mod(&c)
	}
	return b.StartCharon(lab.GwA, c)
}

// checkTraffic pings client→server through the tunnel and compares the SAs
// on both sides: strongSwan's inbound SPI is our outbound SPI and vice
// versa, with the same algorithms.
func checkTraffic(t *testing.T, b *lab.Bed, g *gateway, name string, sw *lab.Charon) api.ConnectionStatus {
	t.Helper()
	if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
		t.Fatalf("ping client→server through the tunnel: %v", err)
	}
	if err := b.Ping(lab.Server, lab.ClientIP, 3); err != nil {
		t.Fatalf("ping server→client: %v", err)
	}
	st := g.waitState(name, api.StateEstablished, 10*time.Second)
	ours := installedChild(st)
	if sw == nil {
		return st
	}
	sas, err := sw.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	ike, ok := lab.Established(sas)
	if !ok {
		t.Fatalf("strongSwan has no established IKE SA: %+v", sas)
	}
	theirs, ok := ike.InstalledChild()
	if !ok {
		t.Fatalf("strongSwan has no installed child SA: %+v", ike)
	}
	if !strings.EqualFold(theirs.SPIIn, ours.SPIOut) || !strings.EqualFold(theirs.SPIOut, ours.SPIIn) {
		t.Fatalf("SPIs differ: strongSwan in/out %s/%s, ipsecgw in/out %s/%s", theirs.SPIIn, theirs.SPIOut, ours.SPIIn, ours.SPIOut)
	}
	if ours.PacketsIn == 0 || ours.PacketsOut == 0 {
		t.Fatalf("ipsecgw counted no traffic on the child SA: %+v", ours)
	}
	t.Logf("established: IKE %s/%s/%s, ESP %s/%s; strongSwan ESP %s-%d/%s; spi in %s out %s; %d/%d packets in/out",
		st.IKESAs[0].Encryption, st.IKESAs[0].Integrity, st.IKESAs[0].DHGroup, ours.Encryption, ours.Integrity,
		theirs.EncrAlg, theirs.EncrKeysize, theirs.IntegAlg, ours.SPIIn, ours.SPIOut, ours.PacketsIn, ours.PacketsOut)
	return st
}

// TestStrongSwanInitiates: strongSwan on gwA initiates to ipsecgwd on gwB,
// which waits (effective_immediately false); a TCP stream follows.
func TestStrongSwanInitiates(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("hq")
	c.Immediate = false
	g.apply(yamlOf(c))
	g.waitState("hq", api.StateIdle, 10*time.Second)
	sw := onPrem(t, b, nil)
	if err := sw.Initiate("", 30*time.Second); err != nil {
		t.Fatalf("strongSwan initiate: %v", err)
	}
	checkTraffic(t, b, g, "hq", sw)
	r, err := b.Iperf(lab.Client, lab.ServerIP, 3*time.Second, 1)
	if err != nil {
		t.Fatalf("iperf3 through the tunnel: %v", err)
	}
	t.Logf("iperf3 client→server: %s", r)
}

// TestGatewayInitiates: ipsecgwd initiates as soon as the connection is
// applied (effective_immediately true) to a strongSwan responder.
func TestGatewayInitiates(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := onPrem(t, b, nil)
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	g.apply(yamlOf(defaultConn("hq")))
	g.waitState("hq", api.StateEstablished, 30*time.Second)
	st := checkTraffic(t, b, g, "hq", sw)
	if !st.IKESAs[0].Initiator {
		t.Fatalf("ipsecgwd should be the initiator: %+v", st.IKESAs[0])
	}
}

// TestOnDemand: with effective_immediately false and a passive peer, the
// first packet into the tunnel triggers negotiation (the acquire queue
// holds it), and the ping goes through.
func TestOnDemand(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := onPrem(t, b, nil)
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("lazy")
	c.Immediate = false
	g.apply(yamlOf(c))
	g.waitState("lazy", api.StateIdle, 10*time.Second)
	time.Sleep(2 * time.Second)
	if st, _ := g.status("lazy"); st.State != api.StateIdle || len(st.IKESAs) != 0 {
		t.Fatalf("on-demand connection negotiated without traffic: %+v", st)
	}
	// Traffic from the cloud side triggers it.
	if err := b.WaitPing(lab.Server, lab.ClientIP, 20*time.Second); err != nil {
		t.Fatalf("ping server→client did not bring the tunnel up: %v", err)
	}
	checkTraffic(t, b, g, "lazy", sw)
}

// TestWrongPSK: a PSK mismatch fails cleanly with a status that says so, and
// the daemon keeps running.
func TestWrongPSK(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	onPrem(t, b, nil)
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("bad")
	c.PSK = "not-the-right-key"
	g.apply(yamlOf(c))
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := g.status("bad")
		if err == nil && st.State == api.StateDown && strings.Contains(st.Message, "authentication failed") {
			t.Logf("status: %s: %s", st.State, st.Message)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no authentication failure in status: %+v %v", st, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if g.Proc.Exited() {
		t.Fatal("ipsecgwd exited")
	}
	if b.PingOnce(lab.Client, lab.ServerIP) {
		t.Fatal("traffic crossed without a tunnel")
	}
}
