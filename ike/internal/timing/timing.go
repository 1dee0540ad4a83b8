// Package timing holds what the IKEv1 and IKEv2 negotiators (ike/v1,
// ike/v2) share to schedule an SA's events: the injectable clock and its
// one-shot timers, the request retransmission schedule, and the random
// jitter that keeps two ends from rekeying at the same instant. ike/v2
// re-exports Clock, Timer and Retransmit under its own names.
package timing

import (
	"encoding/binary"
	"io"
	"time"
)

// Clock is the time source of a Manager; tests use a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer created by a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Retransmit parameterises request retransmission (RFC 7296 §2.1, and
// likewise for IKEv1, RFC 2408 §5.1 leaving the timers to the
// implementation): a request is resent after Initial, then after intervals
// multiplied by Factor up to Max, and given up after Timeout (the peer is
// then dead). With DPD on, the peer's DPD timeout replaces Timeout.
type Retransmit struct {
	Initial time.Duration // default 2 s
	Factor  float64       // default 2
	Max     time.Duration // default 16 s
	Timeout time.Duration // default 30 s
}

// WithDefaults returns r with every unset (or unusable) field at its
// default.
func (r Retransmit) WithDefaults() Retransmit {
	if r.Initial <= 0 {
		r.Initial = 2 * time.Second
	}
	if r.Factor < 1 {
		r.Factor = 2
	}
	if r.Max <= 0 {
		r.Max = 16 * time.Second
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	return r
}

// Next returns the interval that follows interval: multiplied by Factor,
// at most Max.
func (r Retransmit) Next(interval time.Duration) time.Duration {
	return min(time.Duration(float64(interval)*r.Factor), r.Max)
}

// Jitter returns a random duration in [0, d) drawn from r, or 0 when d is
// not positive.
func Jitter(r io.Reader, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	var b [8]byte
	io.ReadFull(r, b[:])
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(d))
}
