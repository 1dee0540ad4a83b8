// Package v2 is the IKEv2 negotiator (RFC 7296): initiator and responder
// of IKE_SA_INIT, IKE_AUTH with pre-shared keys, CREATE_CHILD_SA (new,
// rekeyed and IKE-rekeying exchanges) and INFORMATIONAL (delete and
// liveness), with NAT traversal (§2.23) and cookies (§2.6).
//
// The shape follows crypto/tls and strongSwan's libcharon: one goroutine
// per IKE SA (sa.go) owns all of its state and is fed by Manager.HandlePacket,
// which demultiplexes on the local SPI. Each exchange is a straight-line
// pair of methods — build the request, process it at the responder, build
// the reply, process the reply — in init.go, auth.go, child.go and
// informational.go; message IDs, the window of size one and retransmission
// live in window.go. The package never touches sockets or the data plane:
// datagrams leave through Config.Send and negotiated CHILD_SAs through
// Config.OnEvent.
package v2

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/internal/timing"
	"github.com/ipsecgw/ipsecgw/ike/spialloc"
)

// Standard ports (RFC 7296 §2, RFC 3948).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// Clock is the time source of a Manager; tests use a fake one. It is
// shared with ike/v1.
type Clock = timing.Clock

// Timer is a one-shot timer created by a Clock.
type Timer = timing.Timer

// Retransmit parameterises request retransmission (RFC 7296 §2.1): a
// request is resent after Initial, then after intervals multiplied by
// Factor up to Max, and given up after Timeout (the peer is then dead).
// With DPD on, the peer's DPD timeout replaces Timeout. Defaults: 2 s,
// factor 2, 16 s, 30 s. ike/v1 uses the same type.
type Retransmit = timing.Retransmit

// Config wires a Manager to the outside world.
type Config struct {
	// Send transmits one IKE datagram. A send from local port 4500 must be
	// prefixed with the non-ESP marker by the transport (RFC 3948 §2.2),
	// except a NAT-keepalive (the single octet 0xFF), which goes as is.
	Send func(pkt []byte, local, remote netip.AddrPort) error
	// Lookup finds the configuration of a peer that initiates to us: with
	// id nil at IKE_SA_INIT (by addresses), then again with the peer's
	// IDi at IKE_AUTH. Nil or !ok refuses the peer.
	Lookup func(local, remote netip.AddrPort, id *Identity) (*Peer, bool)
	// OnEvent receives SA events. It is called from SA goroutines and must
	// not block; it may call Initiate, Terminate and Rekey.
	OnEvent func(Event)
	// Clock defaults to the wall clock.
	Clock Clock
	// Rand defaults to crypto/rand.Reader.
	Rand io.Reader
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Retransmit parameters.
	Retransmit Retransmit
	// CookieThreshold is the number of half-open responder SAs above which
	// IKE_SA_INIT requests must carry a cookie (RFC 7296 §2.6). 0 means 64;
	// negative means always.
	CookieThreshold int
	// HalfOpenTimeout bounds how long a responder SA may wait for
	// IKE_AUTH. Default 30 s.
	HalfOpenTimeout time.Duration
	// SPIs allocates our inbound ESP SPIs. Every negotiator feeding one
	// ESP engine (whose inbound table is keyed by SPI, RFC 4303 §2.1) must
	// share one allocator, as the gateway does for ike/v1 and this package.
	// Nil gives the Manager a private one drawing from Rand.
	SPIs *spialloc.Allocator
}

// Identity is an IKE identity (RFC 7296 §3.5) as configured: an IP address
// (ID_IPV4_ADDR / ID_IPV6_ADDR) or anything else as ID_FQDN.
type Identity string

// Peer is one connection's IKE configuration.
type Peer struct {
	// Name identifies the connection in events and commands.
	Name string
	// Local and Remote are the IKE endpoints' addresses (ports 500/4500).
	Local, Remote netip.Addr
	// LocalID and RemoteID default to the addresses. A configured RemoteID
	// must match the peer's ID exactly.
	LocalID, RemoteID Identity
	// PSK is the pre-shared key.
	PSK []byte
	// IKE lists acceptable IKE SA suites in preference order (each becomes
	// one proposal).
	IKE []ikecrypto.IKESuite
	// ESP lists acceptable CHILD_SA suites; DH is the PFS group used by
	// CREATE_CHILD_SA (0: no PFS). The first CHILD_SA, made by IKE_AUTH,
	// never has a DH exchange (RFC 7296 §1.2).
	ESP []ikecrypto.ChildSuite
	// IKELifetime and ChildLifetime are the hard lifetimes; rekeying starts
	// earlier (about 90 % minus jitter). 0 means no limit.
	IKELifetime, ChildLifetime time.Duration
	// LocalTS and RemoteTS are the protected subnets; empty means all
	// addresses of the peers' family.
	LocalTS, RemoteTS []netip.Prefix
	// DPD turns liveness checks on, after DPDDelay of silence; the peer is
	// dead DPDTimeout after an unanswered request (defaults 30 s / 30 s).
	DPD                  bool
	DPDDelay, DPDTimeout time.Duration
	// NATT enables NAT detection and the move to port 4500 (RFC 7296
	// §2.23). ForceEncap additionally pretends a NAT in front of us so that
	// the peer encapsulates ESP in UDP even without NAT.
	NATT, ForceEncap bool
}

