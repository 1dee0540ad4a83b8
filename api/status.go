package api

import (
	"context"
	"time"

	"github.com/ipsecgw/ipsecgw/store"
)

// StatusProvider reports the live state of every connection. The gateway
// implements it; until then ConfiguredStatus reports what is configured.
type StatusProvider interface {
	// Status returns every configured connection with its SAs.
	Status(ctx context.Context) (*Status, error)
}

// Controller starts and stops negotiation on request. The gateway implements
// it; without one the initiate/terminate routes answer 501.
type Controller interface {
	// Initiate starts (or restarts) IKE negotiation for connection id.
	Initiate(ctx context.Context, id string) error
	// Terminate deletes connection id's IKE and child SAs. A connection
	// with effective_immediately or DPD may come back up on its own.
	Terminate(ctx context.Context, id string) error
}

// Connection states reported in ConnectionStatus.State.
const (
	StateConfigured  = "configured"  // stored; the gateway has not acted on it
	StateConnecting  = "connecting"  // IKE negotiation in progress
	StateEstablished = "established" // an IKE SA and at least one child SA are up
	StateDown        = "down"        // negotiation failed or the peer is dead
	StateIdle        = "idle"        // waiting for traffic (effective_immediately false)
)

// Status is the answer of GET /v1/status: modelled on `swanctl --list-sas`.
type Status struct {
	// GatewayAddress is the gateway's own address, if known.
	GatewayAddress string `json:"gateway_address,omitempty"`
	// Connections lists every configured connection, ordered by ID.
	Connections []ConnectionStatus `json:"connections"`
}

// ConnectionStatus is one connection and its SAs.
type ConnectionStatus struct {
	ID              string `json:"id"`
	Name            string `json:"name,omitempty"`
	State           string `json:"state"`
	CustomerGateway string `json:"customer_gateway"`
	// TransitRouterID is the attached transit router, empty if unattached.
	TransitRouterID string `json:"transit_router_id,omitempty"`
	// Message explains State when useful ("no proposal chosen", "DPD: peer dead").
	Message string  `json:"message,omitempty"`
	IKESAs  []IKESA `json:"ike_sas,omitempty"`
	// BGP is the BGP session state ("established", "active"…), empty without BGP.
	BGP string `json:"bgp,omitempty"`
	// Health is the health-check state ("up", "down"), empty when disabled.
	Health string `json:"health,omitempty"`
}

// IKESA is one IKE (phase-1) SA, as swanctl --list-sas prints it.
type IKESA struct {
	UniqueID      uint32    `json:"unique_id"`
	Version       int       `json:"version"`
	State         string    `json:"state"`
	Initiator     bool      `json:"initiator"`
	LocalAddress  string    `json:"local_address"`
	LocalPort     int       `json:"local_port"`
	LocalID       string    `json:"local_id"`
	RemoteAddress string    `json:"remote_address"`
	RemotePort    int       `json:"remote_port"`
	RemoteID      string    `json:"remote_id"`
	NATLocal      bool      `json:"nat_local,omitempty"`
	NATRemote     bool      `json:"nat_remote,omitempty"`
	SPIInitiator  string    `json:"spi_initiator"`
	SPIResponder  string    `json:"spi_responder"`
	Encryption    string    `json:"encryption"`
	Integrity     string    `json:"integrity,omitempty"`
	PRF           string    `json:"prf,omitempty"`
	DHGroup       string    `json:"dh_group,omitempty"`
	EstablishedAt time.Time `json:"established_at,omitzero"`
	RekeyAt       time.Time `json:"rekey_at,omitzero"`
	ChildSAs      []ChildSA `json:"child_sas,omitempty"`
}

// ChildSA is one IPsec (phase-2) SA pair.
type ChildSA struct {
	Name        string    `json:"name"`
	UniqueID    uint32    `json:"unique_id"`
	State       string    `json:"state"`
	Mode        string    `json:"mode"`
	Protocol    string    `json:"protocol"`
	UDPEncap    bool      `json:"udp_encap,omitempty"`
	SPIIn       string    `json:"spi_in"`
	SPIOut      string    `json:"spi_out"`
	Encryption  string    `json:"encryption"`
	Integrity   string    `json:"integrity,omitempty"`
	DHGroup     string    `json:"dh_group,omitempty"`
	BytesIn     uint64    `json:"bytes_in"`
	PacketsIn   uint64    `json:"packets_in"`
	BytesOut    uint64    `json:"bytes_out"`
	PacketsOut  uint64    `json:"packets_out"`
	LastIn      time.Time `json:"last_in,omitzero"`
	LastOut     time.Time `json:"last_out,omitzero"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
	RekeyAt     time.Time `json:"rekey_at,omitzero"`
	LocalTS     []string  `json:"local_ts"`
	RemoteTS    []string  `json:"remote_ts"`
}

// ConfiguredStatus is the StatusProvider used before the gateway provides
// one: every stored connection in state "configured", without SAs.
type ConfiguredStatus struct {
	Store          *store.Store
	GatewayAddress string
}

// Status implements StatusProvider.
func (p ConfiguredStatus) Status(context.Context) (*Status, error) {
	conns, err := p.Store.ListConnections()
	if err != nil {
		return nil, err
	}
	st := &Status{GatewayAddress: p.GatewayAddress, Connections: make([]ConnectionStatus, 0, len(conns))}
	for _, c := range conns {
		cs := ConnectionStatus{
			ID:              c.ID,
			Name:            c.Name,
			State:           StateConfigured,
			CustomerGateway: c.CustomerGateway,
		}
		if c.Attachment != nil {
			cs.TransitRouterID = c.Attachment.TransitRouterID
		}
		st.Connections = append(st.Connections, cs)
	}
	return st, nil
}
