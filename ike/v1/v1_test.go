package v1

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/internal/fakenet"
	"github.com/ipsecgw/ipsecgw/ike/message"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

func TestMainMode(t *testing.T) {
	p := newPair(t)
	a, b := p.establish()
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || !a.Initiator || b.Initiator {
		t.Fatalf("cookies/roles: %+v / %+v", a, b)
	}
	if a.RemoteID != addrB.String() || b.RemoteID != addrA.String() {
		t.Fatalf("ids %q %q", a.RemoteID, b.RemoteID)
	}
	ua, ub := events[v2.ChildUp](p.ra), events[v2.ChildUp](p.rb)
	checkKeys(t, ua[0], ub[0])
	if ua[0].Encap || a.NATLocal || a.NATRemote {
		t.Fatal("no NAT here, yet encapsulation")
	}
	if ua[0].LocalTS[0] != p.peerA.LocalTS[0] || ub[0].LocalTS[0] != p.peerB.LocalTS[0] {
		t.Fatalf("selectors %v %v", ua[0].LocalTS, ub[0].LocalTS)
	}
	if n := len(events[v2.IKEUp](p.ra)); n != 1 {
		t.Fatalf("%d IKEUp", n)
	}
}

func TestAggressiveFQDN(t *testing.T) {
	p := newPair(t)
	p.peerA.Aggressive = true
	p.peerA.LocalID, p.peerA.RemoteID = "a.example.org", "b.example.org"
	p.peerB.LocalID, p.peerB.RemoteID = "b.example.org", "a.example.org"
	var seen v2.Identity
	p.b.cfg.Lookup = func(local, remote netip.AddrPort, id *v2.Identity) (*Peer, bool) {
		if id != nil {
			seen = *id
		}
		return p.peerB, id != nil
	}
	a, b := p.establish()
	if seen != "a.example.org" || a.RemoteID != "b.example.org" || b.RemoteID != "a.example.org" {
		t.Fatalf("lookup id %q, ids %q %q", seen, a.RemoteID, b.RemoteID)
	}
	checkKeys(t, events[v2.ChildUp](p.ra)[0], events[v2.ChildUp](p.rb)[0])
}

// TestSuitesPFS runs the algorithm corners: 3DES/MD5/MODP-768 (the key
// expansion of Appendix B) with DES ESP and PFS, AES-256/SHA-512/MODP-2048,
// and AES-192/SHA-256/MODP-1536 with AES-GCM ESP and PFS.
func TestSuitesPFS(t *testing.T) {
	cases := []struct {
		ike ikecrypto.IKESuite
		esp ikecrypto.ChildSuite
	}{
		{ikecrypto.IKESuite{Encr: ikecrypto.Encr3DES, PRF: ikecrypto.PRFHMACMD5, Integ: ikecrypto.IntegHMACMD596, DH: ikecrypto.MODP768},
			ikecrypto.ChildSuite{Encr: ikecrypto.EncrDES, Integ: ikecrypto.IntegHMACMD596, DH: ikecrypto.MODP768}},
		{ikecrypto.IKESuite{Encr: ikecrypto.EncrAESCBC, EncrKey: 256, PRF: ikecrypto.PRFHMACSHA512, Integ: ikecrypto.IntegHMACSHA512256, DH: ikecrypto.MODP2048},
			ikecrypto.ChildSuite{Encr: ikecrypto.EncrAESCBC, EncrKey: 256, Integ: ikecrypto.IntegHMACSHA384192, DH: ikecrypto.MODP1024}},
		{ikecrypto.IKESuite{Encr: ikecrypto.EncrAESCBC, EncrKey: 192, PRF: ikecrypto.PRFHMACSHA256, Integ: ikecrypto.IntegHMACSHA256128, DH: ikecrypto.MODP1536},
			ikecrypto.ChildSuite{Encr: ikecrypto.EncrAESGCM16, EncrKey: 128, DH: ikecrypto.MODP1536}},
	}
	for _, c := range cases {
		t.Run(c.ike.String(), func(t *testing.T) {
			p := newPair(t)
			p.peerA.IKE = []ikecrypto.IKESuite{c.ike}
			p.peerA.ESP = []ikecrypto.ChildSuite{c.esp}
			// B accepts a list in which A's choice is not first.
			p.peerB.IKE = []ikecrypto.IKESuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, PRF: ikecrypto.PRFHMACSHA1, Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}, c.ike}
			p.peerB.ESP = []ikecrypto.ChildSuite{c.esp}
			a, _ := p.establish()
			if a.Suite != c.ike {
				t.Fatalf("suite %v", a.Suite)
			}
			ua := events[v2.ChildUp](p.ra)[0]
			checkKeys(t, ua, events[v2.ChildUp](p.rb)[0])
			if ua.Suite != c.esp {
				t.Fatalf("ESP suite %v, want %v", ua.Suite, c.esp)
			}
		})
	}
}

