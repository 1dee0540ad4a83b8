package config

import (
	"fmt"
	"net/netip"
)

// Warnings lists settings of c that are allowed but discouraged: weak or
// slow algorithms, keys that have no effect, health-check addresses the
// tunnel will not carry. They never make a connection invalid; the CLI
// prints them and the API returns them beside a successful result. prefix
// is the key path of c, as for [Connection.Validate].
func (c *Connection) Warnings(prefix string) []FieldError {
	var ws Errors
	p := func(key string) string { return join(prefix, key) }
	type phase struct {
		key  string
		enc  Encryption
		auth Authentication
		dh   DHGroup
	}
	phases := []phase{{"ike", c.IKE.Encryption, c.IKE.Authentication, c.IKE.DHGroup},
		{"ipsec", c.IPsec.Encryption, c.IPsec.Authentication, c.IPsec.DHGroup}}
	for i, t := range c.Tunnels {
		tp := index("tunnels", i)
		phases = append(phases, phase{tp + ".ike", t.IKE.Encryption, t.IKE.Authentication, t.IKE.DHGroup},
			phase{tp + ".ipsec", t.IPsec.Encryption, t.IPsec.Authentication, t.IPsec.DHGroup})
	}
	for _, ph := range phases {
		if ph.enc == EncDES || ph.enc == Enc3DES {
			ws.add(p(ph.key+".encryption"), RuleDiscouraged, fmt.Sprintf(
				"%s is allowed but discouraged: it is weak and far slower than aes", ph.enc))
		}
		if ph.auth == AuthMD5 {
			ws.add(p(ph.key+".authentication"), RuleWeak, "md5 is weak; prefer sha256")
		}
		if ph.dh == Group1 {
			ws.add(p(ph.key+".dh_group"), RuleWeak, "group1 (MODP-768) is weak; prefer group14 or group19")
		}
	}
	if c.IKE.EffectiveVersion() == IKEv2 && c.IKE.Mode == ModeAggressive {
		ws.add(p("ike.mode"), RuleIgnored, "aggressive mode only exists in IKEv1; it is ignored with ikev2")
	}
	if c.IKE.Version == IKEv1 && c.IKE.Mode != ModeAggressive && (isFQDNOnly(c.IKE.LocalID) || isFQDNOnly(c.IKE.RemoteID)) {
		ws.add(p("ike.mode"), RuleDiscouraged,
			"with IKEv1 and FQDN identities aggressive mode is advised (main mode with a PSK identifies peers by IP)")
	}
	if c.Mode() == RoutingProtectedSubnets && c.HealthCheck.Enabled {
		if !inAny(c.HealthCheck.DestinationIP, c.RemoteSubnets) {
			ws.add(p("health_check.destination_ip"), RuleInside,
				"not inside any remote subnet, so probes will not enter the tunnel")
		}
		if !inAny(c.HealthCheck.SourceIP, c.LocalSubnets) {
			ws.add(p("health_check.source_ip"), RuleInside,
				"not inside any local subnet, so replies will not match the tunnel's traffic selectors")
		}
	}
	if c.Mode() == RoutingDestination && c.HealthCheck.Enabled && !c.BGP.Enabled && len(c.Routes) > 0 &&
		!inAny(c.HealthCheck.DestinationIP, c.Routes) {
		ws.add(p("health_check.destination_ip"), RuleInside,
			"not inside any of routes and BGP is off, so probes will not enter the tunnel")
	}
	return ws
}

// Warnings lists the warnings of every connection, with lines when the file
// came from [ParseFile].
func (f *File) Warnings() []FieldError {
	var ws []FieldError
	for i := range f.Connections {
		ws = append(ws, f.Connections[i].Warnings(index("connections", i))...)
	}
	for i := range ws {
		ws[i].Line = f.Line(ws[i].Field)
	}
	return ws
}

// isFQDNOnly reports whether s is an FQDN identity (not an IP address).
func isFQDNOnly(s string) bool {
	if s == "" {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	return isFQDN(s)
}

// inAny reports whether the address s lies in one of the CIDRs; an
// unparsable address counts as inside (validation reports it instead).
func inAny(s string, cidrs []string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return true
	}
	for _, p := range parsePrefixes(cidrs) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
