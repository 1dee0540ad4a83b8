package v2

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
)

// State is the state of an IKE SA.
type State uint8

// IKE SA states.
const (
	StateConnecting  State = iota // IKE_SA_INIT / IKE_AUTH in progress
	StateEstablished              // authenticated
	StateRekeying                 // CREATE_CHILD_SA rekeying this IKE SA in progress
	StateRekeyed                  // replaced; waiting for its deletion
	StateDeleting                 // Delete sent
	StateClosed                   // gone
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "CONNECTING"
	case StateEstablished:
		return "ESTABLISHED"
	case StateRekeying:
		return "REKEYING"
	case StateRekeyed:
		return "REKEYED"
	case StateDeleting:
		return "DELETING"
	case StateClosed:
		return "CLOSED"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ChildState is the state of a CHILD_SA.
type ChildState uint8

// CHILD_SA states.
const (
	ChildInstalled ChildState = iota // carrying traffic
	ChildRekeying                    // CREATE_CHILD_SA with REKEY_SA in progress
	ChildRekeyed                     // replaced; old SA waits for its Delete
	ChildDeleting                    // Delete sent
)

func (s ChildState) String() string {
	switch s {
	case ChildInstalled:
		return "INSTALLED"
	case ChildRekeying:
		return "REKEYING"
	case ChildRekeyed:
		return "REKEYED"
	case ChildDeleting:
		return "DELETING"
	}
	return fmt.Sprintf("ChildState(%d)", uint8(s))
}

// IKESAStatus is a snapshot of an IKE SA for status listings.
type IKESAStatus struct {
	Peer      string // connection name
	State     State
	Initiator bool // we are the original initiator
	// SPIi and SPIr are the IKE SPIs (initiator's, responder's).
	SPIi, SPIr uint64
	// Suite is the negotiated IKE SA suite (zero before IKE_SA_INIT completes).
	Suite ikecrypto.IKESuite
	// Local and Remote are the current IKE endpoints (port 4500 after a
	// NAT was detected).
	Local, Remote netip.AddrPort
	LocalID       string // our identity
	RemoteID      string // the peer's authenticated identity
	NATLocal      bool   // we are behind a NAT (or pretend to be)
	NATRemote     bool   // the peer is behind a NAT
	Established   time.Time
	RekeyIn       time.Duration // 0: no rekey scheduled
	Children      []ChildSAStatus

	rekeyAt time.Time
}

// ChildSAStatus is a snapshot of a CHILD_SA.
type ChildSAStatus struct {
	State ChildState
	// InSPI is our inbound ESP SPI, OutSPI the peer's.
	InSPI, OutSPI uint32
	// Suite is the negotiated ESP suite; DH is the group of the last
	// CREATE_CHILD_SA (0 for IKE_AUTH or without PFS).
	Suite ikecrypto.ChildSuite
	// LocalTS and RemoteTS are the negotiated (narrowed) selectors.
	LocalTS, RemoteTS []netip.Prefix
	Encap             bool // ESP in UDP
	Installed         time.Time
	RekeyIn           time.Duration // 0: no rekey scheduled

	rekeyAt time.Time
}
