package config

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Health-check bounds. SPEC §1 gives no upper bound; these keep durations
// far from overflow and are generous for any real deployment.
const (
	MaxHealthCheckInterval = 86400
	MaxHealthCheckRetries  = 100
)

// bgpLinkLocal is the range BGP tunnel CIDRs come from (SPEC §1, BGP).
var bgpLinkLocal = netip.MustParsePrefix("169.254.0.0/16")

// ReservedTunnelCIDRs returns the /30s a BGP tunnel CIDR may not use
// (SPEC §1).
func ReservedTunnelCIDRs() []netip.Prefix { return append([]netip.Prefix(nil), reservedTunnelCIDRs...) }

var reservedTunnelCIDRs = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/30"),
	netip.MustParsePrefix("169.254.1.0/30"),
	netip.MustParsePrefix("169.254.2.0/30"),
	netip.MustParsePrefix("169.254.3.0/30"),
	netip.MustParsePrefix("169.254.4.0/30"),
	netip.MustParsePrefix("169.254.5.0/30"),
	netip.MustParsePrefix("169.254.6.0/30"),
	netip.MustParsePrefix("169.254.169.252/30"),
}

// pskSpecials are the non-alphanumeric characters a PSK may contain
// (SPEC §1). The backslash is included: the provider's list reads
// "[]\|" and a literal "\" is harmless in a PSK.
const pskSpecials = "~`!@#$%^&*()_-+={}[]\\|;:',.<>/?"

// Validate checks c against every rule of SPEC §1; prefix is the key path
// of c ("connections[0]", or "" for an API request body). Omitted keys are
// validated as their defaults, so defaults need not be applied first, and
// applying them never turns a valid connection invalid.
//
// CIDRs with host bits set (10.1.0.1/24) are rejected rather than
// normalised: the operator most likely mistyped an address or a length, and
// a silent change would make apply's comparison surprising.
func (c *Connection) Validate(prefix string) Errors {
	var es Errors
	p := func(key string) string { return join(prefix, key) }

	validID(&es, p("id"), c.ID, false)
	validName(&es, p("name"), c.Name)
	switch {
	case c.CustomerGateway == "":
		es.add(p("customer_gateway"), RuleRequired, "the customer gateway's IP address is required")
	default:
		validUnicast(&es, p("customer_gateway"), c.CustomerGateway)
	}
	if c.RoutingMode != "" && !c.RoutingMode.Valid() {
		es.add(p("routing_mode"), RuleOneOf, "must be destination or protected-subnets")
	}
	if c.GatewayType != "" && !c.GatewayType.Valid() {
		es.add(p("gateway_type"), RuleOneOf, "must be public or private")
	}
	if c.TunnelMode != "" && !c.TunnelMode.Valid() {
		es.add(p("tunnel_mode"), RuleOneOf, "must be single or dual")
	}

	c.validateSubnets(&es, prefix)
	c.validateTunnelSettings(&es, prefix)
	c.HealthCheck.validate(&es, p("health_check"))
	return es
}

// validateSubnets checks local/remote subnets and routes against the
// routing mode.
func (c *Connection) validateSubnets(es *Errors, prefix string) {
	p := func(key string) string { return join(prefix, key) }
	policy := c.Mode() == RoutingProtectedSubnets
	known := c.Mode().Valid() // an invalid mode is reported once, not per list
	lists := []struct {
		key  string
		v    []string
		side string
	}{{"local_subnets", c.LocalSubnets, "cloud-side"}, {"remote_subnets", c.RemoteSubnets, "on-premises"}}
	var parsed [2][]netip.Prefix
	for i, l := range lists {
		switch {
		case !known:
		case policy && len(l.v) == 0:
			es.add(p(l.key), RuleRequired, fmt.Sprintf("protected-subnets mode needs at least one %s subnet", l.side))
		case !policy && len(l.v) > 0:
			es.add(p(l.key), RuleNotAllowed, fmt.Sprintf(
				"%s is only allowed with routing_mode protected-subnets; in destination mode use routes", l.key))
		}
		parsed[i] = validCIDRList(es, p(l.key), l.v)
	}
	for j, r := range parsed[1] {
		for _, l := range parsed[0] {
			if r.IsValid() && l.IsValid() && r.Overlaps(l) {
				es.add(index(p("remote_subnets"), j), RuleOverlap, fmt.Sprintf(
					"%s overlaps local subnet %s; traffic between them cannot be told apart", r, l))
				break
			}
		}
	}
	if len(c.Routes) > 0 && policy {
		es.add(p("routes"), RuleNotAllowed,
			"routes are only allowed in destination mode; in protected-subnets mode the remote subnets are routed")
	}
	validCIDRList(es, p("routes"), c.Routes)
}

