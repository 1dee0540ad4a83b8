package v2

import (
	"testing"
	"time"
)

// TestRekeyDelay: rekeys start a margin (10 %, at least min(lifetime/3,
// 30 s)) before the hard expiry, minus up to 5 % of jitter.
func TestRekeyDelay(t *testing.T) {
	p := newPair(t, nil)
	for _, c := range []struct{ lt, lo, hi time.Duration }{
		{6 * time.Second, 3700 * time.Millisecond, 4000 * time.Millisecond},
		{time.Hour, 54*time.Minute - 3*time.Minute, 54 * time.Minute},
		{86400 * time.Second, 77760*time.Second - 4320*time.Second, 77760 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for i := 0; i < 100; i++ {
			d := p.a.rekeyDelay(c.lt)
			if d < c.lo || d > c.hi {
				t.Fatalf("rekey delay %v for lifetime %v, want [%v, %v]", d, c.lt, c.lo, c.hi)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Fatalf("no jitter: %d distinct delays", len(seen))
		}
	}
}
