package ikev2

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// matrixCase is one interop run. ike and esp are strongSwan proposal
// strings; a DH group in esp is the PFS group used by CREATE_CHILD_SA.
type matrixCase struct {
	name       string
	ike, esp   string
	weInitiate bool
	fqdn       bool   // FQDN identities instead of IPs
	subnets    bool   // two subnets per side
	narrow     bool   // strongSwan asks for 10.2.0.0/16, we narrow to /24
	rekey      string // "", "child-swan", "child-ours", "ike-swan", "ike-ours"
}

// The pairwise cover of SPEC §1: every encryption, authentication and DH
// value appears on the IKE side and (encryption, authentication, PFS
// group) on the ESP side; both roles; rekeys with and without PFS; IKE SA
// rekeys both ways; IP and FQDN IDs; several subnets; narrowing.
var plainCases = []matrixCase{
	{name: "aes128-sha1-modp1024/swan-init/child-rekey-nopfs", ike: "aes128-sha1-modp1024", esp: "aes128-sha1", rekey: "child-swan"},
	{name: "aes192-md5-modp768/ours-init/child-rekey-pfs1024", ike: "aes192-md5-modp768", esp: "aes256-sha512-modp1024", weInitiate: true, rekey: "child-ours"},
	{name: "aes256-sha256-modp1536/swan-init/fqdn/child-rekey-pfs2048", ike: "aes256-sha256-modp1536", esp: "3des-md5-modp2048", fqdn: true, rekey: "child-swan"},
	{name: "des-sha384-modp2048/ours-init/subnets/ike-rekey", ike: "des-sha384-modp2048", esp: "aes192-sha256-modp768", weInitiate: true, subnets: true, rekey: "ike-ours"},
	{name: "3des-sha512-modp1024/swan-init/narrow/ike-rekey", ike: "3des-sha512-modp1024", esp: "des-sha384-modp1536", narrow: true, rekey: "ike-swan"},
	{name: "aes128gcm16-ecp256/ours-init/fqdn/child-rekey-pfs", ike: "aes128gcm16-prfsha256-ecp256", esp: "aes128gcm16-ecp256", weInitiate: true, fqdn: true, rekey: "child-swan"},
}

var natCases = []matrixCase{
	{name: "nat/aes256gcm16-curve25519/swan-init/child-rekey", ike: "aes256gcm16-prfsha384-curve25519", esp: "aes256gcm16-modp2048", rekey: "child-ours"},
}

var natRandomCases = []matrixCase{
	{name: "natrandom/aes256-sha1-modp2048/swan-init/ike-rekey", ike: "aes256-sha1-modp2048", esp: "aes128-sha256", rekey: "ike-ours"},
}

// TestMatrix runs the cases on three beds in parallel: plain, NAT
// (masquerade) and NAT with random ports. Each bed is reused across its
// cases; each case gets a fresh negotiator and a reloaded connection.
func TestMatrix(t *testing.T) {
	for _, g := range []struct {
		name  string
		opt   lab.Options
		cases []matrixCase
	}{
		{"plain", lab.Options{Charon: []string{lab.GwA}}, plainCases},
		{"nat", lab.Options{NAT: true, Charon: []string{lab.GwA}}, natCases},
		{"natrandom", lab.Options{NAT: true, NATRandom: true, Charon: []string{lab.GwA}}, natRandomCases},
	} {
		g := g
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, g.opt)
			for _, mc := range g.cases {
				mc := mc
				t.Run(mc.name, func(t *testing.T) { runCase(t, b, mc) })
			}
		})
	}
}

