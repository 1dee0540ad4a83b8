package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeTarget is an in-memory host answering echo requests, with switches to
// drop them, fail sends, or refuse to open sockets.
type fakeTarget struct {
	mu       sync.Mutex
	drop     bool
	sendErr  error
	dialErr  error
	dials    int
	lastID   uint16
	lastConn *fakeConn
}

type fakeEcho struct {
	seq     uint16
	payload []byte
}

type fakeConn struct {
	t      *fakeTarget
	ch     chan fakeEcho
	closed chan struct{}
	once   sync.Once
}

func (f *fakeTarget) dial(src, dst netip.Addr, id uint16) (Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dials++
	if f.dialErr != nil {
		return nil, f.dialErr
	}
	f.lastID = id
	f.lastConn = &fakeConn{t: f, ch: make(chan fakeEcho, 64), closed: make(chan struct{})}
	return f.lastConn, nil
}

func (f *fakeTarget) set(fn func(*fakeTarget)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (c *fakeConn) Send(seq uint16, payload []byte) error {
	c.t.mu.Lock()
	drop, err := c.t.drop, c.t.sendErr
	c.t.mu.Unlock()
	if err != nil {
		return err
	}
	if !drop {
		c.ch <- fakeEcho{seq, bytes.Clone(payload)}
	}
	return nil
}

func (c *fakeConn) Recv() (uint16, []byte, error) {
	select {
	case e := <-c.ch:
		return e.seq, e.payload, nil
	case <-c.closed:
		return 0, nil, errors.New("closed")
	}
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runChecker starts c.Run and returns a channel of the reported changes.
func runChecker(t *testing.T, cfg Config) (*Checker, <-chan bool) {
	t.Helper()
	changes := make(chan bool, 16)
	c, err := New(cfg, func(up bool) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	return c, changes
}

func expectChange(t *testing.T, changes <-chan bool, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case up := <-changes:
		if up != want {
			t.Fatalf("reported up=%v, want %v", up, want)
		}
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("no change to up=%v within %v", want, within)
		return 0
	}
}

func expectNoChange(t *testing.T, changes <-chan bool, d time.Duration) {
	t.Helper()
	select {
	case up := <-changes:
		t.Fatalf("unexpected change up=%v", up)
	case <-time.After(d):
	}
}

func testConfig(f *fakeTarget) Config {
	return Config{
		Destination: netip.MustParseAddr("10.1.0.10"),
		Source:      netip.MustParseAddr("10.2.0.1"),
		Interval:    20 * time.Millisecond,
		Timeout:     100 * time.Millisecond,
		Retries:     3,
		Logger:      quietLogger(),
		Dial:        f.dial,
	}
}

// checkGoroutines fails the test if goroutines started during it (Run and
// its socket reader) are still alive a moment after the cleanups ran.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines leaked:\n%s", runtime.NumGoroutine()-before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestRunUpDownUp(t *testing.T) {
	checkGoroutines(t) // registered first, so it runs after Run's cleanup
	f := &fakeTarget{}
	c, changes := runChecker(t, testConfig(f))
	expectChange(t, changes, true, time.Second)
	expectNoChange(t, changes, 100*time.Millisecond)
	if s := c.Stats(); s.State != StateUp || s.Received == 0 || s.Sent < s.Received {
		t.Fatalf("stats %+v", s)
	}

	f.set(func(f *fakeTarget) { f.drop = true })
	d := expectChange(t, changes, false, time.Second)
	// Three failures: the first dropped probe expires after Timeout, the
	// next two 1 and 2 intervals later.
	if d < 100*time.Millisecond {
		t.Fatalf("down after %v, before one timeout", d)
	}
	expectNoChange(t, changes, 100*time.Millisecond)
	if s := c.Stats(); s.State != StateDown || s.ConsecutiveFailures < 3 || s.Lost < 3 {
		t.Fatalf("stats %+v", s)
	}

	f.set(func(f *fakeTarget) { f.drop = false })
	expectChange(t, changes, true, time.Second)
	if s := c.Stats(); s.ConsecutiveFailures != 0 || s.LastRTT <= 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRunIgnoresForeignPayload(t *testing.T) {
	f := &fakeTarget{}
	cfg := testConfig(f)
	c, changes := runChecker(t, cfg)
	expectChange(t, changes, true, time.Second)
	f.set(func(f *fakeTarget) { f.drop = true })
	expectChange(t, changes, false, time.Second)
	// Replies with our sequence numbers but another prober's payload
	// (same ID by chance) must not bring the target up.
	f.mu.Lock()
	conn := f.lastConn
	f.mu.Unlock()
	seq := c.Stats().Sent
	for i := range 50 {
		conn.ch <- fakeEcho{uint16(int(seq) + i), []byte("someone else")}
	}
	expectNoChange(t, changes, 150*time.Millisecond)
}

func TestRunSocketFailures(t *testing.T) {
	checkGoroutines(t)
	// The source address does not exist yet: every probe fails.
	f := &fakeTarget{dialErr: errors.New("bind: cannot assign requested address")}
	c, changes := runChecker(t, testConfig(f))
	expectChange(t, changes, false, time.Second)
	if s := c.Stats(); s.Received != 0 || s.Lost < 3 {
		t.Fatalf("stats %+v", s)
	}
	f.set(func(f *fakeTarget) { f.dialErr = nil })
	expectChange(t, changes, true, time.Second)

	// A send error closes the socket; the next probe opens a new one.
	f.set(func(f *fakeTarget) { f.sendErr = errors.New("network is unreachable") })
	expectChange(t, changes, false, time.Second)
	f.mu.Lock()
	dials := f.dials
	f.mu.Unlock()
	f.set(func(f *fakeTarget) { f.sendErr = nil })
	expectChange(t, changes, true, time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dials <= dials {
		t.Fatalf("socket not re-opened after send errors (%d dials)", f.dials)
	}
}

func TestNewValidatesAndDefaults(t *testing.T) {
	src, dst := netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.1.0.10")
	for _, cfg := range []Config{
		{Source: src},
		{Destination: dst},
		{Destination: dst, Source: netip.MustParseAddr("fd00::1")},
		{Destination: dst, Source: src, Retries: -1},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	c, err := New(Config{Destination: dst, Source: src, Rand: bytes.NewReader(make([]byte, 12))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Interval != 3*time.Second || c.cfg.Retries != 3 || c.cfg.Timeout != 3*time.Second {
		t.Fatalf("defaults %v/%v/%v, want 3s/3/3s", c.cfg.Interval, c.cfg.Retries, c.cfg.Timeout)
	}
	if _, err := New(Config{Destination: dst, Source: src, Rand: bytes.NewReader(nil)}, nil); err == nil {
		t.Fatal("New with an empty random source succeeded")
	}
}
