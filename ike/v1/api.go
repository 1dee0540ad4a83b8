// Package v1 is the IKEv1 negotiator (RFC 2409 over ISAKMP, RFC 2408):
// Main Mode and Aggressive Mode with pre-shared keys, Quick Mode with PFS,
// ISAKMP Informational exchanges (Delete, DPD per RFC 3706,
// INITIAL-CONTACT) and NAT traversal (RFC 3947/3948).
//
// It has the shape of ike/v2 and speaks the same API, so the gateway drives
// both alike: a Manager demultiplexes datagrams on the cookies, one
// goroutine per ISAKMP SA (sa.go) owns all of its state, and negotiated
// IPsec SAs leave as v2.ChildUp events through Config.OnEvent. Each
// exchange lives in its own file, after strongSwan's sa/ikev1/tasks:
// mainmode.go and aggressive.go (phase 1), quickmode.go (phase 2),
// informational.go (Delete, DPD, notifications), natt.go (NAT-D and port
// floating). Retransmission and per-exchange CBC IVs live in exchange.go.
//
// IKEv1 differs from IKEv2 in ways that shape the code: every exchange
// after phase 1 has its own random message ID and IV chain (RFC 2409
// Appendix B); there is no request/response window, so a QM1 from the
// peer can overtake its own last phase 1 message and is queued; an IPsec
// SA is rekeyed by a fresh Quick Mode, and phase 1 by re-authenticating
// (a new ISAKMP SA) before the old one is deleted.
//
// IPsec SAs do not depend on the ISAKMP SA that negotiated them. When we
// re-authenticate we rebuild them with Quick Modes on the new ISAKMP SA
// (ChildUp with Rekeyed) and then delete the old SAs; when the peer does
// (strongSwan moves its CHILD_SAs to the new IKE_SA without a Quick
// Mode) the new ISAKMP SA adopts ours, the old one turns REKEYED, and a
// Delete for an IPsec SA is honoured whichever ISAKMP SA carries it.
// Rekey collisions (both ends rekeying at once, which IKEv1 does not
// define) are settled alike on both ends: the new SA with the lower nonce
// goes, as RFC 7296 §2.8.1 does for IKEv2.
package v1

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/spialloc"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// Standard ports (RFC 2408 §2.5.2 / RFC 3947 §4).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// Config wires a Manager to the outside world. It mirrors v2.Config.
type Config struct {
	// Send transmits one ISAKMP datagram. A send from local port 4500 must
	// be prefixed with the non-ESP marker by the transport (RFC 3948 §2.2),
	// except a NAT-keepalive (the single octet 0xFF), which goes as is.
	Send func(pkt []byte, local, remote netip.AddrPort) error
	// Lookup finds the configuration of a peer that initiates to us: by
	// addresses (id nil) for Main Mode, whose identity is encrypted behind
	// the PSK, and with the peer's ID for Aggressive Mode. Nil or !ok
	// refuses the peer.
	Lookup func(local, remote netip.AddrPort, id *v2.Identity) (*Peer, bool)
	// OnEvent receives the same events as v2's. It is called from SA
	// goroutines and must not block; it may call Initiate, Terminate and
	// Rekey.
	OnEvent func(v2.Event)
	// Clock defaults to the wall clock.
	Clock v2.Clock
	// Rand defaults to crypto/rand.Reader.
	Rand io.Reader
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Retransmit parameters (v2.Retransmit's defaults: 2 s doubling to
	// 16 s, given up after 30 s).
	Retransmit v2.Retransmit
	// HalfOpenTimeout bounds phase 1 (and a Quick Mode) from start to
	// finish. Default 30 s.
	HalfOpenTimeout time.Duration
	// SPIs allocates our inbound ESP SPIs. Every negotiator feeding one
	// ESP engine (whose inbound table is keyed by SPI, RFC 4303 §2.1) must
	// share one allocator, as the gateway does for ike/v2 and this package.
	// Nil gives the Manager a private one drawing from Rand.
	SPIs *spialloc.Allocator
}

// Peer is one connection's IKEv1 configuration: v2.Peer's fields with the
// IKEv1 meaning below, plus the phase 1 mode.
//
//   - IKE suites must not use an AEAD cipher (IKEv1 phase 1 has none); the
//     hash algorithm is Integ, whose HMAC is the PRF.
//   - ESP suites may use AES-GCM; their DH is the PFS group of every Quick
//     Mode (IKEv1 runs it at once, not only on rekeys). All ESP suites must
//     name the same group, since Quick Mode carries one KE payload.
//   - LocalTS and RemoteTS hold at most one subnet each: IKEv1 negotiates
//     one subnet pair per SA, and several are refused (SPEC §1).
type Peer struct {
	v2.Peer
	// Aggressive selects Aggressive Mode (3 messages, identities in clear)
	// instead of Main Mode when we initiate. As responder both are
	// accepted.
	Aggressive bool
}

func (p *Peer) localID() v2.Identity {
	if p.LocalID != "" {
		return p.LocalID
	}
	return v2.Identity(p.Local.String())
}

// validate checks what IKEv1 can negotiate.
func (p *Peer) validate() error {
	if p.Name == "" {
		return errors.New("v1: peer without name")
	}
	if len(p.IKE) == 0 || len(p.ESP) == 0 {
		return fmt.Errorf("v1: peer %s: no IKE or ESP proposal", p.Name)
	}
	if len(p.PSK) == 0 {
		return fmt.Errorf("v1: peer %s: empty PSK", p.Name)
	}
	for _, s := range p.IKE {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("v1: peer %s: %w", p.Name, err)
		}
		if s.Encr.AEAD() {
			return fmt.Errorf("v1: peer %s: IKEv1 phase 1 has no AEAD cipher (%v)", p.Name, s.Encr)
		}
		if _, ok := v1Encr(s.Encr); !ok {
			return fmt.Errorf("v1: peer %s: cipher %v not available in IKEv1", p.Name, s.Encr)
		}
		if _, ok := v1Hash(s.Integ); !ok || s.PRF != s.Integ.PRF() {
			return fmt.Errorf("v1: peer %s: hash %v/%v not available in IKEv1", p.Name, s.Integ, s.PRF)
		}
	}
	if p.Aggressive {
		for _, s := range p.IKE {
			if s.DH != p.IKE[0].DH {
				return fmt.Errorf("v1: peer %s: aggressive mode needs one DH group in all proposals", p.Name)
			}
		}
	}
	for _, s := range p.ESP {
		if s.DH != p.ESP[0].DH {
			return fmt.Errorf("v1: peer %s: all ESP proposals must use the same PFS group", p.Name)
		}
		if _, ok := espTransformID(s.Encr); !ok {
			return fmt.Errorf("v1: peer %s: ESP cipher %v not available", p.Name, s.Encr)
		}
		if s.Integ != ikecrypto.IntegNone {
			if _, ok := espAuthAlg(s.Integ); !ok {
				return fmt.Errorf("v1: peer %s: ESP integrity %v not available", p.Name, s.Integ)
			}
		}
	}
	if len(p.LocalTS) > 1 || len(p.RemoteTS) > 1 {
		return fmt.Errorf("v1: peer %s: IKEv1 negotiates one subnet pair per SA; several local or remote subnets need IKEv2", p.Name)
	}
	return nil
}

// localTS and remoteTS are the Quick Mode identities of the peer's single
// subnet pair; empty configuration means the whole address family.
func (p *Peer) localTS() netip.Prefix  { return tsOrAll(p.LocalTS, p.Local) }
func (p *Peer) remoteTS() netip.Prefix { return tsOrAll(p.RemoteTS, p.Remote) }

func tsOrAll(ts []netip.Prefix, a netip.Addr) netip.Prefix {
	if len(ts) > 0 {
		return ts[0].Masked()
	}
	if a.Unmap().Is4() {
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	return netip.MustParsePrefix("::/0")
}
