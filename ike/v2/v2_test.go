package v2

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"net/netip"
	"testing"
)

func TestEstablish(t *testing.T) {
	p := newPair(t, nil)
	a, b := p.establish()
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || !a.Initiator || b.Initiator {
		t.Fatalf("SPIs differ: %+v %+v", a, b)
	}
	ca, cb := a.Children[0], b.Children[0]
	if ca.InSPI != cb.OutSPI || ca.OutSPI != cb.InSPI {
		t.Fatalf("child SPIs: %+v %+v", ca, cb)
	}
	ua, ub := childUps(p.ra), childUps(p.rb)
	if len(ua) != 1 || len(ub) != 1 {
		t.Fatalf("ChildUp events %d %d", len(ua), len(ub))
	}
	if !bytes.Equal(ua[0].EncKeyOut, ub[0].EncKeyIn) || !bytes.Equal(ua[0].IntegKeyIn, ub[0].IntegKeyOut) || bytes.Equal(ua[0].EncKeyIn, ua[0].EncKeyOut) {
		t.Fatal("child keys do not mirror")
	}
	if ua[0].LocalTS[0] != netip.MustParsePrefix("10.1.0.0/24") || ua[0].RemoteTS[0] != netip.MustParsePrefix("10.2.0.0/24") {
		t.Fatalf("selectors %v %v", ua[0].LocalTS, ua[0].RemoteTS)
	}
	if ua[0].Encap || a.NATLocal || a.NATRemote || a.Local.Port() != 500 {
		t.Fatalf("no NAT expected: %+v", a)
	}
}

// TestLostMessagesRetransmit drops the first two copies of every request
// from A; retransmission with backoff still establishes.
func TestLostMessagesRetransmit(t *testing.T) {
	p := newPair(t, nil)
	seen := map[string]int{}
	var mu sync.Mutex
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		if from.Addr() != addrA {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		k := string(pkt[16:24]) // exchange, flags, message ID
		seen[k]++
		return seen[k] <= 2
	})
	if err := p.a.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40 && len(established(p.a)) == 0; i++ {
		p.clock.Advance(time.Second, 100*time.Millisecond)
	}
	eventually(t, "established despite losses", func() bool { return len(established(p.a)) == 1 && len(established(p.b)) == 1 })
	if st := p.a.Stats(); st.Retransmits < 4 {
		t.Fatalf("retransmits %d, want >= 4", st.Retransmits)
	}
}

// TestDeadPeer: the peer vanishes; with DPD (30 s idle, 30 s timeout) A
// probes after 30 s of silence and declares the peer dead 30 s later.
func TestDeadPeer(t *testing.T) {
	p := newPair(t, nil)
	p.establish()
	t0 := p.clock.Now()
	p.net.SetDrop(func([]byte, netip.AddrPort, netip.AddrPort) bool { return true })
	var deadAt time.Time
	for i := 0; i < 240 && deadAt.IsZero(); i++ {
		p.clock.Advance(500*time.Millisecond, 500*time.Millisecond)
		if n, _ := count[IKEDown](p.ra); n > 0 {
			deadAt = p.clock.Now()
		}
	}
	if deadAt.IsZero() {
		t.Fatal("peer never declared dead")
	}
	// Goroutines may lag the fake clock a little, never lead it.
	if el := deadAt.Sub(t0); el < 60*time.Second || el > 70*time.Second {
		t.Fatalf("dead after %v, want 60 s", el)
	}
	if _, d := count[IKEDown](p.ra); d.Reason != ReasonDeadPeer {
		t.Fatalf("reason %v", d.Reason)
	}
	if n, d := count[ChildDown](p.ra); n != 1 || d.Reason != ReasonDeadPeer {
		t.Fatalf("child down events %d %v", n, d.Reason)
	}
	if len(p.a.SAs()) != 0 {
		t.Fatal("SA kept after death")
	}
}

// TestLivenessKeepsAlive: an answering peer is probed but never dead.
func TestLivenessKeepsAlive(t *testing.T) {
	p := newPair(t, nil)
	p.establish()
	p.clock.Advance(3*time.Minute, time.Second)
	if n, _ := count[IKEDown](p.ra); n != 0 {
		t.Fatal("live peer declared dead")
	}
	if len(established(p.a)) != 1 {
		t.Fatal("SA lost")
	}
}

