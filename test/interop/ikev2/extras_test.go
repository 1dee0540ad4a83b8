package ikev2

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// TestExtras exercises the less common paths against strongSwan on one
// bed: INVALID_KE_PAYLOAD both ways, cookies, strongSwan's liveness checks
// and a lifetime-driven rekey of ours.
func TestExtras(t *testing.T) {
	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}})
	c := b.Charon(lab.GwA)
	reload := func(t *testing.T, mod func(*lab.SwanConn)) {
		conn := b.DefaultConn(lab.GwA)
		if mod != nil {
			mod(&conn)
		}
		if err := c.Reload(conn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Clear(""); c.WaitNoSA(5 * time.Second) }) // let libipsec finish tearing down before the next case
	}

	t.Run("invalid-ke/we-respond", func(t *testing.T) {
		// strongSwan's KE is for modp2048; we only take modp1024.
		reload(t, func(s *lab.SwanConn) { s.IKEProposal = "aes128-sha1-modp2048-modp1024" })
		o := startOurs(t, b, peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1"))
		if err := c.Initiate("", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		sw, _ := waitBoth(t, c, o, 10*time.Second)
		if sw.DHGroup != "MODP_1024" || !strings.Contains(c.Log(), "N(INVAL_KE)") {
			t.Fatalf("group %s, INVALID_KE seen by strongSwan: %v", sw.DHGroup, strings.Contains(c.Log(), "N(INVAL_KE)"))
		}
	})

	t.Run("invalid-ke/we-retry", func(t *testing.T) {
		reload(t, func(s *lab.SwanConn) { s.IKEProposal = "aes128-sha1-modp2048" })
		peer := peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1")
		g14 := peer.IKE[0]
		g14.DH = ikecrypto.MODP2048
		peer.IKE = append(peer.IKE, g14) // our KE is for modp1024, the first
		o := startOurs(t, b, peer)
		if err := o.m.Initiate(peer); err != nil {
			t.Fatal(err)
		}
		_, me := waitBoth(t, c, o, 10*time.Second)
		if me.Suite.DH != ikecrypto.MODP2048 {
			t.Fatalf("group %v", me.Suite.DH)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		reload(t, nil)
		o := startOurs(t, b, peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1-modp1024"),
			func(c *v2.Config) { c.CookieThreshold = -1 })
		if err := c.Initiate("", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		waitBoth(t, c, o, 10*time.Second)
		if !strings.Contains(c.Log(), "N(COOKIE)") {
			t.Fatal("strongSwan never saw a cookie")
		}
	})

	t.Run("swan-dpd-and-our-lifetime-rekey", func(t *testing.T) {
		reload(t, func(s *lab.SwanConn) { s.DPDDelay = time.Second })
		peer := peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1-modp1024")
		peer.ChildLifetime = 6 * time.Second // rekey at 5.1–5.4 s
		o := startOurs(t, b, peer)
		if err := c.Initiate("", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		sw, _ := waitBoth(t, c, o, 10*time.Second)
		ch, _ := sw.InstalledChild()
		sw2, me2 := waitChange(t, c, o, func(s lab.IKESA) bool {
			ch2, _ := s.InstalledChild()
			return ch2.SPIIn != ch.SPIIn && installed(s) == 1
		})
		ch2, _ := sw2.InstalledChild()
		if ch2.DHGroup != "MODP_1024" || me2.Children[len(me2.Children)-1].RekeyIn <= 0 {
			t.Fatalf("lifetime rekey: dh %q, next rekey %v", ch2.DHGroup, me2.Children[len(me2.Children)-1].RekeyIn)
		}
		// strongSwan probed us (dpd_delay 1 s) and we answered.
		if n := strings.Count(c.Log(), "parsed INFORMATIONAL response"); n < 2 {
			t.Fatalf("strongSwan got %d INFORMATIONAL responses", n)
		}
	})

	t.Run("no-proposal", func(t *testing.T) {
		reload(t, nil) // aes128-sha1-modp1024 only
		peer := peerFor(t, b, "aes256-sha512-modp2048", "aes128-sha1")
		o := startOurs(t, b, peer)
		if err := o.m.Initiate(peer); err != nil {
			t.Fatal(err)
		}
		if d := waitDown(t, o); d.Reason != v2.ReasonNoProposal {
			t.Fatalf("initiator: %v (%v)", d.Reason, d.Err)
		}
		// And the other way round: strongSwan's offer is refused by us.
		o.setPeer(peer)
		if err := c.Initiate("", 10*time.Second); err == nil {
			t.Fatal("strongSwan established without a common proposal")
		}
		if !strings.Contains(c.Log(), "N(NO_PROP)") {
			t.Fatal("strongSwan did not get NO_PROPOSAL_CHOSEN")
		}
	})

	t.Run("transport-mode-refused", func(t *testing.T) {
		// strongSwan asks for transport mode; we only do tunnel mode and
		// answer without USE_TRANSPORT_MODE (RFC 7296 §1.3.1).
		// Transport mode protects the hosts themselves.
		reload(t, func(s *lab.SwanConn) {
			s.Mode = "transport"
			s.LocalTS, s.RemoteTS = []string{lab.GwAWanIP + "/32"}, []string{lab.GwBWanIP + "/32"}
		})
		peer := peerFor(t, b, "aes128-sha1-modp1024", "aes128-sha1-modp1024")
		peer.LocalTS = []netip.Prefix{netip.MustParsePrefix(lab.GwBWanIP + "/32")}
		peer.RemoteTS = []netip.Prefix{netip.MustParsePrefix(lab.GwAWanIP + "/32")}
		o := startOurs(t, b, peer)
		err := c.Initiate("", 10*time.Second)
		t.Logf("strongSwan initiate in transport mode: %v\n%s", err, interoptest.Tail(c.Log(), 25))
		// strongSwan accepted the tunnel-mode answer (its libipsec then
		// cannot route host-to-host ESP and deletes the CHILD_SA, keeping
		// the IKE SA): the refusal is clean on both sides.
		if !strings.Contains(c.Log(), "selected proposal: ESP") {
			t.Fatal("strongSwan did not accept our CHILD_SA answer")
		}
		var ups, downs int
		for _, e := range o.evs() {
			t.Logf("our event: %T %+v", e, summary(e))
			switch e.(type) {
			case v2.ChildUp:
				ups++
			case v2.ChildDown:
				downs++
			}
		}
		if ups != 1 {
			t.Fatalf("%d ChildUp", ups)
		}
		sas, _ := c.ListSAs()
		if _, ok := lab.Established(sas); !ok {
			t.Fatal("strongSwan dropped the IKE SA")
		}
		if len(established(o)) != 1 {
			t.Fatal("we dropped the IKE SA")
		}
	})
}

func established(o *ours) []v2.IKESAStatus {
	var out []v2.IKESAStatus
	for _, s := range o.m.SAs() {
		if s.State == v2.StateEstablished {
			out = append(out, s)
		}
	}
	return out
}

// summary keeps keys out of logs.
func summary(e v2.Event) any {
	if c, ok := e.(v2.ChildUp); ok {
		return struct {
			In, Out uint32
			Encap   bool
		}{c.InSPI, c.OutSPI, c.Encap}
	}
	return e
}
