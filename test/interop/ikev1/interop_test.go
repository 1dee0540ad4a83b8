package ikev1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// matrixCase is one interop run. ike and esp are strongSwan proposal
// strings; a DH group in esp is the Quick Mode PFS group.
type matrixCase struct {
	name       string
	ike, esp   string
	aggressive bool
	weInitiate bool
	fqdn       bool
	rekey      string // "", "child-swan", "child-ours", "ike-ours", "ike-swan" (re-authentication)
	dpd        string // "swan": strongSwan probes every 2 s, we answer; "ours": we probe, strongSwan answers
	end        string // "swan-delete", "ours-delete", or "" (cleared)
	wrongPSK   bool
	dead       bool // cut the link after setup: our DPD must declare the peer dead at 30 s
}

// The cover of SPEC §1 for IKEv1: both modes, both roles, IP and FQDN
// identities, every cipher, hash and group on the IKE side (3des-md5-
// modp768, aes256-sha512-modp2048, aes192-sha256-modp1536, aes128-sha1-
// modp1024, aes128-sha384-modp1024) and on the ESP side (des, 3des,
// aes128/256, AES-GCM × md5, sha1, sha256, sha512 × PFS groups 1, 2, 5,
// 14 and none), Quick Mode rekeys by either side (with PFS), phase 1
// re-authentication, DPD, Delete either way, NAT with random ports, and
// a wrong PSK either way.
var bedA = []matrixCase{
	{name: "main/swan-init/aes128-sha1-modp1024/child-rekey-swan", ike: "aes128-sha1-modp1024", esp: "aes128-sha1-modp1024", rekey: "child-swan", end: "swan-delete"},
	{name: "main/ours-init/fqdn/3des-md5-modp768/des-md5-pfs768/child-rekey-ours", ike: "3des-md5-modp768", esp: "des-md5-modp768", weInitiate: true, fqdn: true, rekey: "child-ours", end: "ours-delete"},
	{name: "main/swan-init/aes256-sha512-modp2048/dpd/reauth-ours", ike: "aes256-sha512-modp2048", esp: "aes256-sha256", dpd: "swan", rekey: "ike-ours"},
}

var bedB = []matrixCase{
	{name: "aggr/swan-init/fqdn/aes192-sha256-modp1536/aes128gcm16-pfs1536/reauth-swan", ike: "aes192-sha256-modp1536", esp: "aes128gcm16-modp1536", aggressive: true, fqdn: true, rekey: "ike-swan", end: "swan-delete"},
	{name: "aggr/ours-init/fqdn/aes128-sha384-modp1024/3des-sha512-pfs2048/child-rekey-ours", ike: "aes128-sha384-modp1024", esp: "3des-sha512-modp2048", aggressive: true, weInitiate: true, fqdn: true, rekey: "child-ours", end: "ours-delete"},
	{name: "main/swan-init/wrong-psk", ike: "aes128-sha1-modp1024", esp: "aes128-sha1", wrongPSK: true},
	{name: "aggr/ours-init/wrong-psk", ike: "aes128-sha1-modp1024", esp: "aes128-sha1", aggressive: true, weInitiate: true, wrongPSK: true},
}

var natCases = []matrixCase{
	{name: "natrandom/main/swan-init/aes128-sha256-modp2048/child-rekey-swan", ike: "aes128-sha256-modp2048", esp: "aes256-sha1-modp1024", rekey: "child-swan", end: "swan-delete"},
	{name: "natrandom/aggr/swan-init/fqdn/aes256-sha1-modp1536", ike: "aes256-sha1-modp1536", esp: "aes192-sha512", aggressive: true, fqdn: true},
	{name: "natrandom/main/swan-init/dpd-dead-peer", ike: "aes128-sha1-modp1024", esp: "aes128-sha1", dpd: "ours", dead: true},
}

// TestMatrix runs the cases on three beds in parallel (two plain, one
// behind a masquerading NAT with random ports). Each bed is reused across
// its cases; each case gets a fresh negotiator and a reloaded connection.
func TestMatrix(t *testing.T) {
	for _, g := range []struct {
		name  string
		opt   lab.Options
		cases []matrixCase
	}{
		{"plainA", lab.Options{Charon: []string{lab.GwA}}, bedA},
		{"plainB", lab.Options{Charon: []string{lab.GwA}}, bedB},
		{"natrandom", lab.Options{NAT: true, NATRandom: true, Charon: []string{lab.GwA}}, natCases},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, g.opt)
			for _, mc := range g.cases {
				t.Run(mc.name, func(t *testing.T) { runCase(t, b, mc) })
			}
		})
	}
}

