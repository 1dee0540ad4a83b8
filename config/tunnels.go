package config

import (
	"fmt"
	"reflect"
)

// Tunnel is one tunnel of a dual-tunnel connection (SPEC §2: two tunnels to
// two gateway addresses in different zones, each with its own
// IKE/IPsec/BGP/DPD settings). Routing mode, subnets, routes and the health
// check stay on the connection.
type Tunnel struct {
	// Zone selects the gateway address that terminates this tunnel; the two
	// tunnels must use different zones.
	Zone string `yaml:"zone,omitempty" json:"zone,omitempty"`
	// CustomerGateway overrides the connection's customer gateway for this
	// tunnel (an on-premises device may have two addresses).
	CustomerGateway string `yaml:"customer_gateway,omitempty" json:"customer_gateway,omitempty"`
	// PSK is this tunnel's pre-shared key, same rules as [Connection.PSK].
	PSK string `yaml:"psk,omitempty" json:"psk,omitempty"`
	// IKE is this tunnel's phase 1. LocalID is not defaulted by
	// ApplyDefaults: each tunnel has its own gateway address, which the
	// runtime knows.
	IKE IKEConfig `yaml:"ike,omitempty" json:"ike,omitzero"`
	// IPsec is this tunnel's phase 2.
	IPsec IPsecConfig `yaml:"ipsec,omitempty" json:"ipsec,omitzero"`
	// DPD: see [Connection.DPD].
	DPD *bool `yaml:"dpd,omitempty" json:"dpd,omitempty"`
	// NATTraversal: see [Connection.NATTraversal].
	NATTraversal *bool `yaml:"nat_traversal,omitempty" json:"nat_traversal,omitempty"`
	// BGP is this tunnel's BGP session; tunnel CIDRs must differ.
	BGP BGPConfig `yaml:"bgp,omitempty" json:"bgp,omitzero"`
}

// Peer returns the tunnel's customer gateway: its own, or the connection's.
func (t *Tunnel) Peer(c *Connection) string {
	if t.CustomerGateway != "" {
		return t.CustomerGateway
	}
	return c.CustomerGateway
}

// applyDefaults fills the tunnel's omitted settings.
func (t *Tunnel) applyDefaults(gatewayAddress, customerGateway string) {
	peer := customerGateway
	if t.CustomerGateway != "" {
		peer = t.CustomerGateway
	}
	_ = gatewayAddress // each tunnel has its own local address
	t.IKE.applyDefaults("", peer)
	t.IPsec.applyDefaults()
	if t.DPD == nil {
		t.DPD = ptr(true)
	}
	if t.NATTraversal == nil {
		t.NATTraversal = ptr(true)
	}
	t.BGP.applyDefaults()
}

// clone deep-copies t.
func (t *Tunnel) clone() Tunnel {
	n := *t
	n.IKE.Lifetime = clonePtr(t.IKE.Lifetime)
	n.IPsec.Lifetime = clonePtr(t.IPsec.Lifetime)
	n.DPD = clonePtr(t.DPD)
	n.NATTraversal = clonePtr(t.NATTraversal)
	return n
}

// validateTunnelSettings checks psk, ike, ipsec and bgp: on the connection
// in single-tunnel mode, on each tunnel in dual mode.
func (c *Connection) validateTunnelSettings(es *Errors, prefix string) {
	p := func(key string) string { return join(prefix, key) }
	multi := len(c.LocalSubnets) > 1 || len(c.RemoteSubnets) > 1
	if c.TunnelMode != TunnelDual {
		if len(c.Tunnels) > 0 {
			es.add(p("tunnels"), RuleNotAllowed, "tunnels are only allowed with tunnel_mode dual")
		}
		validPSK(es, p("psk"), c.PSK)
		c.IKE.validate(es, p("ike"), multi)
		c.IPsec.validate(es, p("ipsec"))
		c.BGP.validate(es, p("bgp"))
		return
	}
	for _, f := range []struct {
		key string
		set bool
	}{
		{"psk", c.PSK != ""},
		{"ike", !reflect.ValueOf(c.IKE).IsZero()},
		{"ipsec", !reflect.ValueOf(c.IPsec).IsZero()},
		{"dpd", c.DPD != nil},
		{"nat_traversal", c.NATTraversal != nil},
		{"bgp", !reflect.ValueOf(c.BGP).IsZero()},
	} {
		if f.set {
			es.add(p(f.key), RuleNotAllowed, fmt.Sprintf("in dual-tunnel mode set %s on each of tunnels instead", f.key))
		}
	}
	if len(c.Tunnels) != 2 {
		es.add(p("tunnels"), RuleLength, fmt.Sprintf("dual-tunnel mode needs exactly two tunnels (got %d)", len(c.Tunnels)))
	}
	zones := map[string]int{}
	cidrs := map[string]int{}
	for i := range c.Tunnels {
		t := &c.Tunnels[i]
		tp := index(p("tunnels"), i)
		validID(es, join(tp, "zone"), t.Zone, true)
		if j, dup := zones[t.Zone]; dup && t.Zone != "" {
			es.add(join(tp, "zone"), RuleUnique, fmt.Sprintf("tunnels[%d] already uses zone %s; the two tunnels need different zones", j, t.Zone))
		}
		zones[t.Zone] = i
		if t.CustomerGateway != "" {
			validUnicast(es, join(tp, "customer_gateway"), t.CustomerGateway)
		}
		validPSK(es, join(tp, "psk"), t.PSK)
		t.IKE.validate(es, join(tp, "ike"), multi)
		t.IPsec.validate(es, join(tp, "ipsec"))
		t.BGP.validate(es, join(tp, "bgp"))
		if cidr := t.BGP.TunnelCIDR; cidr != "" {
			if j, dup := cidrs[cidr]; dup {
				es.add(join(tp, "bgp.tunnel_cidr"), RuleUnique, fmt.Sprintf("tunnels[%d] already uses %s", j, cidr))
			}
			cidrs[cidr] = i
		}
	}
}