// validCIDRList checks every entry and reports duplicates; it returns the
// parsed prefixes (invalid entries are the zero Prefix).
func validCIDRList(es *Errors, field string, v []string) []netip.Prefix {
	out := make([]netip.Prefix, len(v))
	seen := map[netip.Prefix]int{}
	for i, s := range v {
		f := index(field, i)
		pfx, ok := validCIDR(es, f, s)
		if !ok {
			continue
		}
		if j, dup := seen[pfx]; dup {
			es.add(f, RuleDuplicate, fmt.Sprintf("%s is already listed at %s", s, index(field, j)))
			continue
		}
		seen[pfx] = i
		out[i] = pfx
	}
	return out
}

// validCIDR parses s as a CIDR without host bits.
func validCIDR(es *Errors, field, s string) (netip.Prefix, bool) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		msg := fmt.Sprintf("%q is not a CIDR such as 10.1.0.0/24", s)
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			msg = fmt.Sprintf("%q has no prefix length; write %s/%d for a single address", s, s, a.BitLen())
		}
		es.add(field, RuleCIDR, msg)
		return netip.Prefix{}, false
	}
	if m := pfx.Masked(); m != pfx {
		es.add(field, RuleHostBits, fmt.Sprintf("%s has host bits set; did you mean %s?", s, m))
		return netip.Prefix{}, false
	}
	return pfx, true
}

// validUnicast checks that s is an IP address a tunnel can use.
func validUnicast(es *Errors, field, s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		es.add(field, RuleIP, fmt.Sprintf("%q is not an IP address", s))
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		es.add(field, RuleIP, fmt.Sprintf("%s is not a unicast address", s))
		return netip.Addr{}, false
	}
	return a, true
}

// validName checks a free-text name: at most 100 characters, no control
// characters (names appear in listings and logs).
func validName(es *Errors, field, v string) {
	if n := utf8.RuneCountInString(v); n > MaxNameLength {
		es.add(field, RuleLength, fmt.Sprintf("at most %d characters (got %d)", MaxNameLength, n))
		return
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		es.add(field, RuleCharset, "no control characters or invalid UTF-8")
	}
}

// validPSK checks the pre-shared key (SPEC §1).
func validPSK(es *Errors, field, v string) {
	switch n := len(v); {
	case n == 0:
		es.add(field, RuleRequired, "a pre-shared key of 1–100 characters is required")
		return
	case n > MaxPSKLength:
		es.add(field, RuleLength, fmt.Sprintf("at most %d characters (got %d)", MaxPSKLength, n))
		return
	}
	for _, r := range v {
		if r < 0x80 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			strings.ContainsRune(pskSpecials, r)) {
			continue
		}
		what := fmt.Sprintf("%q", r)
		if r == ' ' {
			what = "a space"
		}
		es.add(field, RuleCharset, "contains "+what+"; use digits, letters and "+pskSpecials+" only")
		return
	}
}

// validIdentity checks an IKE identity: an IP address or an FQDN, no spaces.
func validIdentity(es *Errors, field, v string) {
	if v == "" {
		return
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		es.add(field, RuleIdentity, "must not contain spaces; use an IP address or FQDN")
		return
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return
	}
	if !isFQDN(v) {
		es.add(field, RuleIdentity, fmt.Sprintf("%q is neither an IP address nor an FQDN such as vpn.example.com", v))
	}
}

// isFQDN accepts host names (RFC 1123 labels, at most 253 characters, an
// optional trailing dot). The last label must not be all digits, which
// rejects mistyped addresses such as 192.0.2.256.
func isFQDN(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' })
}

