package gateway

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/esp/xform"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/store"
)

// dpdTimeout is the product's fixed DPD timeout (SPEC §1, IPsec: "no valid
// answer within 30 s").
const dpdTimeout = 30 * time.Second

// dpdDelay is how long a tunnel may be silent before a liveness check is
// sent. Short enough that a dead peer is noticed within the timeout plus a
// few seconds.
const dpdDelay = 10 * time.Second

// peerFor translates a stored connection into the IKEv2 negotiator's peer
// configuration. local is the gateway's own address.
func peerFor(c *store.Connection, local netip.Addr) (*v2.Peer, error) {
	remote, err := netip.ParseAddr(c.CustomerGateway)
	if err != nil {
		return nil, fmt.Errorf("gateway: customer_gateway: %w", err)
	}
	ike, err := ikeSuite(&c.IKE)
	if err != nil {
		return nil, err
	}
	child, err := childSuite(&c.IPsec)
	if err != nil {
		return nil, err
	}
	lts, rts := c.TrafficSelectors()
	p := &v2.Peer{
		Name:          c.ID,
		Local:         local,
		Remote:        remote,
		LocalID:       v2.Identity(c.LocalIdentity(local.String())),
		RemoteID:      v2.Identity(c.RemoteIdentity()),
		PSK:           []byte(c.PSK),
		IKE:           []ikecrypto.IKESuite{ike},
		ESP:           []ikecrypto.ChildSuite{child},
		IKELifetime:   time.Duration(c.IKE.LifetimeSeconds()) * time.Second,
		ChildLifetime: time.Duration(c.IPsec.LifetimeSeconds()) * time.Second,
		LocalTS:       lts,
		RemoteTS:      rts,
		DPD:           c.DPDEnabled(),
		DPDDelay:      dpdDelay,
		DPDTimeout:    dpdTimeout,
		NATT:          c.NATTEnabled(),
	}
	return p, nil
}

// ikeSuite maps the IKE (phase-1) settings to one IKEv2 proposal.
func ikeSuite(k *config.IKEConfig) (ikecrypto.IKESuite, error) {
	ts, ok := k.Transforms()
	if !ok {
		return ikecrypto.IKESuite{}, fmt.Errorf("gateway: ike: unknown algorithm in %s/%s/%s", k.Encryption, k.Authentication, k.DHGroup)
	}
	var s ikecrypto.IKESuite
	for _, t := range ts {
		switch t.Type {
		case config.TransformENCR:
			s.Encr, s.EncrKey = ikecrypto.EncrID(t.ID), t.KeyLength
		case config.TransformPRF:
			s.PRF = ikecrypto.PRFID(t.ID)
		case config.TransformINTEG:
			s.Integ = ikecrypto.IntegID(t.ID)
		case config.TransformDH:
			s.DH = ikecrypto.GroupID(t.ID)
		}
	}
	return s, s.Validate()
}

// childSuite maps the IPsec (phase-2) settings to one ESP proposal; DH is
// the PFS group used on rekeys (0: PFS off).
func childSuite(p *config.IPsecConfig) (ikecrypto.ChildSuite, error) {
	ts, ok := p.Transforms()
	if !ok {
		return ikecrypto.ChildSuite{}, fmt.Errorf("gateway: ipsec: unknown algorithm in %s/%s/%s", p.Encryption, p.Authentication, p.DHGroup)
	}
	var s ikecrypto.ChildSuite
	for _, t := range ts {
		switch t.Type {
		case config.TransformENCR:
			s.Encr, s.EncrKey = ikecrypto.EncrID(t.ID), t.KeyLength
		case config.TransformINTEG:
			s.Integ = ikecrypto.IntegID(t.ID)
		case config.TransformDH:
			s.DH = ikecrypto.GroupID(t.ID)
		}
	}
	return s, nil
}

// espSuite converts a negotiated child suite to the data plane's naming
// (both use IKEv2 IANA numbers).
func espSuite(s ikecrypto.ChildSuite) xform.Suite {
	bits := s.EncrKey
	switch s.Encr {
	case ikecrypto.EncrDES:
		bits = 64
	case ikecrypto.Encr3DES:
		bits = 192
	case ikecrypto.EncrChaCha20Poly1305:
		bits = 256
	}
	return xform.Suite{Encr: uint16(s.Encr), KeyBits: bits, Integ: uint16(s.Integ)}
}