func TestWrongPSK(t *testing.T) {
	p := newPair(t, nil)
	p.peerB.PSK = []byte("other")
	if err := p.a.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "auth failure on both", func() bool {
		na, da := count[IKEDown](p.ra)
		nb, db := count[IKEDown](p.rb)
		return na == 1 && nb == 1 && da.Reason == ReasonAuthFailed && db.Reason == ReasonAuthFailed
	})
	if n, _ := count[ChildUp](p.ra); n != 0 || len(p.a.SAs()) != 0 || len(p.b.SAs()) != 0 {
		t.Fatal("state left behind")
	}
}

func TestInvalidKERetry(t *testing.T) {
	p := newPair(t, nil)
	g14 := p.peerA.IKE[0]
	g14.DH = ikecrypto.MODP2048
	p.peerA.IKE = append([]ikecrypto.IKESuite{p.peerA.IKE[0]}, g14) // offers 1024 first
	p.peerB.IKE = []ikecrypto.IKESuite{g14}                         // accepts only 2048
	a, _ := p.establish()
	if a.Suite.DH != ikecrypto.MODP2048 {
		t.Fatalf("group %v", a.Suite.DH)
	}
}

func TestNoProposal(t *testing.T) {
	p := newPair(t, nil)
	p.peerB.IKE[0].Encr = ikecrypto.Encr3DES
	p.peerB.IKE[0].EncrKey = 0
	p.a.Initiate(p.peerA)
	eventually(t, "no proposal", func() bool {
		n, d := count[IKEDown](p.ra)
		return n == 1 && d.Reason == ReasonNoProposal
	})
	if len(p.b.SAs()) != 0 {
		t.Fatal("responder kept state for a refused IKE_SA_INIT")
	}
}

func TestCookie(t *testing.T) {
	p := newPair(t, func(c *Config) { c.CookieThreshold = -1 })
	p.establish()
	sent := p.net.Sent()
	if sent < 6 { // INIT, COOKIE, INIT, INIT resp, AUTH, AUTH resp
		t.Fatalf("only %d datagrams: no cookie round trip?", sent)
	}
}

// TestNarrowing: A asks for 10.1.0.0/16 <-> 10.2.0.0/16, B allows
// 10.1.0.0/24 and 10.2.0.0/24 + 10.2.5.0/24 only.
func TestNarrowing(t *testing.T) {
	p := newPair(t, nil)
	p.peerA.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	p.peerA.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
	p.peerB.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}
	p.peerB.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("10.2.5.0/24"), netip.MustParsePrefix("172.16.0.0/12")}
	a, b := p.establish()
	ca := a.Children[0]
	if fmt.Sprint(ca.LocalTS) != "[10.1.0.0/24]" || fmt.Sprint(ca.RemoteTS) != "[10.2.0.0/24 10.2.5.0/24]" {
		t.Fatalf("initiator got %v <-> %v", ca.LocalTS, ca.RemoteTS)
	}
	cb := b.Children[0]
	if fmt.Sprint(cb.RemoteTS) != "[10.1.0.0/24]" || fmt.Sprint(cb.LocalTS) != "[10.2.0.0/24 10.2.5.0/24]" {
		t.Fatalf("responder got %v <-> %v", cb.LocalTS, cb.RemoteTS)
	}
}

func TestTSUnacceptable(t *testing.T) {
	p := newPair(t, nil)
	p.peerB.RemoteTS = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}
	p.a.Initiate(p.peerA)
	eventually(t, "TS_UNACCEPTABLE", func() bool {
		n, d := count[IKEDown](p.ra)
		return n == 1 && d.Reason == ReasonTSUnacceptable
	})
}

func waitChildSPIChange(t *testing.T, m *Manager, old uint32) IKESAStatus {
	t.Helper()
	var st IKESAStatus
	eventually(t, "child rekeyed", func() bool {
		e := established(m)
		if len(e) != 1 || len(e[0].Children) != 1 || e[0].Children[0].InSPI == old {
			return false
		}
		st = e[0]
		return true
	})
	return st
}