// validLifetime checks an SA lifetime: 0–86400 seconds.
func validLifetime(es *Errors, field string, v *int) {
	if v != nil && (*v < 0 || *v > MaxLifetime) {
		es.add(field, RuleRange, fmt.Sprintf("must be 0–%d seconds (got %d)", MaxLifetime, *v))
	}
}

// validCipherSuite checks encryption and authentication of one phase.
func validCipherSuite(es *Errors, prefix string, enc Encryption, auth Authentication) {
	if enc != "" && !enc.Valid() {
		es.add(join(prefix, "encryption"), RuleOneOf,
			"must be one of aes, aes192, aes256, des, 3des, aes128gcm16, aes256gcm16, chacha20poly1305")
	}
	switch {
	case auth != "" && !auth.Valid():
		es.add(join(prefix, "authentication"), RuleOneOf, "must be one of md5, sha1, sha256, sha384, sha512")
	case auth != "" && enc.AEAD():
		es.add(join(prefix, "authentication"), RuleAEADAuth, fmt.Sprintf(
			"%s is an AEAD cipher with built-in integrity; omit authentication", enc))
	}
}

// validate checks phase 1. multiSubnet says the connection has more than
// one local or remote subnet.
func (k *IKEConfig) validate(es *Errors, prefix string, multiSubnet bool) {
	p := func(key string) string { return join(prefix, key) }
	if k.Version != "" && !k.Version.Valid() {
		es.add(p("version"), RuleOneOf, "must be ikev1 or ikev2")
	}
	if multiSubnet && k.Version == IKEv1 {
		es.add(p("version"), RuleIKEv2,
			"several local or remote subnets need ikev2 (IKEv1 would need one SA per subnet pair); use ikev2 or a single subnet on each side")
	}
	if k.Mode != "" && !k.Mode.Valid() {
		es.add(p("mode"), RuleOneOf, "must be main or aggressive")
	}
	validCipherSuite(es, prefix, k.Encryption, k.Authentication)
	if k.Version == IKEv1 && k.Encryption.AEAD() {
		es.add(p("encryption"), RuleIKEv1AEAD, fmt.Sprintf(
			"%s is not available for IKEv1 phase 1 (strongSwan has no AEAD for IKEv1 IKE SAs); use aes, aes192 or aes256, or ikev2", k.Encryption))
	}
	if k.DHGroup != "" && !k.DHGroup.Valid() {
		es.add(p("dh_group"), RuleOneOf, "must be one of group1, group2, group5, group14, group19, group20, group21, group31")
	}
	validLifetime(es, p("lifetime"), k.Lifetime)
	validIdentity(es, p("local_id"), k.LocalID)
	validIdentity(es, p("remote_id"), k.RemoteID)
}

// validate checks phase 2.
func (s *IPsecConfig) validate(es *Errors, prefix string) {
	validCipherSuite(es, prefix, s.Encryption, s.Authentication)
	if s.DHGroup != "" && s.DHGroup != GroupDisabled && !s.DHGroup.Valid() {
		es.add(join(prefix, "dh_group"), RuleOneOf,
			"must be disabled or one of group1, group2, group5, group14, group19, group20, group21, group31")
	}
	validLifetime(es, join(prefix, "lifetime"), s.Lifetime)
}