func runCase(t *testing.T, b *lab.Bed, mc matrixCase) {
	c := b.Charon(lab.GwA)
	conn := b.DefaultConn(lab.GwA)
	conn.Version, conn.Aggressive = 1, mc.aggressive
	conn.IKEProposal, conn.ESPProposal = mc.ike, mc.esp
	peer := peerFor(t, b, mc.ike, mc.esp)
	peer.Aggressive = mc.aggressive
	if mc.fqdn {
		conn.LocalID, conn.RemoteID = "fqdn:gwa.example.org", "fqdn:gwb.example.org"
		peer.LocalID, peer.RemoteID = "gwb.example.org", "gwa.example.org"
	}
	switch mc.dpd {
	case "swan":
		conn.DPDDelay, conn.DPDTimeout = 2*time.Second, 10*time.Second
	case "ours":
		peer.DPDDelay = 2 * time.Second
	}
	if mc.wrongPSK {
		conn.PSK = "not-the-" + lab.DefaultPSK
	}
	if err := c.Reload(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Clear(""); c.WaitNoSA(5 * time.Second) }) // let libipsec finish tearing down before the next case
	o := startOurs(t, b, peer)
	if mc.wrongPSK {
		wrongPSK(t, c, o, mc)
		return
	}
	start := time.Now()
	if mc.weInitiate {
		if err := o.m.Initiate(peer); err != nil {
			t.Fatal(err)
		}
	} else if err := c.Initiate("", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	sw, me := waitBoth(t, c, o, 15*time.Second, nil)
	ch, _ := sw.InstalledChild()
	t.Logf("established in %v: IKE %s/%s %s-%d/%s/%s/%s, ESP %s/%s %s-%d/%s pfs=%q encap=%v nat-any=%v ts %v <-> %v",
		time.Since(start).Round(time.Millisecond), sw.SPIInit, sw.SPIResp, sw.EncrAlg, sw.EncrKeysize, sw.IntegAlg, sw.PRFAlg, sw.DHGroup,
		ch.SPIIn, ch.SPIOut, ch.EncrAlg, ch.EncrKeysize, ch.IntegAlg, ch.DHGroup, ch.Encap, sw.NATAny, ch.LocalTS, ch.RemoteTS)
	if sw.Initiator == mc.weInitiate || me.Initiator != mc.weInitiate {
		t.Errorf("roles: strongSwan initiator %v, ours %v", sw.Initiator, me.Initiator)
	}
	if !ch.Encap || !me.NATRemote || sw.RemotePort != 4500 || me.Local.Port() != 4500 {
		t.Errorf("NAT-T expected (libipsec fakes NAT): swan encap %v remote port %d, our natRemote %v local %v", ch.Encap, sw.RemotePort, me.NATRemote, me.Local)
	}
	if mc.fqdn && (sw.RemoteID != "gwb.example.org" || me.RemoteID != "gwa.example.org") {
		t.Errorf("FQDN ids: strongSwan sees %q, we see %q", sw.RemoteID, me.RemoteID)
	}
	if mc.aggressive && !mc.weInitiate {
		o.mu.Lock()
		ids := strings.Join(o.ids, ",")
		o.mu.Unlock()
		if want := string(peer.RemoteID); ids != want {
			t.Errorf("aggressive mode lookup by identity: asked %q, want %q", ids, want)
		}
	}
	if len(ch.LocalTS) != 1 || ch.LocalTS[0] != lab.ClientNet || len(ch.RemoteTS) != 1 || ch.RemoteTS[0] != lab.ServerNet {
		t.Errorf("selectors %v <-> %v", ch.LocalTS, ch.RemoteTS)
	}
	checkChildUp(t, o, me)
	pingThrough(t, b, o)

	if mc.dpd != "" {
		time.Sleep(7 * time.Second)
		// strongSwan logs every message it parses and generates.
		var parsedProbe, parsedAck, genProbe, genAck int
		for _, l := range strings.Split(c.Log(), "\n") {
			parsed, gen := strings.Contains(l, "parsed INFORMATIONAL_V1"), strings.Contains(l, "generating INFORMATIONAL_V1")
			probe, ack := strings.Contains(l, "N(DPD)"), strings.Contains(l, "N(DPD_ACK)")
			parsedProbe += btoi(parsed && probe)
			parsedAck += btoi(parsed && ack)
			genProbe += btoi(gen && probe)
			genAck += btoi(gen && ack)
		}
		t.Logf("DPD: strongSwan sent %d R-U-THERE and %d ACKs, parsed %d R-U-THERE and %d ACKs from us", genProbe, genAck, parsedProbe, parsedAck)
		if mc.dpd == "swan" && (genProbe < 2 || parsedAck < 2) {
			t.Errorf("we did not answer strongSwan's R-U-THEREs:\n%s", interoptest.Tail(c.Log(), 30))
		}
		if mc.dpd == "ours" && (parsedProbe < 2 || genAck < 2) {
			t.Errorf("our R-U-THEREs were not answered:\n%s", interoptest.Tail(c.Log(), 30))
		}
		if len(evsOf[v2.IKEDown](o)) != 0 {
			t.Fatalf("SA went down during DPD: %+v", evsOf[v2.IKEDown](o))
		}
		waitBoth(t, c, o, 5*time.Second, nil)
	}

	if mc.dead {
		if err := b.DropBetweenGateways(true); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		t.Cleanup(func() { b.DropBetweenGateways(false) })
		waitFor(t, "peer declared dead", 45*time.Second, func() bool { return len(evsOf[v2.IKEDown](o)) > 0 })
		took := time.Since(cut)
		d := evsOf[v2.IKEDown](o)[0]
		if d.Reason != v2.ReasonDeadPeer || took < 30*time.Second || took > 40*time.Second {
			t.Errorf("IKEDown %v after %v, want dead peer 30 s after the first unanswered probe (probe after %v idle)", d.Reason, took, peer.DPDDelay)
		}
		if cd := evsOf[v2.ChildDown](o); len(cd) != 1 || cd[0].Reason != v2.ReasonDeadPeer {
			t.Errorf("ChildDown %+v", cd)
		}
		t.Logf("dead peer detected %v after the cut", took.Round(time.Millisecond))
		return
	}

	switch mc.rekey {
	case "child-swan":
		if err := c.Rekey(true); err != nil {
			t.Fatal(err)
		}
		childRekeyed(t, b, c, o, ch)
	case "child-ours":
		if o.m.Rekey("gwA", false) != 1 {
			t.Fatal("nothing to rekey")
		}
		childRekeyed(t, b, c, o, ch)
	case "ike-swan":
		// strongSwan re-authenticates an IKEv1 SA by a new phase 1 that
		// adopts the IPsec SAs (no new Quick Mode); we adopt them too.
		first := firstIKEUp(o)
		if err := c.Rekey(false); err != nil {
			t.Fatal(err)
		}
		sw2, me2 := waitBoth(t, c, o, 20*time.Second, func(sw lab.IKESA, me v2.IKESAStatus) error {
			if me.SPIi == first.SPIi {
				return fmt.Errorf("IPsec SAs still on the first ISAKMP SA")
			}
			return nil
		})
		if me2.Children[0].InSPI != evsOf[v2.ChildUp](o)[0].InSPI || len(evsOf[v2.ChildUp](o)) != 1 || len(evsOf[v2.ChildDown](o)) != 0 {
			t.Errorf("IPsec SA not carried over unchanged: ups %+v downs %+v", evsOf[v2.ChildUp](o), evsOf[v2.ChildDown](o))
		}
		for _, st := range o.m.SAs() {
			if st.SPIi == first.SPIi && st.State != v2.StateRekeyed {
				t.Errorf("the replaced ISAKMP SA is %v, want REKEYED", st.State)
			}
		}
		if ups := evsOf[v2.IKEUp](o); len(ups) != 2 || !ups[1].Rekeyed || ups[1].ReplacesSPIi != first.SPIi {
			t.Errorf("IKEUp of the re-authenticated SA: %+v", ups)
		}
		t.Logf("re-authenticated by strongSwan: %s/%s (ours %016x/%016x), our ISAKMP SAs %d, IKEDown %+v", sw2.SPIInit, sw2.SPIResp, me2.SPIi, me2.SPIr, len(o.m.SAs()), evsOf[v2.IKEDown](o))
		pingThrough(t, b, o)
	case "ike-ours":
		if o.m.Rekey("gwA", true) != 1 {
			t.Fatal("nothing to re-authenticate")
		}
		sw2, me2 := waitBoth(t, c, o, 20*time.Second, func(sw lab.IKESA, me v2.IKESAStatus) error {
			if me.SPIi == 0 || fmt.Sprintf("%016x", me.SPIi) == sw.SPIInit && sw.SPIInit == fmt.Sprintf("%016x", firstIKEUp(o).SPIi) {
				return fmt.Errorf("still the first ISAKMP SA")
			}
			sas, _ := c.ListSAs()
			if len(sas) != 1 {
				return fmt.Errorf("strongSwan still has %d ISAKMP SAs", len(sas))
			}
			return nil
		})
		downs := evsOf[v2.IKEDown](o)
		if len(downs) != 1 || downs[0].Reason != v2.ReasonRekeyed {
			t.Errorf("old ISAKMP SA: %+v", downs)
		}
		ups := evsOf[v2.IKEUp](o)
		if len(ups) != 2 || !ups[1].Rekeyed || !ups[1].Initiator {
			t.Errorf("IKEUp events %+v", ups)
		}
		t.Logf("re-authenticated: %s/%s (ours %016x/%016x)", sw2.SPIInit, sw2.SPIResp, me2.SPIi, me2.SPIr)
		pingThrough(t, b, o)
	}

	switch mc.end {
	case "swan-delete":
		if err := c.Terminate(""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "our SAs deleted by the peer", 10*time.Second, func() bool { return len(o.m.SAs()) == 0 })
		// After strongSwan's re-authentication the older ISAKMP SA, whose
		// IPsec SAs moved, goes down as rekeyed.
		peerDeleted := 0
		for _, d := range evsOf[v2.IKEDown](o) {
			switch d.Reason {
			case v2.ReasonPeerDeleted:
				peerDeleted++
			case v2.ReasonRekeyed:
			default:
				t.Errorf("IKEDown %+v", d)
			}
		}
		if peerDeleted != 1 {
			t.Errorf("%d ISAKMP SAs deleted by the peer, want 1: %+v", peerDeleted, evsOf[v2.IKEDown](o))
		}
		for _, d := range evsOf[v2.ChildDown](o) {
			if d.Reason != v2.ReasonPeerDeleted && d.Reason != v2.ReasonRekeyed {
				t.Errorf("ChildDown %+v", d)
			}
		}
	case "ours-delete":
		if o.m.Terminate("gwA") != 1 {
			t.Fatal("nothing to terminate")
		}
		if err := c.WaitNoSA(10 * time.Second); err != nil {
			t.Fatalf("strongSwan kept its SAs after our Delete: %v\n%s", err, interoptest.Tail(c.Log(), 20))
		}
	}
}