func TestChildRekeyPFS(t *testing.T) {
	p := newPair(t, nil)
	a, _ := p.establish()
	old := a.Children[0]
	p.a.Rekey("toB", false)
	a2 := waitChildSPIChange(t, p.a, old.InSPI)
	b2 := waitChildSPIChange(t, p.b, old.OutSPI)
	if a2.Children[0].Suite.DH != ikecrypto.MODP1024 || a2.Children[0].InSPI != b2.Children[0].OutSPI {
		t.Fatalf("after rekey %+v / %+v", a2.Children[0], b2.Children[0])
	}
	ups := childUps(p.rb)
	if len(ups) != 2 || !ups[1].Rekeyed || ups[1].ReplacesSPI != old.OutSPI {
		t.Fatalf("responder events %+v", ups)
	}
	if n, d := count[ChildDown](p.rb); n != 1 || d.InSPI != old.OutSPI || d.Reason != ReasonRekeyed {
		t.Fatalf("old child down %d %+v", n, d)
	}
}

// TestChildRekeyLifetime: lifetimes with jitter make the rekey happen
// before the hard expiry, and traffic keeps one child at all times.
func TestChildRekeyLifetime(t *testing.T) {
	p := newPair(t, nil)
	p.peerA.ChildLifetime = 10 * time.Minute
	p.peerB.ChildLifetime = 10 * time.Minute
	a, _ := p.establish()
	p.clock.Advance(9*time.Minute+30*time.Second, time.Second)
	a2 := waitChildSPIChange(t, p.a, a.Children[0].InSPI)
	if n, _ := count[ChildDown](p.ra); n != 1 {
		t.Fatalf("%d children down", n)
	}
	if a2.Children[0].RekeyIn <= 0 {
		t.Fatal("no next rekey scheduled")
	}
}

// TestChildRekeyCollision: both ends rekey the same CHILD_SA at once
// (§2.8.1): one redundant SA is deleted, and both ends end with exactly
// one, the same, CHILD_SA.
func TestChildRekeyCollision(t *testing.T) {
	for i := 0; i < 3; i++ {
		p := newPair(t, nil)
		a, _ := p.establish()
		var mu sync.Mutex
		var held [][3]any
		hold := true
		// Hold both CREATE_CHILD_SA requests until both are sent.
		p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
			mu.Lock()
			defer mu.Unlock()
			if hold && pkt[18] == 36 && pkt[19]&0x20 == 0 {
				held = append(held, [3]any{append([]byte(nil), pkt...), from, to})
				return true
			}
			return false
		})
		p.a.Rekey("toB", false)
		p.b.Rekey("toA", false)
		eventually(t, "both rekey requests", func() bool { mu.Lock(); defer mu.Unlock(); return len(held) == 2 })
		mu.Lock()
		hold = false
		release := held
		mu.Unlock()
		for _, h := range release {
			p.net.Send(h[0].([]byte), h[1].(netip.AddrPort), h[2].(netip.AddrPort))
		}
		eventually(t, "one child each after collision", func() bool {
			ea, eb := established(p.a), established(p.b)
			return len(ea) == 1 && len(eb) == 1 && len(ea[0].Children) == 1 && len(eb[0].Children) == 1 &&
				ea[0].Children[0].InSPI != a.Children[0].InSPI &&
				ea[0].Children[0].InSPI == eb[0].Children[0].OutSPI && ea[0].Children[0].OutSPI == eb[0].Children[0].InSPI
		})
		p.a.Close()
		p.b.Close()
	}
}

