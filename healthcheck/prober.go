package healthcheck

import (
	"fmt"
	"time"
)

// State is the health of the target as the prober sees it.
type State uint8

// Target states.
const (
	// StateUnknown: no probe has been answered yet and fewer than Retries
	// have failed. The connection's routes stay as they are.
	StateUnknown State = iota
	// StateUp: the last probe that completed was answered.
	StateUp
	// StateDown: Retries consecutive probes went unanswered.
	StateDown
)

// String returns "unknown", "up" or "down".
func (s State) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText makes the state read as its name in JSON and YAML output.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Stats are the prober's counters, for status output and metrics.
type Stats struct {
	// State is the current verdict.
	State State
	// Sent counts echo requests sent (or attempted: a send that fails
	// counts, and fails the probe).
	Sent uint64
	// Received counts matching echo replies that arrived in time.
	Received uint64
	// Lost counts probes that failed: no reply within Timeout, or a send
	// that failed.
	Lost uint64
	// Late counts replies to recent probes that were no longer waiting:
	// mostly answers that came after their probe's Timeout (the RTT is
	// longer than Timeout), also duplicated replies.
	Late uint64
	// ConsecutiveFailures is the current run of failed probes.
	ConsecutiveFailures int
	// LastRTT is the round-trip time of the last answered probe.
	LastRTT time.Duration
	// LastChange is when State last changed; zero while unknown.
	LastChange time.Time
}

// prober is the health-check state machine, apart from sockets and timers
// so that unit tests drive it with a fake clock. Every method takes the
// current time; none blocks. It is not safe for concurrent use.
type prober struct {
	retries int
	timeout time.Duration

	// nextSeq is the sequence number of the next probe.
	nextSeq uint16
	// pending maps the sequence number of each unanswered probe to the
	// time it was sent. Probes leave it when answered or expired.
	pending map[uint16]time.Time
	stats   Stats
}

func newProber(retries int, timeout time.Duration, firstSeq uint16) *prober {
	return &prober{retries: retries, timeout: timeout, nextSeq: firstSeq, pending: make(map[uint16]time.Time)}
}

// send records a probe sent at now and returns its sequence number.
func (p *prober) send(now time.Time) uint16 {
	seq := p.nextSeq
	p.nextSeq++
	p.stats.Sent++
	p.pending[seq] = now
	return seq
}

// sendFailed fails probe seq at once: a probe that could not be sent will
// not be answered. It reports whether the state changed.
func (p *prober) sendFailed(seq uint16, now time.Time) bool {
	if _, ok := p.pending[seq]; !ok {
		return false
	}
	delete(p.pending, seq)
	return p.fail(now)
}

// reply handles an echo reply for seq received at now. Replies to unknown,
// already answered or already failed probes change nothing (those to recent
// probes count as Late). It reports whether the state changed.
func (p *prober) reply(seq uint16, now time.Time) bool {
	sent, ok := p.pending[seq]
	if !ok {
		if p.wasSent(seq) {
			p.stats.Late++
		}
		return false
	}
	delete(p.pending, seq)
	p.stats.Received++
	p.stats.LastRTT = now.Sub(sent)
	p.stats.ConsecutiveFailures = 0
	// One answered probe is enough to declare the target up again.
	return p.setState(StateUp, now)
}

// wasSent reports whether seq lies in the window of recently sent probes
// (so that a reply for it is late rather than foreign).
func (p *prober) wasSent(seq uint16) bool {
	return p.stats.Sent > 0 && uint64(p.nextSeq-seq-1) < min(p.stats.Sent, 1<<15)
}

// expire fails every pending probe sent at least timeout before now, oldest
// first. It reports whether the state changed.
func (p *prober) expire(now time.Time) bool {
	changed := false
	for {
		seq, sent, ok := p.oldest()
		if !ok || now.Sub(sent) < p.timeout {
			return changed
		}
		delete(p.pending, seq)
		if p.fail(now) {
			changed = true
		}
	}
}

// nextExpiry returns when the oldest pending probe fails if unanswered.
func (p *prober) nextExpiry() (time.Time, bool) {
	_, sent, ok := p.oldest()
	return sent.Add(p.timeout), ok
}

func (p *prober) oldest() (seq uint16, sent time.Time, ok bool) {
	for s, t := range p.pending {
		if !ok || t.Before(sent) {
			seq, sent, ok = s, t, true
		}
	}
	return seq, sent, ok
}

func (p *prober) fail(now time.Time) bool {
	p.stats.Lost++
	p.stats.ConsecutiveFailures++
	if p.stats.ConsecutiveFailures >= p.retries {
		return p.setState(StateDown, now)
	}
	return false
}

func (p *prober) setState(s State, now time.Time) bool {
	if p.stats.State == s {
		return false
	}
	p.stats.State = s
	p.stats.LastChange = now
	return true
}