func firstIKEUp(o *ours) v2.IKEUp {
	if ups := evsOf[v2.IKEUp](o); len(ups) > 0 {
		return ups[0]
	}
	return v2.IKEUp{}
}

// checkChildUp verifies our ChildUp event against our status.
func checkChildUp(t *testing.T, o *ours, me v2.IKESAStatus) {
	t.Helper()
	ups := evsOf[v2.ChildUp](o)
	if len(ups) == 0 {
		t.Fatal("no ChildUp event")
	}
	u := ups[len(ups)-1]
	s := u.Suite
	if len(u.EncKeyIn) != s.Encr.KeyBytes(s.EncrKey) || len(u.EncKeyOut) != len(u.EncKeyIn) || len(u.IntegKeyIn) != s.Integ.KeyBytes() {
		t.Errorf("key sizes %d/%d/%d for %v", len(u.EncKeyIn), len(u.EncKeyOut), len(u.IntegKeyIn), s)
	}
	if !u.Encap || u.Remote.Port() != me.Remote.Port() || u.Local.Port() != 4500 {
		t.Errorf("ChildUp outer addresses %v -> %v encap %v, SA %v -> %v", u.Local, u.Remote, u.Encap, me.Local, me.Remote)
	}
}

// childRekeyed waits for a Quick Mode rekey (make-before-break) to finish
// on both ends: new SPIs agreed, the old SA gone from both.
func childRekeyed(t *testing.T, b *lab.Bed, c *lab.Charon, o *ours, old lab.ChildSA) {
	t.Helper()
	waitFor(t, "rekeyed ChildUp", 15*time.Second, func() bool {
		for _, u := range evsOf[v2.ChildUp](o) {
			if u.Rekeyed {
				return true
			}
		}
		return false
	})
	sw, me := waitBoth(t, c, o, 20*time.Second, func(sw lab.IKESA, me v2.IKESAStatus) error {
		n := 0
		for _, ch := range sw.Children {
			if ch.SPIIn == old.SPIIn {
				return fmt.Errorf("strongSwan still lists the old IPsec SA %s (%s)", ch.SPIIn, ch.State)
			}
			if ch.State == "INSTALLED" {
				n++
			}
		}
		if n != 1 || len(me.Children) != 1 {
			return fmt.Errorf("IPsec SAs: strongSwan %d installed, ours %d", n, len(me.Children))
		}
		return nil
	})
	ch, _ := sw.InstalledChild()
	var rekeyed v2.ChildUp
	for _, u := range evsOf[v2.ChildUp](o) {
		if u.Rekeyed {
			rekeyed = u
		}
	}
	if rekeyed.ReplacesSPI != me.Children[0].InSPI && fmt.Sprintf("%08x", rekeyed.ReplacesSPI) != old.SPIOut {
		t.Errorf("ChildUp replaces %08x, old inbound SPI was %s", rekeyed.ReplacesSPI, old.SPIOut)
	}
	downs := evsOf[v2.ChildDown](o)
	if len(downs) != 1 || fmt.Sprintf("%08x", downs[0].InSPI) != old.SPIOut {
		t.Errorf("old IPsec SA down events %+v (old in %s)", downs, old.SPIOut)
	}
	t.Logf("rekeyed: ESP %s/%s pfs=%q (was %s/%s)", ch.SPIIn, ch.SPIOut, ch.DHGroup, old.SPIIn, old.SPIOut)
	pingThrough(t, b, o)
}

