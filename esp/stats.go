package esp

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// DropReason says why the data plane discarded a packet. Drops are counted,
// never logged per packet.
type DropReason uint8

// Drop reasons. DropNone means the packet was not dropped.
const (
	DropNone         DropReason = iota
	DropICV                     // integrity check failed (RFC 4303 §3.4.4)
	DropReplay                  // duplicate or left of the replay window (§3.4.3)
	DropBadPadding              // padding bytes not 1, 2, 3… or pad length too long (§2.4)
	DropUnknownSPI              // no inbound SA for the SPI (§3.4.2)
	DropNoPolicy                // no policy matches the inner packet (RFC 4301 §5.1)
	DropNoSA                    // policy matches but its tunnel has no usable outbound SA
	DropTooBig                  // inner packet larger than the tunnel MTU
	DropQueueFull               // acquire queue or pipeline full
	DropSeqExhausted            // sequence number space used up (§3.3.3)
	DropMalformed               // unparseable packet (short, bad IP header, unknown next header)
	DropExpired                 // SA past its hard lifetime
	DropSelector                // decrypted inner packet outside the tunnel's selectors (RFC 4301 §5.2)
	DropIO                      // send or TUN write failed
	NumDropReasons              // number of reasons; the size of Counters.Drops
)

var dropNames = [NumDropReasons]string{
	"none", "icv", "replay", "bad_padding", "unknown_spi", "no_policy", "no_sa",
	"too_big", "queue_full", "seq_exhausted", "malformed", "expired", "selector", "io",
}

// String returns the metric label of the reason, e.g. "bad_padding".
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Counters is a snapshot of traffic counters. "In" is traffic received from
// the peer (decrypted), "Out" traffic sent to it (encrypted); bytes count
// inner packet bytes.
type Counters struct {
	PacketsIn, BytesIn   uint64
	PacketsOut, BytesOut uint64
	LastIn, LastOut      time.Time // zero when no packet yet
	Drops                [NumDropReasons]uint64
}

// TunnelStats is one tunnel's counters and state.
type TunnelStats struct {
	ID          TunnelID
	Remote      netip.AddrPort // current peer address (follows NAT changes)
	Encap       bool
	OutboundSPI uint32 // 0 when no outbound SA
	Queued      int    // packets waiting in the acquire queue
	Keepalives  uint64 // NAT keepalives sent
	Counters
}

// Direction tells inbound from outbound SAs.
type Direction uint8

// SA directions.
const (
	Inbound Direction = iota
	Outbound
)

// String returns "in" or "out".
func (d Direction) String() string {
	if d == Outbound {
		return "out"
	}
	return "in"
}

// SAStats is one SA's counters and state.
type SAStats struct {
	SPI       uint32
	Tunnel    TunnelID
	Direction Direction
	Seq       uint64 // outbound: last sequence number used; inbound: highest accepted
	Added     time.Time
	Retired   bool // outbound SA replaced by a newer one, or inbound SA in its grace period
	Expired   bool // hard lifetime reached
	Counters
}

// Stats is a snapshot of the whole data plane.
type Stats struct {
	Tunnels []TunnelStats
	SAs     []SAStats
	// Drops counts every drop, including those that belong to no tunnel
	// (unknown_spi, no_policy, malformed outer packets).
	Drops          [NumDropReasons]uint64
	KeepalivesIn   uint64 // NAT keepalives (0xFF) received
	IKEIn          uint64 // non-ESP-marker packets handed to OnIKE
	EventsDropped  uint64 // events lost because the event queue was full
	AcquireQueued  uint64 // packets queued while an SA was being negotiated
	ICMPTooBigSent uint64 // ICMP fragmentation-needed messages written to the TUN
}

// counters is the live, atomically updated form of Counters. The hot path
// updates it from the single in-order goroutine of each direction, so the
// atomics are uncontended; Stats reads them concurrently.
type counters struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	lastIn, lastOut      atomic.Int64 // unix nanoseconds
	drops                [NumDropReasons]atomic.Uint64
}

func (c *counters) snapshot() Counters {
	s := Counters{
		PacketsIn:  c.packetsIn.Load(),
		BytesIn:    c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(),
		BytesOut:   c.bytesOut.Load(),
		LastIn:     unixTime(c.lastIn.Load()),
		LastOut:    unixTime(c.lastOut.Load()),
	}
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
