// Package fakenet runs IKE managers of ike/v1 and ike/v2 against each other
// in one process, for their unit tests: a manual clock whose timers fire
// only when the test advances it, a network that hands datagrams from one
// manager to another by address (with a drop hook and an optional NAT),
// an event recorder, a seeded random source and a test logger. It is an
// ordinary package so that both negotiators' tests share one copy; nothing
// outside tests uses it.
package fakenet

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/internal/timing"
)

// Clock is a manual clock: timers fire when the test advances it.
type Clock struct {
	settle time.Duration

	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

type timer struct {
	c       chan time.Time
	at      time.Time
	stopped bool
	clock   *Clock
}

// NewClock returns a Clock at a fixed instant whose Advance sleeps settle
// of real time after each step, so that the SA goroutines run.
func NewClock(settle time.Duration) *Clock {
	return &Clock{settle: settle, now: time.Unix(1_700_000_000, 0)}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer due d after Now; one with d ≤ 0 has fired.
func (c *Clock) NewTimer(d time.Duration) timing.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: make(chan time.Time, 1), at: c.now.Add(d), clock: c}
	if d <= 0 {
		t.c <- c.now
		t.stopped = true
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *timer) C() <-chan time.Time { return t.c }

func (t *timer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward by d in steps, firing due timers and letting
// the SA goroutines run between steps.
func (c *Clock) Advance(d, step time.Duration) {
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
		var live []*timer
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
		time.Sleep(c.settle)
	}
}

// Node is a manager on the network.
type Node interface {
	HandlePacket(pkt []byte, local, remote netip.AddrPort)
}

// Net delivers datagrams between nodes by address, each on its own
// goroutine as from a socket reader, with a hook that may drop (or hold)
// a datagram, and an optional NAT in front of one address.
type Net struct {
	mu    sync.Mutex
	nodes map[netip.Addr]Node
	drop  func(pkt []byte, from, to netip.AddrPort) bool
	sent  int
	// NAT in front of inside: its source becomes natAddr:port+1000 and
	// replies to that are translated back.
	inside, natAddr netip.Addr
}

// NewNet returns an empty network.
func NewNet() *Net { return &Net{nodes: map[netip.Addr]Node{}} }

// Attach makes node receive what is sent to addr (replacing any other).
func (n *Net) Attach(addr netip.Addr, node Node) {
	n.mu.Lock()
	n.nodes[addr] = node
	n.mu.Unlock()
}

// SetNAT puts a NAT in front of inside: datagrams from it leave from
// natAddr with the port plus 1000, and datagrams to that are translated
// back.
func (n *Net) SetNAT(inside, natAddr netip.Addr) {
	n.mu.Lock()
	n.inside, n.natAddr = inside, natAddr
	n.mu.Unlock()
}

// Send is a Config.Send: it counts the datagram, translates it at the
// NAT, and delivers a copy unless nobody has the address, the drop hook
// takes it, or it is a NAT keepalive (RFC 3948 §2.3).
func (n *Net) Send(pkt []byte, local, remote netip.AddrPort) error {
	n.mu.Lock()
	drop := n.drop
	n.sent++
	if n.natAddr.IsValid() && local.Addr() == n.inside {
		local = netip.AddrPortFrom(n.natAddr, local.Port()+1000)
	}
	if n.natAddr.IsValid() && remote.Addr() == n.natAddr {
		remote = netip.AddrPortFrom(n.inside, remote.Port()-1000)
	}
	dst := n.nodes[remote.Addr()]
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

// Sent returns how many datagrams were sent (dropped ones included).
func (n *Net) Sent() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// SetDrop installs the drop hook (nil for none). It sees the addresses
// after NAT and returns true to drop the datagram.
func (n *Net) SetDrop(f func(pkt []byte, from, to netip.AddrPort) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

// Recorder collects events (a Config.OnEvent).
type Recorder[E any] struct {
	mu     sync.Mutex
	events []E
}

// On records e.
func (r *Recorder[E]) On(e E) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// All returns the events so far, oldest first.
func (r *Recorder[E]) All() []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]E(nil), r.events...)
}

// Of returns the recorded events of type T, oldest first.
func Of[T, E any](r *Recorder[E]) []T {
	var out []T
	for _, e := range r.All() {
		if x, ok := any(e).(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// seeded serialises reads: a Manager reads its Rand from several
// goroutines (HandlePacket's callers and SA goroutines), and ChaCha8 is
// not safe for concurrent use, unlike crypto/rand.Reader.
type seeded struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (s *seeded) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// Rand returns a deterministic random source (ChaCha8 keyed by seed), so
// that two managers draw different sequences, and one safe for concurrent
// use.
func Rand(seed byte) io.Reader { return &seeded{r: rand.NewChaCha8([32]byte{seed})} }

// Logger discards, or logs at debug level to stderr when IKE_DEBUG is set.
func Logger() *slog.Logger {
	if os.Getenv("IKE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Eventually polls cond every 2 ms of real time (while the fake clock
// stands still) and fails the test if it is not true within timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
