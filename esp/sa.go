package esp

import (
	"sync/atomic"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/replay"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// Lifetime holds an SA's soft and hard limits (RFC 4301 §4.4.2.1). Zero
// means no limit. Crossing a soft limit emits SoftExpire once so the control
// plane rekeys; crossing a hard limit emits HardExpire and the SA stops
// carrying traffic.
type Lifetime struct {
	SoftBytes, HardBytes     uint64 // inner bytes
	SoftPackets, HardPackets uint64
	SoftTime, HardTime       time.Duration // since the SA was installed
}

// SAConfig describes one ESP SA in tunnel mode.
type SAConfig struct {
	SPI      uint32
	Suite    xform.Suite
	EncKey   []byte // for AEAD suites including the salt (RFC 4106 §8.1)
	IntegKey []byte
	ESN      bool // 64-bit extended sequence numbers (RFC 4303 §2.2.1)
	Tunnel   TunnelID
	Lifetime Lifetime
}

// String describes the SA without its keys.
func (c SAConfig) String() string {
	return "spi=" + hex32(c.SPI)
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	var b [10]byte
	b[0], b[1] = '0', 'x'
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// Sequence number limits (RFC 4303 §3.3.3): a sender must not let the
// counter cycle; it stops sending and the SA must be rekeyed. SeqExhausted
// is reported seqReserve packets before the end so the rekey can finish.
const (
	maxSeq32   = 1<<32 - 1
	maxSeq64   = 1<<64 - 1
	seqReserve = 1 << 20
)

// saState is what inbound and outbound SAs share: identity, transform,
// lifetime accounting and counters.
type saState struct {
	spi    uint32
	tunnel *tunnel
	x      xform.Transform
	esn    bool
	life   Lifetime
	added  time.Time

	c         counters
	softFired atomic.Bool
	hardFired atomic.Bool
	expired   atomic.Bool // hard lifetime reached: carries no more traffic
	retired   atomic.Bool // replaced (outbound) or in its grace period (inbound)
}

// lifetimeCheck fires lifetime events when the running totals cross a
// byte or packet limit. Called from the in-order goroutines.
func (s *saState) lifetimeCheck(e *Engine, pkts, bytes uint64) {
	l := &s.life
	if l.HardPackets != 0 && pkts >= l.HardPackets || l.HardBytes != 0 && bytes >= l.HardBytes {
		s.hardExpire(e)
		return
	}
	if l.SoftPackets != 0 && pkts >= l.SoftPackets || l.SoftBytes != 0 && bytes >= l.SoftBytes {
		s.softExpire(e)
	}
}

// timeCheck fires time-based lifetime events; called by housekeeping.
func (s *saState) timeCheck(e *Engine, now time.Time) {
	age := now.Sub(s.added)
	if s.life.HardTime != 0 && age >= s.life.HardTime {
		s.hardExpire(e)
	} else if s.life.SoftTime != 0 && age >= s.life.SoftTime {
		s.softExpire(e)
	}
}

func (s *saState) softExpire(e *Engine) {
	if s.softFired.CompareAndSwap(false, true) {
		e.emit(Event{Kind: SoftExpire, Tunnel: s.tunnel.id, SPI: s.spi})
	}
}

func (s *saState) hardExpire(e *Engine) {
	s.softFired.Store(true)
	s.expired.Store(true)
	if s.hardFired.CompareAndSwap(false, true) {
		e.emit(Event{Kind: HardExpire, Tunnel: s.tunnel.id, SPI: s.spi})
	}
}

// outboundSA is the SA a tunnel encrypts with. The reader goroutine assigns
// sequence numbers in packet order with one atomic add.
type outboundSA struct {
	saState
	seq      atomic.Uint64 // last sequence number assigned; the first packet gets 1
	limit    uint64        // last usable sequence number
	warnAt   uint64        // SeqExhausted is emitted when this one is assigned
	innerMTU atomic.Int32  // largest inner packet for the tunnel's path MTU
}

// nextSeq assigns the packet's sequence number; ok=false means the space is
// exhausted and the packet must be dropped (never wrap, RFC 4303 §3.3.3).
func (sa *outboundSA) nextSeq(e *Engine) (uint64, bool) {
	seq := sa.seq.Add(1)
	if seq == sa.warnAt {
		e.emit(Event{Kind: SeqExhausted, Tunnel: sa.tunnel.id, SPI: sa.spi})
	}
	if seq > sa.limit || seq == 0 {
		sa.seq.Store(sa.limit) // keep it pinned so it never wraps to 0
		return 0, false
	}
	return seq, true
}

// inboundSA is an SA we decrypt with, found by SPI.
type inboundSA struct {
	saState
	win      *replay.Window
	top      atomic.Uint64 // highest accepted sequence number, for Stats
	removeAt atomic.Int64  // unix ns when RemoveInbound's grace ends; 0 = not scheduled
}