func TestNoProposal(t *testing.T) {
	p := newPair(t)
	p.peerB.IKE[0].DH = ikecrypto.MODP2048
	if err := p.a.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B refuses", func() bool { return len(events[v2.IKEDown](p.rb)) == 1 })
	if d := events[v2.IKEDown](p.rb)[0]; d.Reason != v2.ReasonNoProposal {
		t.Fatalf("reason %v", d.Reason)
	}
	p.clock.Advance(31*time.Second, time.Second)
	eventually(t, "A gives up", func() bool { return len(events[v2.IKEDown](p.ra)) == 1 })
	if d := events[v2.IKEDown](p.ra)[0]; d.Reason != v2.ReasonNoProposal {
		t.Fatalf("A: reason %v (%v)", d.Reason, d.Err)
	}
}

func TestWrongPSK(t *testing.T) {
	for _, aggr := range []bool{false, true} {
		t.Run(map[bool]string{false: "main", true: "aggressive"}[aggr], func(t *testing.T) {
			p := newPair(t)
			p.peerA.Aggressive = aggr
			p.peerB.PSK = []byte("another-key")
			if err := p.a.Initiate(p.peerA); err != nil {
				t.Fatal(err)
			}
			eventually(t, "phase 1 stuck", func() bool { return p.net.Sent() >= 3 })
			time.Sleep(50 * time.Millisecond)
			p.clock.Advance(31*time.Second, time.Second)
			eventually(t, "both sides fail", func() bool {
				return len(events[v2.IKEDown](p.ra)) == 1 && len(events[v2.IKEDown](p.rb)) == 1
			})
			for _, d := range []v2.IKEDown{events[v2.IKEDown](p.ra)[0], events[v2.IKEDown](p.rb)[0]} {
				if d.Reason != v2.ReasonAuthFailed {
					t.Errorf("%s: reason %v (%v)", d.Peer, d.Reason, d.Err)
				}
			}
			if len(events[v2.IKEUp](p.ra))+len(events[v2.IKEUp](p.rb))+len(events[v2.ChildUp](p.ra)) != 0 {
				t.Fatal("something came up with a wrong PSK")
			}
			if len(p.a.SAs())+len(p.b.SAs()) != 0 {
				t.Fatal("SAs left behind")
			}
			if p.a.Stats().AuthFailures+p.b.Stats().AuthFailures == 0 || p.a.Stats().Retransmits == 0 {
				t.Fatalf("stats A %+v B %+v", p.a.Stats(), p.b.Stats())
			}
		})
	}
}

func TestRetransmission(t *testing.T) {
	p := newPair(t)
	// Lose the first MM3 and the first MM6.
	var mm3, mm6 int
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		h, _ := message.ParseHeader(pkt)
		if h.Exchange != message.ExchangeIdentityProtection {
			return false
		}
		if from.Addr() == addrA && h.NextPayload == message.PayloadV1KE {
			mm3++
			return mm3 == 1
		}
		if from.Addr() == addrB && h.Flags&message.FlagV1Encryption != 0 {
			mm6++
			return mm6 == 1
		}
		return false
	})
	if err := p.a.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		time.Sleep(30 * time.Millisecond)
		p.clock.Advance(2*time.Second, time.Second)
	}
	p.waitUp(1)
	if mm3 < 2 || mm6 < 2 {
		t.Fatalf("MM3 sent %d times, MM6 %d", mm3, mm6)
	}
	checkKeys(t, events[v2.ChildUp](p.ra)[0], events[v2.ChildUp](p.rb)[0])
}