// validate checks the BGP settings. Values given while BGP is disabled are
// still checked (they take effect when it is enabled); required ones are
// only required when enabled.
func (b *BGPConfig) validate(es *Errors, prefix string) {
	p := func(key string) string { return join(prefix, key) }
	var tunnel netip.Prefix
	switch {
	case b.TunnelCIDR == "":
		if b.Enabled {
			es.add(p("tunnel_cidr"), RuleRequired, "BGP needs a tunnel CIDR, a /30 inside 169.254.0.0/16 such as 169.254.10.0/30")
		}
	default:
		pfx, ok := validCIDR(es, p("tunnel_cidr"), b.TunnelCIDR)
		switch {
		case !ok:
		case !pfx.Addr().Is4() || !bgpLinkLocal.Contains(pfx.Addr()):
			es.add(p("tunnel_cidr"), RuleInside, fmt.Sprintf("%s must be inside 169.254.0.0/16", pfx))
		case pfx.Bits() != 30:
			es.add(p("tunnel_cidr"), RulePrefixLength, fmt.Sprintf("%s must be a /30 (two usable addresses)", pfx))
		case isReservedTunnel(pfx):
			es.add(p("tunnel_cidr"), RuleReserved, fmt.Sprintf(
				"%s is reserved; 169.254.0.0/30 to 169.254.6.0/30 and 169.254.169.252/30 cannot be used", pfx))
		default:
			tunnel = pfx
		}
	}
	switch {
	case b.LocalAddress == "":
		if b.Enabled {
			es.add(p("local_address"), RuleRequired, "BGP needs the local tunnel address, a usable host of tunnel_cidr")
		}
	default:
		a, err := netip.ParseAddr(b.LocalAddress)
		if err != nil || a.Zone() != "" {
			es.add(p("local_address"), RuleIP, fmt.Sprintf("%q is not an IP address", b.LocalAddress))
		} else if tunnel.IsValid() {
			first := tunnel.Addr().Next()
			if a != first && a != first.Next() {
				es.add(p("local_address"), RuleInside, fmt.Sprintf(
					"must be a usable host address of %s: %s or %s", tunnel, first, first.Next()))
			}
		}
	}
	switch {
	case b.PeerASN == 0:
		if b.Enabled {
			es.add(p("peer_asn"), RuleRequired, "BGP needs the customer gateway's ASN (1–4294967295, plain or HIGH.LOW)")
		}
	case b.PeerASN == DefaultLocalASN:
		es.add(p("peer_asn"), RuleReserved, "45104 is reserved for the cloud side; use the customer gateway's own ASN")
	}
	validCIDRList(es, p("announce"), b.Announce)
}

func isReservedTunnel(p netip.Prefix) bool {
	for _, r := range reservedTunnelCIDRs {
		if r == p {
			return true
		}
	}
	return false
}

// validate checks the health check.
func (h *HealthCheckConfig) validate(es *Errors, prefix string) {
	p := func(key string) string { return join(prefix, key) }
	for _, f := range []struct{ key, v, what string }{
		{"destination_ip", h.DestinationIP, "an on-premises address that answers ICMP echo"},
		{"source_ip", h.SourceIP, "a cloud-side address used as the probes' source"},
	} {
		switch {
		case f.v == "":
			if h.Enabled {
				es.add(p(f.key), RuleRequired, "the health check needs "+f.what)
			}
		default:
			validUnicast(es, p(f.key), f.v)
		}
	}
	if h.Interval != nil && (*h.Interval < 1 || *h.Interval > MaxHealthCheckInterval) {
		es.add(p("interval"), RuleRange, fmt.Sprintf("must be 1–%d seconds (got %d)", MaxHealthCheckInterval, *h.Interval))
	}
	if h.Retries != nil && (*h.Retries < 1 || *h.Retries > MaxHealthCheckRetries) {
		es.add(p("retries"), RuleRange, fmt.Sprintf("must be 1–%d (got %d)", MaxHealthCheckRetries, *h.Retries))
	}
}

// Validate checks every connection and that names are non-empty and unique
// within the file (apply matches connections by name). Errors carry the line
// of the key when the file came from [ParseFile].
func (f *File) Validate() Errors {
	var es Errors
	names := map[string]int{}
	for i := range f.Connections {
		c := &f.Connections[i]
		at := index("connections", i)
		switch j, dup := names[c.Name]; {
		case c.Name == "":
			es.add(join(at, "name"), RuleRequired, "every connection in a file needs a name: apply matches connections by name")
		case dup:
			es.add(join(at, "name"), RuleUnique, fmt.Sprintf("name %q is already used by %s", c.Name, index("connections", j)))
		default:
			names[c.Name] = i
		}
		es = append(es, c.Validate(at)...)
	}
	for i := range es {
		es[i].Line = f.Line(es[i].Field)
	}
	return es
}
