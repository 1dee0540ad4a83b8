package config

import (
	"net/netip"
	"reflect"
)

// Defaults of SPEC §1 and §4, exported so documentation, the CLI and tests
// quote one source.
const (
	// DefaultLifetime is the IKE and IPsec SA lifetime in seconds (SPEC §1).
	DefaultLifetime = 86400
	// MaxLifetime is the largest accepted SA lifetime in seconds.
	MaxLifetime = 86400
	// DefaultLocalASN is the cloud side's ASN; it is reserved, so a peer may
	// not use it (SPEC §1, BGP).
	DefaultLocalASN ASN = 45104
	// DefaultHealthCheckInterval is the health-check retry interval (s).
	DefaultHealthCheckInterval = 3
	// DefaultHealthCheckRetries is the number of failed probes before the
	// connection is declared down.
	DefaultHealthCheckRetries = 3
	// DPDTimeoutSeconds is how long a peer may stay silent to DPD probes
	// before it is declared dead (SPEC §1, DPD: 30 s).
	DPDTimeoutSeconds = 30
	// MaxNameLength is the longest connection name, in characters.
	MaxNameLength = 100
	// MaxPSKLength is the longest pre-shared key, in characters.
	MaxPSKLength = 100
)

// RoutingMode selects how traffic enters the tunnel (SPEC §1).
type RoutingMode string

const (
	// RoutingDestination is route-based: the traffic selectors are
	// 0.0.0.0/0 ↔ 0.0.0.0/0 and routes ([Connection.Routes], BGP) decide what
	// enters the tunnel. It is the default.
	RoutingDestination RoutingMode = "destination"
	// RoutingProtectedSubnets is policy-based ("interest flow"): the traffic
	// selectors are the local/remote subnets and the gateway adds a route per
	// remote subnet itself.
	RoutingProtectedSubnets RoutingMode = "protected-subnets"
)

// String returns the configuration spelling of the mode.
func (m RoutingMode) String() string { return string(m) }

// Valid reports whether m is one of the defined modes (empty is not valid;
// it means "default" only before [Connection.ApplyDefaults]).
func (m RoutingMode) Valid() bool {
	return m == RoutingDestination || m == RoutingProtectedSubnets
}

// IKEVersion is the IKE protocol version of phase 1.
type IKEVersion string

const (
	// IKEv1 is RFC 2409 IKE (main or aggressive mode, then quick mode).
	IKEv1 IKEVersion = "ikev1"
	// IKEv2 is RFC 7296 IKE; the default and the recommended version.
	IKEv2 IKEVersion = "ikev2"
)

// String returns the configuration spelling of the version.
func (v IKEVersion) String() string { return string(v) }

// Valid reports whether v is ikev1 or ikev2.
func (v IKEVersion) Valid() bool { return v == IKEv1 || v == IKEv2 }

// IKEMode is the IKEv1 phase-1 exchange; IKEv2 ignores it.
type IKEMode string

const (
	// ModeMain is IKEv1 main mode (identities protected); the default.
	ModeMain IKEMode = "main"
	// ModeAggressive is IKEv1 aggressive mode (three messages, identities in
	// clear); advised with FQDN identities.
	ModeAggressive IKEMode = "aggressive"
)

// String returns the configuration spelling of the mode.
func (m IKEMode) String() string { return string(m) }

// Valid reports whether m is main or aggressive.
func (m IKEMode) Valid() bool { return m == ModeMain || m == ModeAggressive }

