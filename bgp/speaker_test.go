package bgp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("IGRT_BGP_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freePort returns a TCP port that was free on addr a moment ago.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// routeLog collects OnRoutes calls.
type routeLog struct {
	mu  sync.Mutex
	all []Learned
}

func (r *routeLog) add(ls []Learned) {
	r.mu.Lock()
	r.all = append(r.all, ls...)
	r.mu.Unlock()
}

func (r *routeLog) has(want Learned) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.all, want)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func established(s *Speaker, addr netip.Addr) bool {
	for _, n := range s.Neighbors() {
		if n.Address == addr {
			return n.State == StateEstablished
		}
	}
	return false
}

// TestTwoSpeakersLoopback runs an eBGP session between two Speakers on
// loopback addresses (127.0.0.1 and 127.0.0.2, unprivileged ports), without
// root: session up, routes exchanged both ways, withdrawals, neighbor removal.
func TestTwoSpeakersLoopback(t *testing.T) {
	ctx := context.Background()
	aAddr, bAddr := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	aPort, bPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	a, err := New(Config{ASN: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), ListenPort: aPort,
		ListenAddresses: []netip.Addr{aAddr}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{ASN: 45104, RouterID: netip.MustParseAddr("10.0.0.2"), ListenPort: bPort,
		ListenAddresses: []netip.Addr{bAddr}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var aLog, bLog routeLog
	a.OnRoutes(aLog.add)
	b.OnRoutes(bLog.add)
	for _, s := range []*Speaker{a, b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	// A dials (connect-retry 1 s: first attempt after 1–2 s), B waits.
	// B speaks as AS 64512 to A (a per-connection local ASN), not 45104.
	if err := a.AddNeighbor(ctx, Neighbor{Address: bAddr, PeerASN: 64512, LocalAddress: aAddr, Port: bPort, ConnectRetry: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNeighbor(ctx, Neighbor{Address: aAddr, PeerASN: 65001, LocalASN: 64512, LocalAddress: bAddr, Port: aPort, Passive: true}); err != nil {
		t.Fatal(err)
	}
	lanA := netip.MustParsePrefix("10.1.0.0/24")
	lanB := netip.MustParsePrefix("10.2.0.0/24")
	if err := a.Announce(ctx, lanA, aAddr); err != nil {
		t.Fatal(err)
	}
	if err := b.Announce(ctx, netip.MustParsePrefix("10.2.0.77/24"), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if got := b.Announced(); !slices.Equal(got, []netip.Prefix{lanB}) {
		t.Fatalf("Announced = %v (host bits must be cleared)", got)
	}
	d := waitFor(t, "session established", 15*time.Second, func() bool { return established(a, bAddr) && established(b, aAddr) })
	t.Logf("established after %v", d)

	// B's announcement had no next hop: GoBGP puts its session address.
	wantA := Learned{Prefix: lanB, NextHop: bAddr, Neighbor: bAddr}
	wantB := Learned{Prefix: lanA, NextHop: aAddr, Neighbor: aAddr}
	waitFor(t, "A learns B's prefix", 5*time.Second, func() bool { return aLog.has(wantA) })
	waitFor(t, "B learns A's prefix", 5*time.Second, func() bool { return bLog.has(wantB) })
	if got := a.Learned(); !slices.Equal(got, []Learned{wantA}) {
		t.Fatalf("A.Learned = %v", got)
	}
	n := b.Neighbors()
	if len(n) != 1 || n[0].PeerASN != 65001 || n[0].Received != 1 || n[0].Accepted != 1 {
		t.Fatalf("B.Neighbors = %+v", n)
	}

	// A late OnRoutes registration gets the current routes at once.
	var late routeLog
	a.OnRoutes(late.add)
	if !late.has(wantA) {
		t.Fatal("late OnRoutes did not receive the current routes")
	}

	// Withdraw on B: A reports the route withdrawn.
	if err := b.Withdraw(ctx, lanB); err != nil {
		t.Fatal(err)
	}
	gone := wantA
	gone.Withdrawn = true
	d = waitFor(t, "A sees the withdrawal", 5*time.Second, func() bool { return late.has(gone) })
	t.Logf("withdrawal seen after %v", d)
	if len(a.Learned()) != 0 {
		t.Fatalf("A still learns %v", a.Learned())
	}
	if err := b.Withdraw(ctx, lanB); err == nil {
		t.Fatal("second Withdraw succeeded")
	}

	// Removing the neighbor on A withdraws what A learned from B... and
	// on B what B learned from A, once the Cease arrives.
	if err := a.RemoveNeighbor(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	goneB := wantB
	goneB.Withdrawn = true
	waitFor(t, "B sees A's routes withdrawn", 10*time.Second, func() bool { return bLog.has(goneB) })
	if len(a.Neighbors()) != 0 {
		t.Fatalf("A still has neighbors %v", a.Neighbors())
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{RouterID: netip.MustParseAddr("10.0.0.1")},
		{ASN: 1, RouterID: netip.MustParseAddr("::1")},
		{ASN: 1},
		{ASN: 1, RouterID: netip.MustParseAddr("10.0.0.1"), ListenPort: 70000},
	}
	for _, c := range bad {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	s, err := New(Config{ASN: 45104, RouterID: netip.MustParseAddr("10.0.0.1"), ListenPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Announce(ctx, netip.MustParsePrefix("10.0.0.0/8"), netip.Addr{}); err != ErrNotStarted {
		t.Fatalf("Announce before Start: %v", err)
	}
	badN := []Neighbor{
		{PeerASN: 1},
		{Address: netip.MustParseAddr("169.254.10.2")},
		{Address: netip.MustParseAddr("169.254.10.2"), PeerASN: 1, LocalAddress: netip.MustParseAddr("fe80::1")},
		{Address: netip.MustParseAddr("169.254.10.2"), PeerASN: 1, HoldTime: 2 * time.Second},
		{Address: netip.MustParseAddr("169.254.10.2"), PeerASN: 1, Keepalive: 10 * time.Second},
	}
	for _, n := range badN {
		if _, err := s.peer(n); err == nil {
			t.Errorf("peer(%+v) accepted", n)
		}
	}
	p, err := s.peer(Neighbor{Address: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Timers.Config; c.HoldTime != 9 || c.KeepaliveInterval != 3 || c.ConnectRetry != 5 {
		t.Fatalf("default timers %+v, want 9/3/5", c)
	}
	if p.GracefulRestart != nil {
		t.Fatal("graceful restart configured")
	}
	if _, err := newPath(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParseAddr("fe80::1"), s.cfg); err == nil {
		t.Fatal("mixed-family path accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStartFailsOnMissingAddress pins the lab's pitfall: a listener on an
// address the host does not have fails Start (so the daemon must listen on
// the wildcard or add the tunnel address first).
func TestStartFailsOnMissingAddress(t *testing.T) {
	s, err := New(Config{ASN: 45104, RouterID: netip.MustParseAddr("10.0.0.1"), ListenPort: freePort(t, "127.0.0.1"),
		ListenAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.123")}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		s.Close()
		t.Fatal("Start listened on an address the host does not have")
	}
	if err := s.AddNeighbor(context.Background(), Neighbor{Address: netip.MustParseAddr("127.0.0.9"), PeerASN: 1}); err != ErrNotStarted {
		t.Fatalf("AddNeighbor after failed Start: %v", err)
	}
}

func TestSessionStateString(t *testing.T) {
	if StateEstablished.String() != "Established" || StateOpenConfirm.String() != "OpenConfirm" || SessionState(42).String() != "SessionState(42)" {
		t.Fatal("SessionState.String")
	}
	for s := StateUnknown; s <= StateEstablished; s++ {
		b, _ := s.MarshalText()
		var back SessionState
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("round trip of %v: %v %v", s, back, err)
		}
	}
	var x SessionState
	if x.UnmarshalText([]byte("Bogus")) == nil {
		t.Fatal("UnmarshalText accepted Bogus")
	}
}