// pingThrough pings the server from the client behind strongSwan: the
// echo request crosses strongSwan's outbound SA to us, the reply our
// outbound SA to strongSwan (echo in esp_test.go), so both directions'
// keys are proven.
func pingThrough(t *testing.T, b *lab.Bed, o *ours) {
	t.Helper()
	o0, f0, _ := o.echo.counts()
	if err := b.Ping(lab.Client, lab.ServerIP, 2); err != nil {
		opened, failed, replied := o.echo.counts()
		t.Fatalf("no ping through the tunnel: %v (ESP opened %d, failed %d, replied %d)", err, opened, failed, replied)
	}
	opened, failed, replied := o.echo.counts()
	if opened <= o0 || failed != f0 {
		t.Errorf("ESP from strongSwan: %d opened, %d failed (before %d/%d)", opened, failed, o0, f0)
	}
	t.Logf("ping through the tunnel: ESP opened %d, replied %d", opened, replied)
}

// wrongPSK checks a mismatched key fails cleanly on both ends: no SA
// anywhere, our side reports ReasonAuthFailed within the phase 1 timeout.
func wrongPSK(t *testing.T, c *lab.Charon, o *ours, mc matrixCase) {
	start := time.Now()
	if mc.weInitiate {
		if err := o.m.Initiate(o.peer); err != nil {
			t.Fatal(err)
		}
	} else if err := c.Initiate("", 12*time.Second); err == nil {
		t.Fatal("strongSwan established with a wrong PSK")
	}
	waitFor(t, "our phase 1 failure", 15*time.Second, func() bool { return len(evsOf[v2.IKEDown](o)) > 0 })
	d := evsOf[v2.IKEDown](o)[0]
	if d.Reason != v2.ReasonAuthFailed {
		t.Errorf("reason %v (%v), want authentication failed", d.Reason, d.Err)
	}
	if n := len(evsOf[v2.IKEUp](o)) + len(evsOf[v2.ChildUp](o)); n != 0 {
		t.Errorf("%d up events with a wrong PSK", n)
	}
	if sas, _ := c.ListSAs(); func() bool { _, ok := lab.Established(sas); return ok }() {
		t.Error("strongSwan lists an established SA")
	}
	t.Logf("failed cleanly after %v: %v", time.Since(start).Round(time.Millisecond), d.Err)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
