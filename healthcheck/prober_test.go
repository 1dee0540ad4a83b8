package healthcheck

import (
	"testing"
	"time"
)

// fakeClock is a manual clock for the state machine.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestProberDownAfterRetriesUpAfterOne(t *testing.T) {
	const interval = 3 * time.Second
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := newProber(3, interval, 65534) // sequence numbers wrap during the test
	var changes []State
	step := func(changed bool) {
		if changed {
			changes = append(changes, p.stats.State)
		}
	}

	// One answered probe: unknown → up, RTT recorded.
	seq := p.send(clk.now())
	clk.advance(20 * time.Millisecond)
	step(p.reply(seq, clk.now()))
	if p.stats.State != StateUp || p.stats.LastRTT != 20*time.Millisecond {
		t.Fatalf("after first reply: %+v", p.stats)
	}
	// A duplicate reply changes nothing and is not counted as received.
	step(p.reply(seq, clk.now()))
	if p.stats.Received != 1 || p.stats.Late != 1 {
		t.Fatalf("duplicate counted: %+v", p.stats)
	}

	// The target dies. Probes at 3 s intervals; each expires one interval
	// later, when the next is sent. The third failure (retries 3) brings
	// it down, 9 s after the first unanswered probe was sent.
	clk.advance(interval - 20*time.Millisecond)
	firstLost := clk.now()
	var lastLost uint16
	for i := range 5 {
		step(p.expire(clk.now()))
		lastLost = p.send(clk.now())
		clk.advance(interval)
		step(p.expire(clk.now()))
		want := StateUp
		if i >= 2 {
			want = StateDown
		}
		if p.stats.State != want {
			t.Fatalf("after %d failures: state %v, want %v", i+1, p.stats.State, want)
		}
		if i == 2 && clk.now().Sub(firstLost) != 3*interval {
			t.Fatalf("down after %v, want %v", clk.now().Sub(firstLost), 3*interval)
		}
	}
	if p.stats.ConsecutiveFailures != 5 || p.stats.Lost != 5 {
		t.Fatalf("counters %+v", p.stats)
	}
	// A reply to a probe that already failed is late: still down.
	step(p.reply(lastLost, clk.now()))
	if p.stats.State != StateDown || p.stats.Late != 2 {
		t.Fatalf("late reply: %+v", p.stats)
	}
	// A reply to a sequence number never sent is ignored.
	step(p.reply(lastLost+100, clk.now()))
	if p.stats.Late != 2 || p.stats.State != StateDown {
		t.Fatalf("foreign reply: %+v", p.stats)
	}

	// One success brings it up again and resets the failure run.
	seq = p.send(clk.now())
	clk.advance(5 * time.Millisecond)
	step(p.reply(seq, clk.now()))
	if p.stats.State != StateUp || p.stats.ConsecutiveFailures != 0 || !p.stats.LastChange.Equal(clk.now()) {
		t.Fatalf("recovery: %+v", p.stats)
	}

	want := []State{StateUp, StateDown, StateUp}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v (each reported once)", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
	if p.stats.Sent != 7 || p.stats.Received != 2 {
		t.Fatalf("sent/received %+v", p.stats)
	}
}

func TestProberUnknownToDown(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := newProber(2, time.Second, 0)
	p.send(clk.now())
	clk.advance(999 * time.Millisecond)
	if p.expire(clk.now()) || p.stats.Lost != 0 {
		t.Fatal("probe expired before its timeout")
	}
	clk.advance(time.Millisecond)
	if p.expire(clk.now()) || p.stats.State != StateUnknown {
		t.Fatalf("one failure of two: %+v", p.stats)
	}
	seq := p.send(clk.now())
	if !p.sendFailed(seq, clk.now()) || p.stats.State != StateDown {
		t.Fatalf("send failure did not count: %+v", p.stats)
	}
	if p.sendFailed(seq, clk.now()) {
		t.Fatal("same probe failed twice")
	}
}

func TestProberOverlappingProbes(t *testing.T) {
	// Timeout longer than the interval: several probes in flight, replies
	// out of order.
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := newProber(3, 5*time.Second, 10)
	a := p.send(clk.now())
	clk.advance(time.Second)
	b := p.send(clk.now())
	if next, ok := p.nextExpiry(); !ok || !next.Equal(time.Unix(5, 0)) {
		t.Fatalf("nextExpiry = %v %v", next, ok)
	}
	clk.advance(time.Second)
	p.reply(b, clk.now())
	if p.stats.LastRTT != time.Second || p.stats.State != StateUp {
		t.Fatalf("%+v", p.stats)
	}
	clk.advance(3 * time.Second)
	p.expire(clk.now()) // a expires at 5 s
	if p.stats.Lost != 1 || p.stats.ConsecutiveFailures != 1 || p.stats.State != StateUp {
		t.Fatalf("%+v", p.stats)
	}
	if _, ok := p.nextExpiry(); ok {
		t.Fatal("nothing should be pending")
	}
	p.reply(a, clk.now())
	if p.stats.Late != 1 {
		t.Fatalf("late reply to a not counted: %+v", p.stats)
	}
}

func TestStateString(t *testing.T) {
	if StateUp.String() != "up" || StateDown.String() != "down" || StateUnknown.String() != "unknown" || State(9).String() != "State(9)" {
		t.Fatal("State.String")
	}
}