// Connection is one IPsec connection (SPEC §1). Keys mirror the connections
// file of SPEC §4; JSON keys are identical so the API shares this struct.
//
// Pointer fields distinguish "omitted" (nil: the §1 default applies) from an
// explicit value, including false and 0. [Connection.ApplyDefaults] fills
// every omitted field; the accessors ([Connection.Immediate] …) read the
// effective value whether or not defaults were applied.
type Connection struct {
	// ID is assigned by the store when the connection is created; it is
	// optional in files (apply matches connections by Name).
	ID string `yaml:"id,omitempty" json:"id,omitempty"`
	// Name is free text of at most 100 characters. Within a connections file
	// it must be non-empty and unique because apply matches by name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// CustomerGateway is the on-premises device's public IP address
	// (IPv4 or IPv6). Required.
	CustomerGateway string `yaml:"customer_gateway,omitempty" json:"customer_gateway,omitempty"`
	// RoutingMode is destination (default) or protected-subnets.
	RoutingMode RoutingMode `yaml:"routing_mode,omitempty" json:"routing_mode,omitempty"`
	// LocalSubnets are the cloud-side CIDRs; required in, and only allowed
	// in, protected-subnets mode. CIDRs must not have host bits set.
	LocalSubnets []string `yaml:"local_subnets,omitempty" json:"local_subnets,omitempty"`
	// RemoteSubnets are the on-premises CIDRs; same rules as LocalSubnets.
	RemoteSubnets []string `yaml:"remote_subnets,omitempty" json:"remote_subnets,omitempty"`
	// Routes is an ipsecgw addition to SPEC §1: the destination-mode static
	// route table, the CIDRs routed into the tunnel (and published to the
	// attached transit router). Only allowed in destination mode; in
	// protected-subnets mode the remote subnets are the routes. BGP-learned
	// routes come in addition.
	Routes []string `yaml:"routes,omitempty" json:"routes,omitempty"`
	// EffectiveImmediately: true (default) negotiates as soon as the
	// connection is configured, false waits for traffic to the tunnel.
	EffectiveImmediately *bool `yaml:"effective_immediately,omitempty" json:"effective_immediately,omitempty"`
	// PSK is the pre-shared key: 1–100 characters from digits, ASCII letters
	// and ~`!@#$%^&*()_-+={}[]\|;:',.<>/? (no spaces). Required.
	PSK string `yaml:"psk,omitempty" json:"psk,omitempty"`
	// IKE holds the phase-1 settings.
	IKE IKEConfig `yaml:"ike,omitempty" json:"ike,omitzero"`
	// IPsec holds the phase-2 settings.
	IPsec IPsecConfig `yaml:"ipsec,omitempty" json:"ipsec,omitzero"`
	// DPD turns dead peer detection on (default): a peer silent for 30 s is
	// dead, its SAs are deleted and negotiation restarts.
	DPD *bool `yaml:"dpd,omitempty" json:"dpd,omitempty"`
	// NATTraversal turns NAT detection and UDP 4500 encapsulation on
	// (default).
	NATTraversal *bool `yaml:"nat_traversal,omitempty" json:"nat_traversal,omitempty"`
	// BGP configures the BGP session through the tunnel.
	BGP BGPConfig `yaml:"bgp,omitempty" json:"bgp,omitzero"`
	// HealthCheck configures the ICMP health check through the tunnel.
	HealthCheck HealthCheckConfig `yaml:"health_check,omitempty" json:"health_check,omitzero"`
	// GatewayType is an ipsecgw addition: the network the IPsec traffic uses
	// (public, the default, or private). It is fixed at creation (SPEC §2:
	// gateway type is immutable); an attachment must carry the same value.
	GatewayType GatewayType `yaml:"gateway_type,omitempty" json:"gateway_type,omitempty"`
	// TunnelMode is an ipsecgw addition: single (default, the SPEC §2 model)
	// or dual (SPEC §2: two tunnels, each with its own settings, in
	// Tunnels). Each tunnel's zone must name a zone of the daemon
	// configuration (Daemon.Zones), which only the running gateway knows:
	// it reports an unknown zone as the connection's status message.
	TunnelMode TunnelMode `yaml:"tunnel_mode,omitempty" json:"tunnel_mode,omitempty"`
	// Tunnels holds the two tunnels of a dual-tunnel connection; it must be
	// empty in single-tunnel mode. In dual mode psk, ike, ipsec, dpd,
	// nat_traversal and bgp live here instead of on the connection.
	Tunnels []Tunnel `yaml:"tunnels,omitempty" json:"tunnels,omitempty"`
}

