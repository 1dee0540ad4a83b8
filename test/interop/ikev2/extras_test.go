package ikev2

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
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
		t.Cleanup(func() { c.Clear("") })
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
}