func runCase(t *testing.T, b *lab.Bed, mc matrixCase) {
	c := b.Charon(lab.GwA)
	conn := b.DefaultConn(lab.GwA)
	conn.IKEProposal, conn.ESPProposal = mc.ike, mc.esp
	peer := peerFor(t, b, mc.ike, mc.esp)
	if mc.fqdn {
		conn.LocalID, conn.RemoteID = "fqdn:gwa.example.org", "fqdn:gwb.example.org"
		peer.LocalID, peer.RemoteID = "gwb.example.org", "gwa.example.org"
	}
	if mc.subnets {
		// charon (kernel-libipsec) installs a route per policy and needs a
		// local address inside each local subnet.
		b.Exec(lab.GwA, "ip", "addr", "replace", "10.1.1.1/24", "dev", "lo")
		conn.LocalTS = []string{lab.ClientNet, "10.1.1.0/24"}
		conn.RemoteTS = []string{lab.ServerNet, "10.2.1.0/24"}
		peer.LocalTS = []netip.Prefix{netip.MustParsePrefix(lab.ServerNet), netip.MustParsePrefix("10.2.1.0/24")}
		peer.RemoteTS = []netip.Prefix{netip.MustParsePrefix(lab.ClientNet), netip.MustParsePrefix("10.1.1.0/24")}
	}
	if mc.narrow {
		conn.RemoteTS = []string{"10.2.0.0/16"}
	}
	if err := c.Reload(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Clear(""); c.WaitNoSA(5 * time.Second) }) // let libipsec finish tearing down before the next case
	o := startOurs(t, b, peer)
	if mc.weInitiate {
		if err := o.m.Initiate(peer); err != nil {
			t.Fatal(err)
		}
	} else if err := c.Initiate("", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	sw, me := waitBoth(t, c, o, 15*time.Second)
	ch, _ := sw.InstalledChild()
	t.Logf("established: IKE %s/%s %s-%d/%s/%s/%s, ESP %s/%s %s-%d/%s encap=%v nat-any=%v ts %v <-> %v",
		sw.SPIInit, sw.SPIResp, sw.EncrAlg, sw.EncrKeysize, sw.IntegAlg, sw.PRFAlg, sw.DHGroup,
		ch.SPIIn, ch.SPIOut, ch.EncrAlg, ch.EncrKeysize, ch.IntegAlg, ch.Encap, sw.NATAny, ch.LocalTS, ch.RemoteTS)
	if sw.Initiator == mc.weInitiate || me.Initiator != mc.weInitiate {
		t.Errorf("roles: strongSwan initiator %v, ours %v", sw.Initiator, me.Initiator)
	}
	if !ch.Encap || !me.NATRemote {
		t.Errorf("UDP encapsulation expected (libipsec fakes NAT): swan encap %v, our natRemote %v", ch.Encap, me.NATRemote)
	}
	if mc.fqdn && (sw.RemoteID != "gwb.example.org" || me.RemoteID != "gwa.example.org") {
		t.Errorf("FQDN ids: strongSwan sees %q, we see %q", sw.RemoteID, me.RemoteID)
	}
	if mc.subnets && (len(ch.LocalTS) != 2 || len(ch.RemoteTS) != 2) {
		t.Errorf("two subnets per side expected: %v <-> %v", ch.LocalTS, ch.RemoteTS)
	}
	if mc.narrow && (len(ch.RemoteTS) != 1 || ch.RemoteTS[0] != lab.ServerNet) {
		t.Errorf("narrowing to %s expected, strongSwan has %v", lab.ServerNet, ch.RemoteTS)
	}
	if b.Options().NAT && !me.NATRemote {
		t.Errorf("NAT not detected")
	}
	pingThrough(t, o, lastChildUp(t, o), 1)

	switch mc.rekey {
	case "child-swan", "child-ours":
		if mc.rekey == "child-swan" {
			if err := c.Rekey(true); err != nil {
				t.Fatal(err)
			}
		} else if o.m.Rekey("gwA", false) != 1 {
			t.Fatal("no SA to rekey")
		}
		sw2, me2 := waitChange(t, c, o, func(s lab.IKESA) bool {
			ch2, _ := s.InstalledChild()
			return ch2.SPIIn != ch.SPIIn && installed(s) == 1
		})
		ch2, _ := sw2.InstalledChild()
		wantDH := interoptest.ESPSuite(t, mc.esp).DH
		var gotDH ikecrypto.GroupID
		for _, c := range me2.Children {
			gotDH = c.Suite.DH
		}
		if wantDH != 0 && (ch2.DHGroup != wantDH.String() || gotDH != wantDH) {
			t.Errorf("PFS group after rekey: strongSwan %q, ours %v, want %v", ch2.DHGroup, gotDH, wantDH)
		}
		if wantDH == 0 && (ch2.DHGroup != "" || gotDH != 0) {
			t.Errorf("no PFS expected: strongSwan %q, ours %v", ch2.DHGroup, gotDH)
		}
		// The old SA may linger a moment in REKEYED state on our side
		// when strongSwan still has to delete it; never more than two.
		if len(me2.Children) > 2 {
			t.Errorf("old CHILD_SAs not deleted on our side: %+v", me2.Children)
		}
		t.Logf("child rekeyed: %s/%s -> %s/%s dh=%q", ch.SPIIn, ch.SPIOut, ch2.SPIIn, ch2.SPIOut, ch2.DHGroup)
		checkChildEvents(t, o)
		pingThrough(t, o, lastChildUp(t, o), 1)
	case "ike-swan", "ike-ours":
		if mc.rekey == "ike-swan" {
			if err := c.Rekey(false); err != nil {
				t.Fatal(err)
			}
		} else if o.m.Rekey("gwA", true) != 1 {
			t.Fatal("no SA to rekey")
		}
		sw2, _ := waitChange(t, c, o, func(s lab.IKESA) bool {
			return s.SPIInit != sw.SPIInit && s.SPIResp != sw.SPIResp
		})
		ch2, _ := sw2.InstalledChild()
		if ch2.SPIIn != ch.SPIIn {
			t.Errorf("CHILD_SA changed on IKE rekey: %s -> %s", ch.SPIIn, ch2.SPIIn)
		}
		t.Logf("IKE SA rekeyed: %s/%s -> %s/%s", sw.SPIInit, sw.SPIResp, sw2.SPIInit, sw2.SPIResp)
		// A liveness check over the new SA proves its keys.
		if err := c.Rekey(true); err != nil {
			t.Fatal(err)
		}
		sw3, _ := waitChange(t, c, o, func(s lab.IKESA) bool {
			ch3, _ := s.InstalledChild()
			return ch3.SPIIn != ch2.SPIIn && installed(s) == 1
		})
		ch3, _ := sw3.InstalledChild()
		if want := interoptest.ESPSuite(t, mc.esp).DH; want != 0 && ch3.DHGroup != want.String() {
			t.Errorf("PFS group of the rekey over the new IKE SA: %q, want %v", ch3.DHGroup, want)
		}
		// Keys derived from the new IKE SA's SK_d carry traffic.
		pingThrough(t, o, lastChildUp(t, o), 1)
	}

	// Our Terminate deletes both ends.
	o.m.Terminate("gwA")
	deadline := time.Now().Add(10 * time.Second)
	for {
		sas, _ := c.ListSAs()
		if len(sas) == 0 && len(o.m.SAs()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("terminate: strongSwan still lists %d SAs, we %d", len(sas), len(o.m.SAs()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// installed counts strongSwan's INSTALLED children: a rekeyed SA lingers
// for charon.delete_rekeyed_delay (5 s) after its deletion.
func installed(s lab.IKESA) int {
	n := 0
	for _, c := range s.Children {
		if c.State == "INSTALLED" {
			n++
		}
	}
	return n
}

// waitChange waits until strongSwan's established SA satisfies cond and
// both ends agree again.
func waitChange(t *testing.T, c *lab.Charon, o *ours, cond func(lab.IKESA) bool) (lab.IKESA, v2.IKESAStatus) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		sas, _ := c.ListSAs()
		if sw, ok := lab.Established(sas); ok && cond(sw) && len(sas) == 1 {
			return waitBoth(t, c, o, 10*time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sas, _ := c.ListSAs()
	t.Fatalf("change not seen; strongSwan: %+v\nours: %+v\n%s", sas, o.m.SAs(), interoptest.Tail(c.Log(), 40))
	return lab.IKESA{}, v2.IKESAStatus{}
}

// checkChildEvents: every ChildUp after the first is a make-before-break
// replacement whose old SA went down after it.
func checkChildEvents(t *testing.T, o *ours) {
	t.Helper()
	up := map[uint32]int{}
	for i, e := range o.evs() {
		switch e := e.(type) {
		case v2.ChildUp:
			up[e.InSPI] = i
			if e.Rekeyed {
				if _, ok := up[e.ReplacesSPI]; !ok {
					t.Errorf("rekeyed child replaces unknown SPI %08x", e.ReplacesSPI)
				}
			}
		case v2.ChildDown:
			if _, ok := up[e.InSPI]; !ok {
				t.Errorf("ChildDown %08x before its ChildUp", e.InSPI)
			}
		}
	}
}

// TestWrongPSK: both directions fail cleanly with AUTHENTICATION_FAILED.
func TestWrongPSK(t *testing.T) {
	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}})
	c := b.Charon(lab.GwA)
	peer := peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1")
	peer.PSK = []byte("not-the-lab-psk")
	o := startOurs(t, b, peer)

	// strongSwan initiates: we refuse. (A charon that just started may
	// fail the first initiate before sending anything: try again then.)
	for i := 0; i < 3; i++ {
		err := c.Initiate("", 10*time.Second)
		if err == nil {
			t.Fatal("strongSwan established with a wrong PSK")
		}
		if len(o.evs()) > 0 {
			break
		}
		t.Logf("initiate: %v", err)
		time.Sleep(time.Second)
	}
	if down := waitDown(t, o); down.Reason != v2.ReasonAuthFailed {
		t.Fatalf("our side: %v, want auth failed", down.Reason)
	}
	// We initiate: strongSwan refuses, we report it.
	o.setPeer(peer)
	if err := o.m.Initiate(peer); err != nil {
		t.Fatal(err)
	}
	down := waitDown(t, o)
	if down.Reason != v2.ReasonAuthFailed {
		t.Fatalf("initiator: %v (%v), want auth failed", down.Reason, down.Err)
	}
	t.Logf("initiator reports: %v: %v", down.Reason, down.Err)
	if sas, _ := c.ListSAs(); len(sas) != 0 {
		t.Fatalf("strongSwan kept %d SAs", len(sas))
	}
	if len(o.m.SAs()) != 0 {
		t.Fatalf("we kept %+v", o.m.SAs())
	}
}

func waitDown(t *testing.T, o *ours) v2.IKEDown {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range o.evs() {
			if d, ok := e.(v2.IKEDown); ok {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no IKEDown")
	return v2.IKEDown{}
}

// TestDeadPeerAndDelete: strongSwan's Delete is honoured; a strongSwan that
// stops answering is declared dead within the DPD timeout.
func TestDeadPeerAndDelete(t *testing.T) {
	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}})
	c := b.Charon(lab.GwA)
	peer := peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1-modp1024")
	peer.DPDDelay, peer.DPDTimeout = 2*time.Second, 6*time.Second
	o := startOurs(t, b, peer)
	if err := c.Initiate("", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	waitBoth(t, c, o, 10*time.Second)
	if err := c.Terminate(""); err != nil {
		t.Fatal(err)
	}
	if d := waitDown(t, o); d.Reason != v2.ReasonPeerDeleted {
		t.Fatalf("after strongSwan's delete: %v", d.Reason)
	}
	o.setPeer(peer)
	if err := o.m.Initiate(peer); err != nil {
		t.Fatal(err)
	}
	waitBoth(t, c, o, 10*time.Second)
	start := time.Now()
	c.Kill()
	d := waitDownWithin(t, o, 20*time.Second)
	el := time.Since(start)
	if d.Reason != v2.ReasonDeadPeer {
		t.Fatalf("after killing charon: %v", d.Reason)
	}
	// Idle 2 s, then 6 s of unanswered probes.
	if el < 6*time.Second || el > 12*time.Second {
		t.Fatalf("dead after %v, want 8 s ± slack", el)
	}
	t.Logf("dead peer detected after %v", el.Round(100*time.Millisecond))
}

func waitDownWithin(t *testing.T, o *ours, d time.Duration) v2.IKEDown {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, e := range o.evs() {
			if d, ok := e.(v2.IKEDown); ok {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(errors.New("no IKEDown in time"))
	return v2.IKEDown{}
}

var _ = fmt.Sprint