// TestQuickModeBeforeAM3 delivers the initiator's QM1 before its AM3, as a
// strongSwan initiator's back-to-back send may: the responder queues it.
func TestQuickModeBeforeAM3(t *testing.T) {
	p := newPair(t)
	p.peerA.Aggressive = true
	var held []byte
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		h, _ := message.ParseHeader(pkt)
		if from.Addr() == addrA && h.Exchange == message.ExchangeAggressive && h.Flags&message.FlagV1Encryption != 0 && held == nil {
			held = append([]byte(nil), pkt...)
			return true
		}
		if from.Addr() == addrA && h.Exchange == message.ExchangeQuickMode && held != nil {
			am3 := held
			go func() {
				time.Sleep(20 * time.Millisecond)
				p.b.HandlePacket(am3, to, from)
			}()
		}
		return false
	})
	p.establish()
	checkKeys(t, events[v2.ChildUp](p.ra)[0], events[v2.ChildUp](p.rb)[0])
}

func TestNATTraversal(t *testing.T) {
	p := newPair(t)
	p.net.SetNAT(addrA, netip.MustParseAddr("198.51.100.7"))
	a, b := p.establish()
	if !a.NATLocal || a.NATRemote || !b.NATRemote || b.NATLocal {
		t.Fatalf("NAT detection: A local %v remote %v, B local %v remote %v", a.NATLocal, a.NATRemote, b.NATLocal, b.NATRemote)
	}
	if a.Local.Port() != NATTPort || a.Remote.Port() != NATTPort || b.Local.Port() != NATTPort || b.Remote != netip.MustParseAddrPort("198.51.100.7:5500") {
		t.Fatalf("ports: A %v->%v, B %v->%v", a.Local, a.Remote, b.Local, b.Remote)
	}
	ua, ub := events[v2.ChildUp](p.ra)[0], events[v2.ChildUp](p.rb)[0]
	checkKeys(t, ua, ub)
	if !ua.Encap || !ub.Encap || ub.Remote != b.Remote {
		t.Fatalf("encap %v/%v, B's ESP goes to %v", ua.Encap, ub.Encap, ub.Remote)
	}
}

func TestForceEncap(t *testing.T) {
	p := newPair(t)
	p.peerA.ForceEncap = true
	a, b := p.establish()
	if !a.NATLocal || !b.NATRemote || !events[v2.ChildUp](p.rb)[0].Encap || b.Remote.Port() != NATTPort {
		t.Fatalf("forced encapsulation not negotiated: %+v / %+v", a, b)
	}
}

func TestDPDDeadPeer(t *testing.T) {
	p := newPair(t)
	p.establish()
	// Silence: probes go after 30 s; B answers, so nothing dies.
	p.clock.Advance(40*time.Second, time.Second)
	time.Sleep(30 * time.Millisecond)
	if len(events[v2.IKEDown](p.ra)) != 0 {
		t.Fatal("live peer declared dead")
	}
	// B vanishes.
	p.net.SetDrop(func([]byte, netip.AddrPort, netip.AddrPort) bool { return true })
	p.clock.Advance(55*time.Second, time.Second)
	eventually(t, "A declares B dead", func() bool { return len(events[v2.IKEDown](p.ra)) == 1 })
	if d := events[v2.IKEDown](p.ra)[0]; d.Reason != v2.ReasonDeadPeer {
		t.Fatalf("reason %v", d.Reason)
	}
	if cd := events[v2.ChildDown](p.ra); len(cd) != 1 || cd[0].Reason != v2.ReasonDeadPeer {
		t.Fatalf("child down %+v", cd)
	}
}

// TestDPDTimeoutIs30s pins the product rule: dead 30 s after the first
// unanswered R-U-THERE, not before.
func TestDPDTimeoutIs30s(t *testing.T) {
	p := newPair(t)
	p.peerB.DPD = false
	p.establish()
	p.net.SetDrop(func([]byte, netip.AddrPort, netip.AddrPort) bool { return true })
	p.clock.Advance(30*time.Second, time.Second) // first probe at 30 s of silence
	p.clock.Advance(29*time.Second, time.Second)
	time.Sleep(30 * time.Millisecond)
	if len(events[v2.IKEDown](p.ra)) != 0 {
		t.Fatal("dead before 30 s without answer")
	}
	p.clock.Advance(2*time.Second, time.Second)
	eventually(t, "dead at 30 s", func() bool { return len(events[v2.IKEDown](p.ra)) == 1 })
}

