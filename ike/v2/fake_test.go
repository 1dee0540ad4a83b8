package v2

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
)

// fakeClock is a manual clock: timers fire when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       chan time.Time
	at      time.Time
	stopped bool
	clock   *fakeClock
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), clock: c}
	if d <= 0 {
		t.c <- c.now
		t.stopped = true
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward in steps, firing due timers and letting the
// SA goroutines run between steps.
func (c *fakeClock) Advance(d time.Duration, step time.Duration) {
	end := c.Now().Add(d)
	for {
		c.mu.Lock()
		if !c.now.Before(end) {
			c.mu.Unlock()
			return
		}
		c.now = c.now.Add(step)
		if c.now.After(end) {
			c.now = end
		}
		var live []*fakeTimer
		for _, t := range c.timers {
			if t.stopped {
				continue
			}
			if !t.at.After(c.now) {
				t.stopped = true
				t.c <- c.now
				continue
			}
			live = append(live, t)
		}
		c.timers = live
		c.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeNet delivers datagrams between managers by address, with a drop hook.
type fakeNet struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*Manager
	drop  func(pkt []byte, from, to netip.AddrPort) bool
	sent  int
}

func (n *fakeNet) send(pkt []byte, local, remote netip.AddrPort) error {
	n.mu.Lock()
	dst := n.nodes[remote.Addr()]
	drop := n.drop
	n.sent++
	n.mu.Unlock()
	if dst == nil || (drop != nil && drop(pkt, local, remote)) {
		return nil
	}
	if len(pkt) == 1 && pkt[0] == 0xff {
		return nil // NAT keepalive
	}
	cp := append([]byte(nil), pkt...)
	go dst.HandlePacket(cp, remote, local)
	return nil
}

func (n *fakeNet) setDrop(f func(pkt []byte, from, to netip.AddrPort) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func count[T Event](r *recorder) (n int, last T) {
	for _, e := range r.all() {
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
	clock  *fakeClock
	net    *fakeNet
	a, b   *Manager
	ra, rb *recorder
	peerA  *Peer // A's config for B
	peerB  *Peer // B's config for A
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("IKE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type seededRand struct{ r *rand.ChaCha8 }

func (s seededRand) Read(p []byte) (int, error) { return s.r.Read(p) }

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
	p := &pair{t: t, clock: newFakeClock(), net: &fakeNet{nodes: map[netip.Addr]*Manager{}}, ra: &recorder{}, rb: &recorder{}}
	p.peerA = defaultPeer("toB", addrA, addrB)
	p.peerB = defaultPeer("toA", addrB, addrA)
	p.peerB.LocalTS, p.peerB.RemoteTS = p.peerA.RemoteTS, p.peerA.LocalTS
	mk := func(rec *recorder, peer **Peer, seed byte) *Manager {
		cfg := Config{
			Send:    p.net.send,
			Lookup:  func(local, remote netip.AddrPort, id *Identity) (*Peer, bool) { return *peer, true },
			OnEvent: rec.on, Clock: p.clock, Rand: seededRand{rand.NewChaCha8([32]byte{seed})},
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
	p.net.nodes[addrA] = p.a
	p.net.nodes[addrB] = p.b
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

// eventually polls cond in real time while the fake clock stands still.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
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
	for _, e := range r.all() {
		if c, ok := e.(ChildUp); ok {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return false })
	return out
}