// IKEConfig is phase 1 (SPEC §1, IKE).
type IKEConfig struct {
	// Version is ikev1 or ikev2 (default).
	Version IKEVersion `yaml:"version,omitempty" json:"version,omitempty"`
	// Mode is main (default) or aggressive; only meaningful for IKEv1.
	Mode IKEMode `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Encryption defaults to aes (AES-128-CBC). AEAD ciphers are not allowed
	// with IKEv1 (strongSwan has no GCM for IKEv1 phase 1).
	Encryption Encryption `yaml:"encryption,omitempty" json:"encryption,omitempty"`
	// Authentication is the integrity/PRF hash, default sha1; must be empty
	// with an AEAD cipher (the PRF is then [AEADPRF]).
	Authentication Authentication `yaml:"authentication,omitempty" json:"authentication,omitempty"`
	// DHGroup defaults to group2 (MODP-1024).
	DHGroup DHGroup `yaml:"dh_group,omitempty" json:"dh_group,omitempty"`
	// Lifetime is the IKE SA lifetime in seconds, 0–86400, default 86400.
	Lifetime *int `yaml:"lifetime,omitempty" json:"lifetime,omitempty"`
	// LocalID is the gateway's identity: an IP address or FQDN, no spaces;
	// default the gateway's own IP.
	LocalID string `yaml:"local_id,omitempty" json:"local_id,omitempty"`
	// RemoteID is the peer's identity: an IP address or FQDN, no spaces;
	// default the customer gateway's IP.
	RemoteID string `yaml:"remote_id,omitempty" json:"remote_id,omitempty"`
}

// IPsecConfig is phase 2 (SPEC §1, IPsec).
type IPsecConfig struct {
	// Encryption defaults to aes.
	Encryption Encryption `yaml:"encryption,omitempty" json:"encryption,omitempty"`
	// Authentication defaults to sha1; must be empty with an AEAD cipher.
	Authentication Authentication `yaml:"authentication,omitempty" json:"authentication,omitempty"`
	// DHGroup is the PFS group, default group2; "disabled" turns PFS off.
	DHGroup DHGroup `yaml:"dh_group,omitempty" json:"dh_group,omitempty"`
	// Lifetime is the IPsec SA lifetime in seconds, 0–86400, default 86400.
	Lifetime *int `yaml:"lifetime,omitempty" json:"lifetime,omitempty"`
}

// BGPConfig is the BGP session through the tunnel (SPEC §1, BGP).
type BGPConfig struct {
	// Enabled turns BGP on (default false).
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// LocalASN is the cloud side's ASN, default 45104 (0 means omitted).
	LocalASN ASN `yaml:"local_asn,omitempty" json:"local_asn,omitempty"`
	// TunnelCIDR is a /30 inside 169.254.0.0/16, not one of the reserved
	// /30s ([ReservedTunnelCIDRs]).
	TunnelCIDR string `yaml:"tunnel_cidr,omitempty" json:"tunnel_cidr,omitempty"`
	// LocalAddress is one of the two usable host addresses of TunnelCIDR;
	// the peer uses the other ([Connection.PeerBGPAddress]).
	LocalAddress string `yaml:"local_address,omitempty" json:"local_address,omitempty"`
	// PeerASN is the customer gateway's ASN: required with BGP, not 45104.
	PeerASN ASN `yaml:"peer_asn,omitempty" json:"peer_asn,omitempty"`
	// Announce is an ipsecgw addition: the cloud-side prefixes advertised to
	// the peer over the session (SPEC §1: "it advertises the cloud side's
	// prefixes"). Empty announces nothing; learned prefixes are installed
	// into the tunnel either way.
	Announce []string `yaml:"announce,omitempty" json:"announce,omitempty"`
}

// HealthCheckConfig is the ICMP health check (SPEC §1, Health check).
type HealthCheckConfig struct {
	// Enabled turns the health check on (default false).
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// DestinationIP is an on-premises address reachable through the tunnel
	// that answers ICMP echo; required when enabled.
	DestinationIP string `yaml:"destination_ip,omitempty" json:"destination_ip,omitempty"`
	// SourceIP is the cloud-side source address of the probes; required when
	// enabled. The peer needs a /32 route for it into the tunnel.
	SourceIP string `yaml:"source_ip,omitempty" json:"source_ip,omitempty"`
	// Interval is the retry interval in seconds, ≥1, default 3.
	Interval *int `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Retries is the number of failed probes before the check fails, ≥1,
	// default 3.
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty"`
	// SwitchRoute withdraws the connection's published routes on failure and
	// re-publishes them on recovery (default true).
	SwitchRoute *bool `yaml:"switch_route,omitempty" json:"switch_route,omitempty"`
}