func TestTerminate(t *testing.T) {
	p := newPair(t)
	p.establish()
	if p.a.Terminate("toB") != 1 {
		t.Fatal("nothing terminated")
	}
	eventually(t, "B sees the deletes", func() bool { return len(events[v2.IKEDown](p.rb)) == 1 })
	if d := events[v2.IKEDown](p.rb)[0]; d.Reason != v2.ReasonPeerDeleted {
		t.Fatalf("B: %v", d.Reason)
	}
	if cd := events[v2.ChildDown](p.rb); len(cd) != 1 || cd[0].Reason != v2.ReasonPeerDeleted {
		t.Fatalf("B child down %+v", cd)
	}
	if d := events[v2.IKEDown](p.ra); len(d) != 1 || d[0].Reason != v2.ReasonDeleted {
		t.Fatalf("A: %+v", d)
	}
	if len(p.a.SAs())+len(p.b.SAs()) != 0 {
		t.Fatal("SAs left")
	}
}

func TestInitialContact(t *testing.T) {
	p := newPair(t)
	p.establish()
	// A restarts: a fresh manager with the same address forgets its SA.
	p.a.Close()
	ra := &recorder{}
	a2, err := New(Config{Send: p.net.Send, OnEvent: ra.On, Clock: p.clock, Logger: fakenet.Logger(),
		Lookup: func(netip.AddrPort, netip.AddrPort, *v2.Identity) (*Peer, bool) { return p.peerA, true }})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	p.net.Attach(addrA, a2)
	if err := a2.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B drops the stale SA", func() bool { return len(events[v2.IKEDown](p.rb)) == 1 })
	eventually(t, "one SA on B", func() bool { return len(established(p.b)) == 1 && len(established(a2)) == 1 })
}

func TestMultipleSubnetsRefused(t *testing.T) {
	p := defaultPeer("x", addrA, addrB)
	p.LocalTS = append(p.LocalTS, netip.MustParsePrefix("10.9.0.0/24"))
	m, _ := New(Config{Send: func([]byte, netip.AddrPort, netip.AddrPort) error { return nil }})
	defer m.Close()
	if err := m.Initiate(p); err == nil {
		t.Fatal("two local subnets accepted for IKEv1")
	}
	p = defaultPeer("x", addrA, addrB)
	p.IKE[0] = ikecrypto.IKESuite{Encr: ikecrypto.EncrAESGCM16, EncrKey: 128, PRF: ikecrypto.PRFHMACSHA256, DH: ikecrypto.MODP2048}
	if err := m.Initiate(p); err == nil {
		t.Fatal("AEAD phase 1 accepted")
	}
}

// TestUnauthenticatedInput checks that forged Informationals (a Delete and
// a bad-hash message) and garbage leave an established SA alone.
func TestUnauthenticatedInput(t *testing.T) {
	p := newPair(t)
	a, _ := p.establish()
	local, remote := netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500)
	// Cleartext Delete of the ISAKMP SA.
	forged, _ := (&message.MessageV1{Header: message.Header{SPIi: a.SPIi, SPIr: a.SPIr, MajorVersion: 1, Exchange: message.ExchangeInformationalV1, MessageID: 7},
		Payloads: []message.Payload{message.NewDeleteV1ISAKMP(a.SPIi, a.SPIr)}}).Marshal()
	p.b.HandlePacket(forged, local, remote)
	// Encrypted garbage.
	h := message.Header{SPIi: a.SPIi, SPIr: a.SPIr, MajorVersion: 1, Exchange: message.ExchangeInformationalV1, MessageID: 9, NextPayload: message.PayloadV1HASH}
	junk, _ := (&message.MessageV1{Header: h, Ciphertext: make([]byte, 64)}).Marshal()
	p.b.HandlePacket(junk, local, remote)
	junk[len(junk)-1] ^= 1
	p.b.HandlePacket(junk[:40], local, remote)
	time.Sleep(50 * time.Millisecond)
	if len(events[v2.IKEDown](p.rb)) != 0 || len(established(p.b)) != 1 {
		t.Fatal("unauthenticated input changed the SA")
	}
	if st := p.b.Stats(); st.Dropped == 0 {
		t.Fatalf("stats %+v: the truncated datagram was not counted", st)
	}
}

