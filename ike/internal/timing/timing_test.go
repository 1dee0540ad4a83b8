package timing

import (
	"math/rand/v2"
	"testing"
	"time"
)

type chacha struct{ r *rand.ChaCha8 }

func (c chacha) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestJitter: values fall in [0, d), vary, and d ≤ 0 gives 0.
func TestJitter(t *testing.T) {
	r := chacha{rand.NewChaCha8([32]byte{1})}
	seen := map[time.Duration]bool{}
	for range 200 {
		j := Jitter(r, time.Second)
		if j < 0 || j >= time.Second {
			t.Fatalf("Jitter = %v, outside [0, 1s)", j)
		}
		seen[j] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct values", len(seen))
	}
	if Jitter(r, 0) != 0 || Jitter(r, -time.Second) != 0 {
		t.Fatal("Jitter of a non-positive span is not 0")
	}
}

// TestRetransmit: defaults fill unset fields only, and the backoff
// multiplies up to Max.
func TestRetransmit(t *testing.T) {
	r := Retransmit{Initial: time.Second, Factor: 0.5}.WithDefaults()
	want := Retransmit{Initial: time.Second, Factor: 2, Max: 16 * time.Second, Timeout: 30 * time.Second}
	if r != want {
		t.Fatalf("WithDefaults = %+v, want %+v", r, want)
	}
	var got []time.Duration
	for d := r.Initial; len(got) < 6; d = r.Next(d) {
		got = append(got, d)
	}
	for i, w := range []time.Duration{1, 2, 4, 8, 16, 16} {
		if got[i] != w*time.Second {
			t.Fatalf("schedule %v, want 1 2 4 8 16 16 s", got)
		}
	}
	r = Retransmit{Factor: 1.5}.WithDefaults()
	if r.Next(2*time.Second) != 3*time.Second {
		t.Fatalf("Next(2s) with factor 1.5 = %v", r.Next(2*time.Second))
	}
}

// TestRealClock: a real timer fires and Now advances.
func TestRealClock(t *testing.T) {
	c := RealClock{}
	start := c.Now()
	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
	if !c.Now().After(start) {
		t.Fatal("clock did not advance")
	}
	if c.NewTimer(time.Hour).Stop() != true {
		t.Fatal("Stop of a pending timer returned false")
	}
}