func TestIKERekey(t *testing.T) {
	p := newPair(t, nil)
	a, _ := p.establish()
	p.b.Rekey("toA", true) // the responder rekeys
	eventually(t, "new IKE SA", func() bool {
		ea, eb := established(p.a), established(p.b)
		return len(ea) == 1 && len(eb) == 1 && ea[0].SPIi != a.SPIi && ea[0].SPIi == eb[0].SPIi &&
			ea[0].SPIr == eb[0].SPIr && len(p.a.SAs()) == 1 && len(p.b.SAs()) == 1
	})
	ea, eb := established(p.a), established(p.b)
	if ea[0].Initiator || !eb[0].Initiator {
		t.Fatal("the rekey initiator must be the new SA's initiator")
	}
	if len(ea[0].Children) != 1 || ea[0].Children[0].InSPI != a.Children[0].InSPI {
		t.Fatal("children did not move")
	}
	// The new SA works: rekey the child over it.
	p.a.Rekey("toB", false)
	waitChildSPIChange(t, p.a, a.Children[0].InSPI)
	if n, _ := count[IKEDown](p.ra); n != 1 {
		t.Fatalf("%d IKEDown", n)
	}
	if n, d := count[IKEDown](p.ra); n != 1 || d.Reason != ReasonRekeyed {
		t.Fatalf("old SA down reason %v", d.Reason)
	}
}

func TestDelete(t *testing.T) {
	p := newPair(t, nil)
	p.establish()
	p.a.Terminate("toB")
	eventually(t, "deleted", func() bool {
		na, da := count[IKEDown](p.ra)
		nb, db := count[IKEDown](p.rb)
		return na == 1 && nb == 1 && da.Reason == ReasonDeleted && db.Reason == ReasonPeerDeleted
	})
}

// TestForceEncap: ForceEncap fakes a NAT like strongSwan's libipsec:
// both ends move to 4500 and mark children encapsulated.
func TestForceEncap(t *testing.T) {
	p := newPair(t, nil)
	p.peerA.ForceEncap = true
	a, b := p.establish()
	if !a.NATLocal || !b.NATRemote || a.Local.Port() != 4500 || b.Local.Port() != 4500 || !a.Children[0].Encap || !b.Children[0].Encap {
		t.Fatalf("%+v\n%+v", a, b)
	}
}

// TestChildNotFound: the peer lost the CHILD_SA (it answers the rekey with
// CHILD_SA_NOT_FOUND); we drop ours and negotiate a new one.
func TestChildNotFound(t *testing.T) {
	p := newPair(t, nil)
	a, b := p.establish()
	// B forgets its child without telling A.
	p.b.each("toA", func(sa *ikeSA) {
		for _, c := range append([]*child(nil), sa.children...) {
			sa.removeChild(c, ReasonDeleted)
		}
	})
	eventually(t, "B forgot", func() bool { return len(established(p.b)[0].Children) == 0 })
	p.a.Rekey("toB", false)
	eventually(t, "a fresh CHILD_SA", func() bool {
		ea, eb := established(p.a), established(p.b)
		return len(ea) == 1 && len(ea[0].Children) == 1 && len(eb[0].Children) == 1 &&
			ea[0].Children[0].InSPI != a.Children[0].InSPI && ea[0].Children[0].InSPI == eb[0].Children[0].OutSPI
	})
	_ = b
	if n, d := count[ChildDown](p.ra); n != 1 || d.Reason != ReasonPeerDeleted {
		t.Fatalf("ChildDown %d %v", n, d.Reason)
	}
}

// TestIKEExpiry: with rekeying refused, the IKE SA is deleted (with a
// Delete to the peer) at its hard lifetime.
func TestIKEExpiry(t *testing.T) {
	p := newPair(t, nil)
	p.peerA.IKELifetime = 10 * time.Minute
	p.establish()
	// B no longer accepts A's IKE proposal, so A's IKE rekeys fail with
	// NO_PROPOSAL_CHOSEN until the hard lifetime.
	p.b.each("toA", func(sa *ikeSA) {
		np := *sa.peer
		np.IKE = []ikecrypto.IKESuite{np.IKE[0]}
		np.IKE[0].DH = ikecrypto.MODP2048
		np.IKE[0].Encr, np.IKE[0].EncrKey = ikecrypto.Encr3DES, 0
		sa.peer = &np
	})
	for i := 0; i < 80; i++ {
		if n, _ := count[IKEDown](p.rb); n > 0 {
			break
		}
		p.clock.Advance(10*time.Second, time.Second)
	}
	eventually(t, "expired on A, deleted on B", func() bool {
		na, da := count[IKEDown](p.ra)
		nb, db := count[IKEDown](p.rb)
		return na == 1 && nb == 1 && da.Reason == ReasonExpired && db.Reason == ReasonPeerDeleted
	})
}