// TestIKELifetimeReauth: phase 1 is re-authenticated before its lifetime
// ends, and nothing expires.
// TestRouteBased: without configured subnets the selectors are
// 0.0.0.0/0 on both sides (the product's destination mode).
func TestRouteBased(t *testing.T) {
	p := newPair(t)
	p.peerA.LocalTS, p.peerA.RemoteTS, p.peerB.LocalTS, p.peerB.RemoteTS = nil, nil, nil, nil
	p.establish()
	all := netip.MustParsePrefix("0.0.0.0/0")
	for _, u := range []v2.ChildUp{events[v2.ChildUp](p.ra)[0], events[v2.ChildUp](p.rb)[0]} {
		if u.LocalTS[0] != all || u.RemoteTS[0] != all {
			t.Fatalf("selectors %v <-> %v", u.LocalTS, u.RemoteTS)
		}
	}
}

// TestSelectorMismatch: a peer asking for subnets outside ours is refused
// and nothing comes up.
func TestSelectorMismatch(t *testing.T) {
	p := newPair(t)
	p.peerB.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}
	if err := p.a.Initiate(p.peerA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "phase 1", func() bool { return len(established(p.a)) == 1 && len(established(p.b)) == 1 })
	time.Sleep(30 * time.Millisecond)
	if len(events[v2.ChildUp](p.ra))+len(events[v2.ChildUp](p.rb)) != 0 {
		t.Fatal("IPsec SA with mismatched selectors")
	}
}

// TestReplayIgnored replays an authenticated R-U-THERE long after its
// exchange was forgotten: it must not be answered (nor count as liveness).
func TestReplayIgnored(t *testing.T) {
	p := newPair(t)
	p.peerB.DPD = false
	p.establish()
	var mu sync.Mutex
	var probe []byte
	fromB := 0
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		h, _ := message.ParseHeader(pkt)
		mu.Lock()
		defer mu.Unlock()
		if from.Addr() == addrA && h.Exchange == message.ExchangeInformationalV1 && probe == nil {
			probe = append([]byte(nil), pkt...)
		}
		if from.Addr() == addrB {
			fromB++
		}
		return false
	})
	p.clock.Advance(31*time.Second, time.Second) // A probes, B answers
	eventually(t, "probe answered", func() bool { mu.Lock(); defer mu.Unlock(); return probe != nil && fromB > 0 })
	p.clock.Advance(2*forgetAfter, 10*time.Second)
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	before, replay := fromB, probe
	mu.Unlock()
	p.b.HandlePacket(replay, netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500))
	p.b.syncAll()
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if fromB != before {
		t.Fatalf("replayed R-U-THERE answered (%d messages from B, %d before)", fromB, before)
	}
}

func TestResponderLifetime(t *testing.T) {
	n := &message.NotifyV1{NotifyType: message.V1ResponderLifetime,
		Data: []byte{0x80, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x78}} // seconds, 3960 as a 4-byte TLV
	if d := responderLifetime([]message.Payload{n}); d != 3960*time.Second {
		t.Fatalf("lifetime %v", d)
	}
	n.Data = []byte{0x80, 0x01, 0x00, 0x02, 0x80, 0x02, 0x10, 0x00} // kilobytes
	if d := responderLifetime([]message.Payload{n}); d != 0 {
		t.Fatalf("kilobyte lifetime taken as %v", d)
	}
	n.Data = []byte{0x00, 0x02, 0xff}
	if d := responderLifetime([]message.Payload{n}); d != 0 {
		t.Fatal("garbage accepted")
	}
}

// TestLateFirstMessage: a retransmitted MM1 arriving after phase 1
// completed neither starts a second SA nor disturbs the first.
func TestLateFirstMessage(t *testing.T) {
	p := newPair(t)
	var mu sync.Mutex
	var mm1 []byte
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		mu.Lock()
		defer mu.Unlock()
		if mm1 == nil && from.Addr() == addrA {
			mm1 = append([]byte(nil), pkt...)
		}
		return false
	})
	p.establish()
	mu.Lock()
	late := mm1
	mu.Unlock()
	p.b.HandlePacket(late, netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500))
	p.b.syncAll()
	if n := len(p.b.SAs()); n != 1 {
		t.Fatalf("%d SAs on B after a late MM1", n)
	}
	p.clock.Advance(35*time.Second, time.Second)
	time.Sleep(20 * time.Millisecond)
	if d := events[v2.IKEDown](p.rb); len(d) != 0 || len(established(p.b)) != 1 {
		t.Fatalf("B: downs %+v", d)
	}
}

// TestRekeyCollision: both ends rekey the same IPsec SA at once; after the
// grace period each side still has a working pair with the other.
