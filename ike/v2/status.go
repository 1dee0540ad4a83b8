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
	Peer          string
	State         State
	Initiator     bool
	SPIi, SPIr    uint64
	Suite         ikecrypto.IKESuite
	Local, Remote netip.AddrPort
	LocalID       string
	RemoteID      string
	NATLocal      bool // we are behind a NAT (or pretend to be)
	NATRemote     bool // the peer is behind a NAT
	Established   time.Time
	RekeyIn       time.Duration // 0: no rekey scheduled
	Children      []ChildSAStatus

	rekeyAt time.Time
}

// ChildSAStatus is a snapshot of a CHILD_SA.
type ChildSAStatus struct {
	State             ChildState
	InSPI, OutSPI     uint32
	Suite             ikecrypto.ChildSuite
	LocalTS, RemoteTS []netip.Prefix
	Encap             bool
	Installed         time.Time
	RekeyIn           time.Duration

	rekeyAt time.Time
}