// File is a connections file (SPEC §4).
type File struct {
	// Connections in file order; apply matches them by name.
	Connections []Connection `yaml:"connections,omitempty" json:"connections,omitempty"`

	// lines maps key paths ("connections[0].psk") to the line they were
	// read from, so validation errors can point into the file.
	lines map[string]int
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// boolOr returns *p, or def when p is nil.
func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// intOr returns *p, or def when p is nil.
func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// ApplyDefaults fills every omitted field with its SPEC §1 default.
// gatewayAddress is the gateway's own IP ([Daemon.Address] or the address
// picked at runtime); it becomes ike.local_id when that is omitted. With an
// empty gatewayAddress local_id stays empty and the IKE layer must use the
// gateway's address ([Connection.LocalIdentity]). ike.remote_id defaults to
// the customer gateway. With an AEAD cipher authentication stays empty.
// ApplyDefaults never changes a value that was set, so it is idempotent.
func (c *Connection) ApplyDefaults(gatewayAddress string) {
	if c.RoutingMode == "" {
		c.RoutingMode = RoutingDestination
	}
	if c.EffectiveImmediately == nil {
		c.EffectiveImmediately = ptr(true)
	}
	if c.GatewayType == "" {
		c.GatewayType = GatewayPublic
	}
	if c.TunnelMode == "" {
		c.TunnelMode = TunnelSingle
	}
	if c.TunnelMode == TunnelDual {
		// The tunnel settings live on each tunnel; the connection-level
		// ones must stay empty (see validateDual).
		for i := range c.Tunnels {
			c.Tunnels[i].applyDefaults(gatewayAddress, c.CustomerGateway)
		}
	} else {
		c.IKE.applyDefaults(gatewayAddress, c.CustomerGateway)
		c.IPsec.applyDefaults()
		if c.DPD == nil {
			c.DPD = ptr(true)
		}
		if c.NATTraversal == nil {
			c.NATTraversal = ptr(true)
		}
		c.BGP.applyDefaults()
	}
	hc := &c.HealthCheck
	if hc.Interval == nil {
		hc.Interval = ptr(DefaultHealthCheckInterval)
	}
	if hc.Retries == nil {
		hc.Retries = ptr(DefaultHealthCheckRetries)
	}
	if hc.SwitchRoute == nil {
		hc.SwitchRoute = ptr(true)
	}
}

// applyDefaults fills phase-1 defaults; gatewayAddress and customerGateway
// are the default identities.
func (ike *IKEConfig) applyDefaults(gatewayAddress, customerGateway string) {
	if ike.Version == "" {
		ike.Version = IKEv2
	}
	if ike.Mode == "" {
		ike.Mode = ModeMain
	}
	if ike.Encryption == "" {
		ike.Encryption = EncAES
	}
	if ike.Authentication == "" && !ike.Encryption.AEAD() {
		ike.Authentication = AuthSHA1
	}
	if ike.DHGroup == "" {
		ike.DHGroup = Group2
	}
	if ike.Lifetime == nil {
		ike.Lifetime = ptr(DefaultLifetime)
	}
	if ike.LocalID == "" {
		ike.LocalID = gatewayAddress
	}
	if ike.RemoteID == "" {
		ike.RemoteID = customerGateway
	}
}

// applyDefaults fills phase-2 defaults.
func (ips *IPsecConfig) applyDefaults() {
	if ips.Encryption == "" {
		ips.Encryption = EncAES
	}
	if ips.Authentication == "" && !ips.Encryption.AEAD() {
		ips.Authentication = AuthSHA1
	}
	if ips.DHGroup == "" {
		ips.DHGroup = Group2
	}
	if ips.Lifetime == nil {
		ips.Lifetime = ptr(DefaultLifetime)
	}
}

// applyDefaults fills the local ASN.
func (b *BGPConfig) applyDefaults() {
	if b.LocalASN == 0 {
		b.LocalASN = DefaultLocalASN
	}
}

// ApplyDefaults applies [Connection.ApplyDefaults] to every connection.
func (f *File) ApplyDefaults(gatewayAddress string) {
	for i := range f.Connections {
		f.Connections[i].ApplyDefaults(gatewayAddress)
	}
}

// Mode returns the effective routing mode (destination when omitted).
func (c *Connection) Mode() RoutingMode {
	if c.RoutingMode == "" {
		return RoutingDestination
	}
	return c.RoutingMode
}

// Immediate reports whether negotiation starts as soon as the connection is
// configured (effective_immediately, default true).
func (c *Connection) Immediate() bool { return boolOr(c.EffectiveImmediately, true) }

// DPDEnabled reports whether dead peer detection is on (default true).
func (c *Connection) DPDEnabled() bool { return boolOr(c.DPD, true) }

// NATTEnabled reports whether NAT traversal is on (default true).
func (c *Connection) NATTEnabled() bool { return boolOr(c.NATTraversal, true) }

// LocalIdentity returns ike.local_id, or gatewayAddress when it is omitted.
func (c *Connection) LocalIdentity(gatewayAddress string) string {
	if c.IKE.LocalID != "" {
		return c.IKE.LocalID
	}
	return gatewayAddress
}

// RemoteIdentity returns ike.remote_id, or the customer gateway when it is
// omitted.
func (c *Connection) RemoteIdentity() string {
	if c.IKE.RemoteID != "" {
		return c.IKE.RemoteID
	}
	return c.CustomerGateway
}

// EffectiveVersion returns the IKE version, ikev2 when omitted.
func (k *IKEConfig) EffectiveVersion() IKEVersion {
	if k.Version == "" {
		return IKEv2
	}
	return k.Version
}

// LifetimeSeconds returns the IKE SA lifetime, 86400 when omitted.
func (k *IKEConfig) LifetimeSeconds() int { return intOr(k.Lifetime, DefaultLifetime) }

// LifetimeSeconds returns the IPsec SA lifetime, 86400 when omitted.
func (p *IPsecConfig) LifetimeSeconds() int { return intOr(p.Lifetime, DefaultLifetime) }

// PFS reports whether phase 2 runs a fresh DH exchange (dh_group not
// disabled; the default group2 turns PFS on).
func (p *IPsecConfig) PFS() bool { return p.DHGroup != GroupDisabled }

// EffectiveLocalASN returns the local ASN, 45104 when omitted.
func (b *BGPConfig) EffectiveLocalASN() ASN {
	if b.LocalASN == 0 {
		return DefaultLocalASN
	}
	return b.LocalASN
}

// IntervalSeconds returns the health-check interval, 3 when omitted.
func (h *HealthCheckConfig) IntervalSeconds() int {
	return intOr(h.Interval, DefaultHealthCheckInterval)
}

// RetryCount returns the health-check retries, 3 when omitted.
func (h *HealthCheckConfig) RetryCount() int { return intOr(h.Retries, DefaultHealthCheckRetries) }

// SwitchRouteEnabled reports whether a failed health check withdraws the
// connection's routes (default true).
func (h *HealthCheckConfig) SwitchRouteEnabled() bool { return boolOr(h.SwitchRoute, true) }

// TrafficSelectors returns the phase-2 selectors: the local/remote subnets in
// protected-subnets mode, 0.0.0.0/0 ↔ 0.0.0.0/0 in destination mode (SPEC §1).
// Unparsable entries are skipped; call it on validated connections.
func (c *Connection) TrafficSelectors() (local, remote []netip.Prefix) {
	if c.Mode() == RoutingProtectedSubnets {
		return parsePrefixes(c.LocalSubnets), parsePrefixes(c.RemoteSubnets)
	}
	any4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	return []netip.Prefix{any4}, []netip.Prefix{any4}
}

// TunnelRoutes returns the static routes pointing into the tunnel: the
// remote subnets in protected-subnets mode, [Connection.Routes] in
// destination mode. Unparsable entries are skipped.
func (c *Connection) TunnelRoutes() []netip.Prefix {
	if c.Mode() == RoutingProtectedSubnets {
		return parsePrefixes(c.RemoteSubnets)
	}
	return parsePrefixes(c.Routes)
}

func parsePrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// PeerBGPAddress returns the other usable host address of the BGP tunnel
// /30: for 169.254.10.0/30 with local 169.254.10.1 it is 169.254.10.2. ok is
// false when the tunnel CIDR or local address is invalid.
func (c *Connection) PeerBGPAddress() (addr netip.Addr, ok bool) {
	p, err := netip.ParsePrefix(c.BGP.TunnelCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() != 30 {
		return netip.Addr{}, false
	}
	local, err := netip.ParseAddr(c.BGP.LocalAddress)
	if err != nil {
		return netip.Addr{}, false
	}
	first := p.Masked().Addr().Next()
	second := first.Next()
	switch local {
	case first:
		return second, true
	case second:
		return first, true
	}
	return netip.Addr{}, false
}

// Clone returns a deep copy of c (slices and pointer fields are copied), so
// the store can hand out connections without sharing memory.
func (c *Connection) Clone() *Connection {
	n := *c
	n.LocalSubnets = cloneStrings(c.LocalSubnets)
	n.RemoteSubnets = cloneStrings(c.RemoteSubnets)
	n.Routes = cloneStrings(c.Routes)
	n.BGP.Announce = cloneStrings(c.BGP.Announce)
	n.EffectiveImmediately = clonePtr(c.EffectiveImmediately)
	n.IKE.Lifetime = clonePtr(c.IKE.Lifetime)
	n.IPsec.Lifetime = clonePtr(c.IPsec.Lifetime)
	n.DPD = clonePtr(c.DPD)
	n.NATTraversal = clonePtr(c.NATTraversal)
	n.HealthCheck.Interval = clonePtr(c.HealthCheck.Interval)
	n.HealthCheck.Retries = clonePtr(c.HealthCheck.Retries)
	n.HealthCheck.SwitchRoute = clonePtr(c.HealthCheck.SwitchRoute)
	if c.Tunnels != nil {
		n.Tunnels = make([]Tunnel, len(c.Tunnels))
		for i := range c.Tunnels {
			n.Tunnels[i] = c.Tunnels[i].clone()
		}
	}
	return &n
}

// Equivalent reports whether a and b configure the same connection once
// defaults are applied, ignoring ID. apply uses it to skip unchanged
// connections. gatewayAddress resolves the default local_id on both sides.
func Equivalent(a, b *Connection, gatewayAddress string) bool {
	x, y := a.Clone(), b.Clone()
	x.ID, y.ID = "", ""
	x.ApplyDefaults(gatewayAddress)
	y.ApplyDefaults(gatewayAddress)
	for _, c := range []*Connection{x, y} {
		c.LocalSubnets = nilIfEmpty(c.LocalSubnets)
		c.RemoteSubnets = nilIfEmpty(c.RemoteSubnets)
		c.Routes = nilIfEmpty(c.Routes)
		if len(c.Tunnels) == 0 {
			c.Tunnels = nil
		}
	}
	return reflect.DeepEqual(x, y)
}

// Redacted returns a copy of c with the pre-shared key replaced by
// "********" (empty stays empty), for listings and logs.
func (c *Connection) Redacted() *Connection {
	n := c.Clone()
	if n.PSK != "" {
		n.PSK = "********"
	}
	for i := range n.Tunnels {
		if n.Tunnels[i].PSK != "" {
			n.Tunnels[i].PSK = "********"
		}
	}
	return n
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
