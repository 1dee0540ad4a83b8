package bgp

import (
	"fmt"
	"net/netip"
	"time"
)

// SessionState is a BGP finite-state-machine state (RFC 4271 §8.2.2).
type SessionState uint8

// Session states, in the order a session normally passes through them.
const (
	StateUnknown SessionState = iota
	// StateIdle refuses connections; GoBGP sits here for 5 s after a
	// session drops (its fixed idle hold time) before trying again.
	StateIdle
	// StateConnect waits for the TCP connection to complete.
	StateConnect
	// StateActive listens for the peer and retries the connection every
	// ConnectRetry.
	StateActive
	// StateOpenSent has sent OPEN and waits for the peer's.
	StateOpenSent
	// StateOpenConfirm has both OPENs and waits for a KEEPALIVE.
	StateOpenConfirm
	// StateEstablished exchanges UPDATEs.
	StateEstablished
)

// String returns the RFC 4271 name of the state.
func (s SessionState) String() string {
	switch s {
	case StateUnknown:
		return "Unknown"
	case StateIdle:
		return "Idle"
	case StateConnect:
		return "Connect"
	case StateActive:
		return "Active"
	case StateOpenSent:
		return "OpenSent"
	case StateOpenConfirm:
		return "OpenConfirm"
	case StateEstablished:
		return "Established"
	}
	return fmt.Sprintf("SessionState(%d)", uint8(s))
}

// MarshalText makes the state read as its name in JSON and YAML status output.
func (s SessionState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a name produced by MarshalText.
func (s *SessionState) UnmarshalText(b []byte) error {
	for c := StateUnknown; c <= StateEstablished; c++ {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("bgp: unknown session state %q", b)
}

// NeighborState is a snapshot of one neighbor for status output and metrics.
type NeighborState struct {
	// Address is the neighbor's address as configured.
	Address netip.Addr
	// PeerASN is the neighbor's configured AS number.
	PeerASN uint32
	// State is the session state.
	State SessionState
	// Uptime is how long the session has been Established; zero otherwise.
	Uptime time.Duration
	// Received counts the prefixes in the neighbor's Adj-RIB-In.
	Received uint64
	// Accepted counts the received prefixes import policy accepted.
	Accepted uint64
}

// Learned is a change in the best route to a prefix learned from a neighbor.
type Learned struct {
	// Prefix is the destination.
	Prefix netip.Prefix
	// NextHop is the BGP next hop (for eBGP over the tunnel: the peer's
	// tunnel address).
	NextHop netip.Addr
	// Neighbor is the neighbor the route came from.
	Neighbor netip.Addr
	// Withdrawn reports that no neighbor offers the prefix any more (or
	// that a locally announced route became best); NextHop and Neighbor
	// then name the route that went away.
	Withdrawn bool
}

// String formats the change for logs.
func (l Learned) String() string {
	if l.Withdrawn {
		return fmt.Sprintf("withdrawn %v (was via %v from %v)", l.Prefix, l.NextHop, l.Neighbor)
	}
	return fmt.Sprintf("%v via %v from %v", l.Prefix, l.NextHop, l.Neighbor)
}
