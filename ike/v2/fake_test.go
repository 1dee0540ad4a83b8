package v2

import (
	"log/slog"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/internal/fakenet"
)

// recorder collects the events of a Manager.
type recorder = fakenet.Recorder[Event]

func count[T Event](r *recorder) (n int, last T) {
	for _, e := range r.All() {
		if x, ok := e.(T); ok {
			n++
			last = x
		}
	}
	return
}

// pair is two managers A (192.0.2.1) and B (192.0.2.2) over a fake network.
type pair struct {
	t      *testing.T
	clock  *fakenet.Clock
	net    *fakenet.Net
	a, b   *Manager
	ra, rb *recorder
	peerA  *Peer // A's config for B
	peerB  *Peer // B's config for A
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func testLogger(*testing.T) *slog.Logger { return fakenet.Logger() }

func defaultPeer(name string, local, remote netip.Addr) *Peer {
	return &Peer{
		Name: name, Local: local, Remote: remote, PSK: []byte("s3cret-PSK"),
		IKE:      []ikecrypto.IKESuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, PRF: ikecrypto.PRFHMACSHA1, Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}},
		ESP:      []ikecrypto.ChildSuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}},
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
		NATT:     true, DPD: true,
	}
}

func newPair(t *testing.T, cfgMod func(*Config)) *pair {
	p := &pair{t: t, clock: fakenet.NewClock(2 * time.Millisecond), net: fakenet.NewNet(), ra: &recorder{}, rb: &recorder{}}
	p.peerA = defaultPeer("toB", addrA, addrB)
	p.peerB = defaultPeer("toA", addrB, addrA)
	p.peerB.LocalTS, p.peerB.RemoteTS = p.peerA.RemoteTS, p.peerA.LocalTS
	mk := func(rec *recorder, peer **Peer, seed byte) *Manager {
		cfg := Config{
			Send:    p.net.Send,
			Lookup:  func(local, remote netip.AddrPort, id *Identity) (*Peer, bool) { return *peer, true },
			OnEvent: rec.On, Clock: p.clock, Rand: fakenet.Rand(seed),
			Logger: testLogger(t),
		}
		if cfgMod != nil {
			cfgMod(&cfg)
		}
		m, err := New(cfg)
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
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	fakenet.Eventually(t, 10*time.Second, what, cond)
}

func established(m *Manager) []IKESAStatus {
	var out []IKESAStatus
	for _, s := range m.SAs() {
		if s.State == StateEstablished {
			out = append(out, s)
		}
	}
	return out
}

func (p *pair) establish() (IKESAStatus, IKESAStatus) {
	p.t.Helper()
	if err := p.a.Initiate(p.peerA); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, "IKE SA on both", func() bool {
		a, b := established(p.a), established(p.b)
		return len(a) == 1 && len(b) == 1 && len(a[0].Children) == 1 && len(b[0].Children) == 1
	})
	return established(p.a)[0], established(p.b)[0]
}

func childUps(r *recorder) []ChildUp {
	var out []ChildUp
	for _, e := range r.All() {
		if c, ok := e.(ChildUp); ok {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return false })
	return out
}
