package v1

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/internal/fakenet"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// recorder collects the events of a Manager.
type recorder = fakenet.Recorder[v2.Event]

func events[T v2.Event](r *recorder) []T { return fakenet.Of[T](r) }

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func defaultPeer(name string, local, remote netip.Addr) *Peer {
	return &Peer{Peer: v2.Peer{
		Name: name, Local: local, Remote: remote, PSK: []byte("s3cret-PSK"),
		IKE:      []ikecrypto.IKESuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, PRF: ikecrypto.PRFHMACSHA1, Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}},
		ESP:      []ikecrypto.ChildSuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, Integ: ikecrypto.IntegHMACSHA196}},
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
		NATT:     true, DPD: true,
	}}
}

// pair is two managers A (192.0.2.1) and B (192.0.2.2) over a fake network.
type pair struct {
	t            testing.TB
	clock        *fakenet.Clock
	net          *fakenet.Net
	a, b         *Manager
	ra, rb       *recorder
	peerA, peerB *Peer
}

func newPair(t testing.TB) *pair {
	p := &pair{t: t, clock: fakenet.NewClock(3 * time.Millisecond), net: fakenet.NewNet(), ra: &recorder{}, rb: &recorder{}}
	p.peerA = defaultPeer("toB", addrA, addrB)
	p.peerB = defaultPeer("toA", addrB, addrA)
	p.peerB.LocalTS, p.peerB.RemoteTS = p.peerA.RemoteTS, p.peerA.LocalTS
	mk := func(rec *recorder, peer **Peer, seed byte) *Manager {
		m, err := New(Config{
			Send:    p.net.Send,
			Lookup:  func(local, remote netip.AddrPort, id *v2.Identity) (*Peer, bool) { return *peer, true },
			OnEvent: rec.On, Clock: p.clock, Rand: fakenet.Rand(seed),
			Logger: fakenet.Logger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	p.a = mk(p.ra, &p.peerA, 1)
	p.b = mk(p.rb, &p.peerB, 2)
	p.net.Attach(addrA, p.a)
	p.net.Attach(addrB, p.b)
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

// eventually polls cond in real time while the fake clock stands still.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	fakenet.Eventually(t, 5*time.Second, what, cond)
}

func established(m *Manager) []v2.IKESAStatus {
	var out []v2.IKESAStatus
	for _, s := range m.SAs() {
		if s.State == v2.StateEstablished {
			out = append(out, s)
		}
	}
	return out
}

// establish initiates from A and waits for one ISAKMP SA with one IPsec SA
// on both sides.
func (p *pair) establish() (v2.IKESAStatus, v2.IKESAStatus) {
	p.t.Helper()
	if err := p.a.Initiate(p.peerA); err != nil {
		p.t.Fatal(err)
	}
	p.waitUp(1)
	return established(p.a)[0], established(p.b)[0]
}

func (p *pair) waitUp(children int) {
	p.t.Helper()
	eventually(p.t, "ISAKMP and IPsec SAs on both", func() bool {
		a, b := established(p.a), established(p.b)
		return len(a) == 1 && len(b) == 1 && len(a[0].Children) == children && len(b[0].Children) == children &&
			len(events[v2.ChildUp](p.ra)) > 0 && len(events[v2.ChildUp](p.rb)) > 0
	})
}

// checkKeys verifies that A's outbound SA is B's inbound SA and vice versa.
func checkKeys(t *testing.T, a, b v2.ChildUp) {
	t.Helper()
	if a.OutSPI != b.InSPI || a.InSPI != b.OutSPI {
		t.Fatalf("SPIs: A in %08x out %08x, B in %08x out %08x", a.InSPI, a.OutSPI, b.InSPI, b.OutSPI)
	}
	if string(a.EncKeyOut) != string(b.EncKeyIn) || string(a.IntegKeyOut) != string(b.IntegKeyIn) ||
		string(a.EncKeyIn) != string(b.EncKeyOut) || string(a.IntegKeyIn) != string(b.IntegKeyOut) {
		t.Fatal("keys of the two directions do not match")
	}
	if string(a.EncKeyIn) == string(a.EncKeyOut) {
		t.Fatal("both directions have the same key")
	}
	if a.Suite != b.Suite {
		t.Fatalf("suites differ: %v / %v", a.Suite, b.Suite)
	}
	if e := a.Suite.Encr.KeyBytes(a.Suite.EncrKey); len(a.EncKeyIn) != e || len(a.IntegKeyIn) != a.Suite.Integ.KeyBytes() {
		t.Fatalf("key lengths %d/%d for %v", len(a.EncKeyIn), len(a.IntegKeyIn), a.Suite)
	}
}