func (p *Peer) localID() Identity {
	if p.LocalID != "" {
		return p.LocalID
	}
	return Identity(p.Local.String())
}

func (p *Peer) validate() error {
	if p.Name == "" {
		return fmt.Errorf("v2: peer without name")
	}
	if !p.Local.IsValid() || !p.Remote.IsValid() {
		return fmt.Errorf("v2: peer %s: local and remote addresses are required", p.Name)
	}
	if len(p.IKE) == 0 || len(p.ESP) == 0 {
		return fmt.Errorf("v2: peer %s: no IKE or ESP proposal", p.Name)
	}
	for _, s := range p.IKE {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("v2: peer %s: %w", p.Name, err)
		}
	}
	if len(p.PSK) == 0 {
		return fmt.Errorf("v2: peer %s: empty PSK", p.Name)
	}
	return nil
}

// Reason says why an SA went down.
type Reason uint8

// Reasons.
const (
	ReasonNone           Reason = iota
	ReasonDeleted               // deleted locally (Terminate)
	ReasonPeerDeleted           // the peer sent a Delete
	ReasonDeadPeer              // no valid answer within the DPD/retransmit timeout
	ReasonAuthFailed            // AUTHENTICATION_FAILED either way
	ReasonNoProposal            // NO_PROPOSAL_CHOSEN
	ReasonTSUnacceptable        // TS_UNACCEPTABLE
	ReasonRekeyed               // replaced by a rekeyed SA (nothing to tear down)
	ReasonExpired               // hard lifetime reached
	ReasonProtocolError         // the peer sent an error or something unusable
	ReasonTimeout               // negotiation did not complete
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonDeleted:
		return "deleted"
	case ReasonPeerDeleted:
		return "deleted by peer"
	case ReasonDeadPeer:
		return "dead peer"
	case ReasonAuthFailed:
		return "authentication failed"
	case ReasonNoProposal:
		return "no proposal chosen"
	case ReasonTSUnacceptable:
		return "traffic selectors unacceptable"
	case ReasonRekeyed:
		return "rekeyed"
	case ReasonExpired:
		return "expired"
	case ReasonProtocolError:
		return "protocol error"
	case ReasonTimeout:
		return "negotiation timeout"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Event is one of IKEUp, IKEDown, ChildUp, ChildDown, PeerMoved.
type Event interface{ event() }

// IKEUp: an IKE SA is established (or replaced one by rekeying).
type IKEUp struct {
	Peer          string
	SPIi, SPIr    uint64
	Local, Remote netip.AddrPort
	Initiator     bool
	Suite         ikecrypto.IKESuite
	Rekeyed       bool // replaces the IKE SA with ReplacesSPIi/ReplacesSPIr
	ReplacesSPIi  uint64
	ReplacesSPIr  uint64
}

// IKEDown: an IKE SA is gone (or failed to come up). Its CHILD_SAs are
// reported down first, except with ReasonRekeyed where they moved.
type IKEDown struct {
	Peer       string
	SPIi, SPIr uint64
	Reason     Reason
	Err        error // details, may be nil
}

// ChildUp: a CHILD_SA pair is ready to install in the data plane.
// Make-before-break: with Rekeyed, the SA with inbound SPI ReplacesSPI
// stays until its ChildDown.
type ChildUp struct {
	Peer                   string
	InSPI, OutSPI          uint32
	Suite                  ikecrypto.ChildSuite
	EncKeyIn, IntegKeyIn   ikecrypto.Key // AEAD keys end with the 4-byte salt
	EncKeyOut, IntegKeyOut ikecrypto.Key
	LocalTS, RemoteTS      []netip.Prefix
	Local, Remote          netip.AddrPort // outer addresses; port 4500 with Encap
	Encap                  bool           // ESP in UDP (RFC 3948)
	Rekeyed                bool
	ReplacesSPI            uint32 // inbound SPI of the replaced SA
}

// ChildDown: remove the CHILD_SA pair from the data plane.
type ChildDown struct {
	Peer          string
	InSPI, OutSPI uint32
	Reason        Reason
}

// PeerMoved: the peer's address or port changed behind a NAT (RFC 7296
// §2.23); outbound ESP of the listed SAs must follow.
type PeerMoved struct {
	Peer       string
	SPIi, SPIr uint64
	From, To   netip.AddrPort
	InSPIs     []uint32
}

func (IKEUp) event()     {}
func (IKEDown) event()   {}
func (ChildUp) event()   {}
func (ChildDown) event() {}
func (PeerMoved) event() {}
