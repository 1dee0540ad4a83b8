package v1

import (
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

func TestChildRekeyPFS(t *testing.T) {
	p := newPair(t)
	p.peerA.ESP[0].DH, p.peerB.ESP[0].DH = ikecrypto.MODP1024, ikecrypto.MODP1024
	p.establish()
	old := events[v2.ChildUp](p.ra)[0]
	if p.a.Rekey("toB", false) != 1 {
		t.Fatal("no SA to rekey")
	}
	eventually(t, "rekeyed on both", func() bool {
		return len(events[v2.ChildUp](p.ra)) == 2 && len(events[v2.ChildUp](p.rb)) == 2
	})
	na, nb := events[v2.ChildUp](p.ra)[1], events[v2.ChildUp](p.rb)[1]
	checkKeys(t, na, nb)
	if !na.Rekeyed || na.ReplacesSPI != old.InSPI || !nb.Rekeyed || nb.ReplacesSPI != old.OutSPI {
		t.Fatalf("rekey markers: A %+v B %+v", na, nb)
	}
	if string(na.EncKeyIn) == string(old.EncKeyIn) {
		t.Fatal("same keys after rekey")
	}
	if len(events[v2.ChildDown](p.ra)) != 0 {
		t.Fatal("old SA removed before the grace period (break before make)")
	}
	p.clock.Advance(rekeyGrace+time.Second, time.Second)
	eventually(t, "old SA gone on both", func() bool {
		return len(events[v2.ChildDown](p.ra)) == 1 && len(events[v2.ChildDown](p.rb)) == 1
	})
	if d := events[v2.ChildDown](p.ra)[0]; d.InSPI != old.InSPI || d.Reason != v2.ReasonRekeyed {
		t.Fatalf("child down %+v", d)
	}
	p.waitUp(1)
}

func TestLifetimeRekey(t *testing.T) {
	p := newPair(t)
	p.peerA.ChildLifetime, p.peerB.ChildLifetime = 100*time.Second, 100*time.Second
	p.peerA.DPD, p.peerB.DPD = false, false
	p.establish()
	p.clock.Advance(91*time.Second, time.Second)
	eventually(t, "rekey before expiry", func() bool { return len(events[v2.ChildUp](p.ra)) == 2 })
	p.clock.Advance(10*time.Second, time.Second)
	p.waitUp(1)
	for _, d := range events[v2.ChildDown](p.ra) {
		if d.Reason != v2.ReasonRekeyed {
			t.Fatalf("child down %+v: an SA expired instead of being rekeyed", d)
		}
	}
}

func TestReauth(t *testing.T) {
	p := newPair(t)
	a0, _ := p.establish()
	if p.a.Rekey("toB", true) != 1 {
		t.Fatal("no SA")
	}
	eventually(t, "new ISAKMP SA and old deleted", func() bool {
		return len(events[v2.IKEUp](p.ra)) == 2 && len(events[v2.IKEDown](p.ra)) == 1 && len(events[v2.IKEDown](p.rb)) == 1
	})
	up := events[v2.IKEUp](p.ra)[1]
	if !up.Rekeyed || up.ReplacesSPIi != a0.SPIi {
		t.Fatalf("IKEUp %+v", up)
	}
	if d := events[v2.IKEDown](p.ra)[0]; d.Reason != v2.ReasonRekeyed || d.SPIi != a0.SPIi {
		t.Fatalf("old down %+v", d)
	}
	cu := events[v2.ChildUp](p.ra)
	if len(cu) != 2 || !cu[1].Rekeyed || cu[1].ReplacesSPI != cu[0].InSPI {
		t.Fatalf("child ups %+v", cu)
	}
	if cd := events[v2.ChildDown](p.ra); len(cd) != 1 || cd[0].Reason != v2.ReasonRekeyed {
		t.Fatalf("child downs %+v", cd)
	}
	// B adopted the old IPsec SA into the new ISAKMP SA and retires it
	// after the grace period, should A's Delete have overtaken it.
	eventually(t, "B's rebuilt IPsec SA", func() bool { return len(events[v2.ChildUp](p.rb)) == 2 })
	for i := 0; i < 10 && !(len(established(p.b)) == 1 && len(established(p.b)[0].Children) == 1); i++ {
		time.Sleep(20 * time.Millisecond)
		p.clock.Advance(time.Second, time.Second)
	}
	if b := established(p.b); len(b) != 1 || len(b[0].Children) != 1 {
		t.Fatalf("B after re-authentication: %+v (all %+v)", b, p.b.SAs())
	}
	p.waitUp(1)
	checkKeys(t, cu[1], events[v2.ChildUp](p.rb)[1])
}

func TestIKELifetimeReauth(t *testing.T) {
	p := newPair(t)
	p.peerA.IKELifetime, p.peerB.IKELifetime = 200*time.Second, 200*time.Second
	p.peerA.DPD, p.peerB.DPD = false, false
	a0, _ := p.establish()
	p.clock.Advance(181*time.Second, time.Second)
	eventually(t, "re-authenticated before the lifetime", func() bool {
		ups := events[v2.IKEUp](p.ra)
		return len(ups) == 2 && ups[1].Rekeyed && ups[1].ReplacesSPIi == a0.SPIi
	})
	settled := func() bool {
		a, b := established(p.a), established(p.b)
		return len(p.a.SAs()) == 1 && len(p.b.SAs()) == 1 && len(a) == 1 && len(b) == 1 &&
			len(a[0].Children) == 1 && len(b[0].Children) == 1
	}
	for i := 0; i < 12 && !settled(); i++ {
		time.Sleep(20 * time.Millisecond)
		p.clock.Advance(time.Second, time.Second)
	}
	p.waitUp(1)
	for _, d := range append(events[v2.IKEDown](p.ra), events[v2.IKEDown](p.rb)...) {
		if d.Reason != v2.ReasonRekeyed && d.Reason != v2.ReasonPeerDeleted {
			t.Fatalf("IKEDown %+v", d)
		}
	}
	for _, d := range append(events[v2.ChildDown](p.ra), events[v2.ChildDown](p.rb)...) {
		if d.Reason == v2.ReasonExpired {
			t.Fatalf("IPsec SA expired: %+v", d)
		}
	}
	if s := established(p.a)[0]; s.SPIi == a0.SPIi || s.RekeyIn == 0 {
		t.Fatalf("A still on the old SA or no re-authentication scheduled: %+v", s)
	}
}

func TestRekeyCollision(t *testing.T) {
	p := newPair(t)
	p.establish()
	p.a.Rekey("toB", false)
	p.b.Rekey("toA", false)
	eventually(t, "both rekeys done", func() bool {
		return len(events[v2.ChildUp](p.ra)) >= 2 && len(events[v2.ChildUp](p.rb)) >= 2
	})
	time.Sleep(50 * time.Millisecond)
	for range 8 {
		time.Sleep(20 * time.Millisecond)
		p.clock.Advance(time.Second, time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	a, b := established(p.a), established(p.b)
	if len(a) != 1 || len(b) != 1 || len(a[0].Children) == 0 {
		t.Fatalf("SAs: %+v / %+v", a, b)
	}
	pairs := 0
	for _, ca := range a[0].Children {
		for _, cb := range b[0].Children {
			if ca.OutSPI == cb.InSPI && ca.InSPI == cb.OutSPI && ca.State == v2.ChildInstalled && cb.State == v2.ChildInstalled {
				pairs++
			}
		}
	}
	if pairs != 1 || len(a[0].Children) != 1 || len(b[0].Children) != 1 {
		t.Fatalf("want one matching installed pair: A %+v B %+v", a[0].Children, b[0].Children)
	}
	// Every SA announced was withdrawn except the one kept.
	for _, r := range []*recorder{p.ra, p.rb} {
		if ups, downs := len(events[v2.ChildUp](r)), len(events[v2.ChildDown](r)); ups-downs != 1 {
			t.Fatalf("%d ChildUp, %d ChildDown", ups, downs)
		}
	}
}
