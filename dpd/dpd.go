// Package dpd is the dead-peer-detection policy shared by IKEv1 (RFC 3706)
// and IKEv2 (RFC 7296 §2.4 liveness checks): when the peer has been silent
// for Delay, send a probe; when nothing valid has come back Timeout after
// the probe, the peer is dead. The package only decides; the IKE state
// machines send the probes (R-U-THERE or an empty INFORMATIONAL) and tear
// the SAs down. Time is passed in, so the policy is tested without a clock.
package dpd

import (
	"fmt"
	"time"
)

// Defaults follow the product specification: a probe after 30 s of
// silence, and 30 s without a valid answer to it means dead.
const (
	DefaultDelay   = 30 * time.Second
	DefaultTimeout = 30 * time.Second
)

// Config is the policy of one peer.
type Config struct {
	// Delay is the idle time after the last valid packet from the peer
	// before a probe is sent.
	Delay time.Duration
	// Timeout is how long after the first unanswered probe the peer is
	// declared dead.
	Timeout time.Duration
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Delay <= 0 {
		c.Delay = DefaultDelay
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Action is what the owner of a Monitor must do now.
type Action uint8

// Actions.
const (
	// None: nothing to do before the returned deadline.
	None Action = iota
	// Probe: send a liveness probe now, then call Probing.
	Probe
	// Dead: the peer did not answer within Timeout; tear down.
	Dead
)

func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case Probe:
		return "probe"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Monitor tracks one peer. It is not safe for concurrent use: the IKE SA
// goroutine that owns the SA owns its Monitor.
type Monitor struct {
	cfg      Config
	lastRecv time.Time // last valid (authenticated) packet from the peer
	probing  time.Time // when the first unanswered probe went out; zero if none
}

// New starts a monitor whose peer was last heard from at now.
func New(cfg Config, now time.Time) *Monitor {
	return &Monitor{cfg: cfg.withDefaults(), lastRecv: now}
}

// Config returns the effective configuration.
func (m *Monitor) Config() Config { return m.cfg }

// Received records a valid, authenticated packet from the peer: it ends any
// probe in progress. Unauthenticated packets must not be reported, or a
// forger could keep a dead peer alive (RFC 7296 §2.21).
func (m *Monitor) Received(now time.Time) {
	if now.After(m.lastRecv) {
		m.lastRecv = now
	}
	m.probing = time.Time{}
}

// Probing records that a probe (or any request that expects an answer)
// went out at now; the Timeout counts from the first such request.
func (m *Monitor) Probing(now time.Time) {
	if m.probing.IsZero() {
		m.probing = now
	}
}

// InProgress reports whether a probe is outstanding.
func (m *Monitor) InProgress() bool { return !m.probing.IsZero() }

// LastReceived is the time of the last valid packet from the peer.
func (m *Monitor) LastReceived() time.Time { return m.lastRecv }

// Next returns the action due at now and the time at which Next should be
// called again if the action is None.
func (m *Monitor) Next(now time.Time) (Action, time.Time) {
	if !m.probing.IsZero() {
		dead := m.probing.Add(m.cfg.Timeout)
		if !now.Before(dead) {
			return Dead, time.Time{}
		}
		return None, dead
	}
	due := m.lastRecv.Add(m.cfg.Delay)
	if !now.Before(due) {
		return Probe, time.Time{}
	}
	return None, due
}
