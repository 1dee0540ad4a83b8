package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// validConn returns a connection that exercises every section: policy mode,
// BGP and health check enabled. Each case mutates a fresh copy.
func validConn() *Connection {
	return &Connection{
		Name:            "hq",
		CustomerGateway: "192.0.2.1",
		RoutingMode:     RoutingProtectedSubnets,
		LocalSubnets:    []string{"10.2.0.0/24"},
		RemoteSubnets:   []string{"10.1.0.0/24"},
		PSK:             "s3cret-PSK",
		IKE:             IKEConfig{Version: IKEv2, LocalID: "192.0.2.2", RemoteID: "192.0.2.1"},
		BGP: BGPConfig{Enabled: true, LocalASN: 45104, TunnelCIDR: "169.254.10.0/30",
			LocalAddress: "169.254.10.1", PeerASN: 65001},
		HealthCheck: HealthCheckConfig{Enabled: true, DestinationIP: "10.1.0.10", SourceIP: "10.2.0.1"},
	}
}

// fr is an expected (field, rule) pair, relative to the connection.
type fr struct{ field, rule string }

func TestConnectionValidate(t *testing.T) {
	long := strings.Repeat("x", 101)
	cases := []struct {
		name string
		mut  func(c *Connection)
		want []fr // nil: valid
	}{
		{"base valid", func(c *Connection) {}, nil},
		// name
		{"name 100 chars", func(c *Connection) { c.Name = strings.Repeat("é", 100) }, nil},
		{"name empty ok outside files", func(c *Connection) { c.Name = "" }, nil},
		{"name 101 chars", func(c *Connection) { c.Name = long }, []fr{{"name", RuleLength}}},
		{"name control char", func(c *Connection) { c.Name = "a\nb" }, []fr{{"name", RuleCharset}}},
		// customer gateway
		{"cgw ipv6", func(c *Connection) { c.CustomerGateway = "2001:db8::1" }, nil},
		{"cgw missing", func(c *Connection) { c.CustomerGateway = "" }, []fr{{"customer_gateway", RuleRequired}}},
		{"cgw not ip", func(c *Connection) { c.CustomerGateway = "gw.example.com" }, []fr{{"customer_gateway", RuleIP}}},
		{"cgw unspecified", func(c *Connection) { c.CustomerGateway = "0.0.0.0" }, []fr{{"customer_gateway", RuleIP}}},
		{"cgw multicast", func(c *Connection) { c.CustomerGateway = "224.0.0.5" }, []fr{{"customer_gateway", RuleIP}}},
		// routing mode and subnets
		{"mode bogus", func(c *Connection) { c.RoutingMode = "policy" }, []fr{{"routing_mode", RuleOneOf}}},
		{"destination mode no subnets", func(c *Connection) {
			c.RoutingMode, c.LocalSubnets, c.RemoteSubnets = RoutingDestination, nil, nil
			c.Routes = []string{"10.1.0.0/24", "10.9.0.0/16"}
		}, nil},
		{"omitted mode is destination", func(c *Connection) { c.RoutingMode = "" },
			[]fr{{"local_subnets", RuleNotAllowed}, {"remote_subnets", RuleNotAllowed}}},
		{"policy mode local missing", func(c *Connection) { c.LocalSubnets = nil }, []fr{{"local_subnets", RuleRequired}}},
		{"policy mode remote missing", func(c *Connection) { c.RemoteSubnets = []string{} }, []fr{{"remote_subnets", RuleRequired}}},
		{"subnet not cidr", func(c *Connection) { c.LocalSubnets = []string{"10.2.0.0/33"} }, []fr{{"local_subnets[0]", RuleCIDR}}},
		{"subnet bare address", func(c *Connection) { c.RemoteSubnets = []string{"10.1.0.5"} }, []fr{{"remote_subnets[0]", RuleCIDR}}},
		{"subnet host bits", func(c *Connection) { c.LocalSubnets = []string{"10.2.0.1/24"} }, []fr{{"local_subnets[0]", RuleHostBits}}},
		{"subnet duplicate", func(c *Connection) { c.LocalSubnets = []string{"10.2.0.0/24", "10.2.0.0/24"} },
			[]fr{{"local_subnets[1]", RuleDuplicate}}},
		{"subnets overlap", func(c *Connection) { c.RemoteSubnets = []string{"10.0.0.0/8"} }, []fr{{"remote_subnets[0]", RuleOverlap}}},
		{"multiple subnets ikev2", func(c *Connection) { c.LocalSubnets = []string{"10.2.0.0/24", "10.3.0.0/24"} }, nil},
		{"multiple subnets ikev1", func(c *Connection) {
			c.IKE.Version = IKEv1
			c.RemoteSubnets = []string{"10.1.0.0/24", "10.4.0.0/24"}
		}, []fr{{"ike.version", RuleIKEv2}}},
		{"single subnets ikev1", func(c *Connection) { c.IKE.Version = IKEv1 }, nil},
		// routes
		{"routes in policy mode", func(c *Connection) { c.Routes = []string{"10.9.0.0/16"} }, []fr{{"routes", RuleNotAllowed}}},
		{"route host bits", func(c *Connection) {
			c.RoutingMode, c.LocalSubnets, c.RemoteSubnets = RoutingDestination, nil, nil
			c.Routes = []string{"10.9.1.0/16"}
		}, []fr{{"routes[0]", RuleHostBits}}},
		// effective immediately
		{"effective immediately false", func(c *Connection) { c.EffectiveImmediately = ptr(false) }, nil},
		// psk
		{"psk all specials", func(c *Connection) { c.PSK = "aZ9" + pskSpecials }, nil},
		{"psk 100", func(c *Connection) { c.PSK = strings.Repeat("k", 100) }, nil},
		{"psk missing", func(c *Connection) { c.PSK = "" }, []fr{{"psk", RuleRequired}}},
		{"psk 101", func(c *Connection) { c.PSK = strings.Repeat("k", 101) }, []fr{{"psk", RuleLength}}},
		{"psk space", func(c *Connection) { c.PSK = "two words" }, []fr{{"psk", RuleCharset}}},
		{"psk double quote", func(c *Connection) { c.PSK = `a"b` }, []fr{{"psk", RuleCharset}}},
		{"psk non-ascii", func(c *Connection) { c.PSK = "clé" }, []fr{{"psk", RuleCharset}}},
		// ike
		{"ike version bogus", func(c *Connection) { c.IKE.Version = "ikev3" }, []fr{{"ike.version", RuleOneOf}}},
		{"ike mode aggressive", func(c *Connection) { c.IKE.Version, c.IKE.Mode = IKEv1, ModeAggressive }, nil},
		{"ike mode bogus", func(c *Connection) { c.IKE.Mode = "quick" }, []fr{{"ike.mode", RuleOneOf}}},
		{"ike every cipher", func(c *Connection) { c.IKE.Encryption = Enc3DES }, nil},
		{"ike encryption bogus", func(c *Connection) { c.IKE.Encryption = "aes512" }, []fr{{"ike.encryption", RuleOneOf}}},
		{"ike authentication sha512", func(c *Connection) { c.IKE.Authentication = AuthSHA512 }, nil},
		{"ike authentication bogus", func(c *Connection) { c.IKE.Authentication = "sha3" }, []fr{{"ike.authentication", RuleOneOf}}},
		{"ike aead ikev2", func(c *Connection) { c.IKE.Encryption = EncAES256GCM16 }, nil},
		{"ike aead with auth", func(c *Connection) { c.IKE.Encryption, c.IKE.Authentication = EncAES128GCM16, AuthSHA256 },
			[]fr{{"ike.authentication", RuleAEADAuth}}},
		{"ike aead ikev1", func(c *Connection) { c.IKE.Version, c.IKE.Encryption = IKEv1, EncChaCha20Poly1305 },
			[]fr{{"ike.encryption", RuleIKEv1AEAD}}},
		{"ike dh group31", func(c *Connection) { c.IKE.DHGroup = Group31 }, nil},
		{"ike dh disabled", func(c *Connection) { c.IKE.DHGroup = GroupDisabled }, []fr{{"ike.dh_group", RuleOneOf}}},
		{"ike dh bogus", func(c *Connection) { c.IKE.DHGroup = "group15" }, []fr{{"ike.dh_group", RuleOneOf}}},
		{"ike lifetime 0", func(c *Connection) { c.IKE.Lifetime = ptr(0) }, nil},
		{"ike lifetime 86400", func(c *Connection) { c.IKE.Lifetime = ptr(86400) }, nil},
		{"ike lifetime 86401", func(c *Connection) { c.IKE.Lifetime = ptr(86401) }, []fr{{"ike.lifetime", RuleRange}}},
		{"ike lifetime negative", func(c *Connection) { c.IKE.Lifetime = ptr(-1) }, []fr{{"ike.lifetime", RuleRange}}},
		{"ike local id fqdn", func(c *Connection) { c.IKE.LocalID = "vpn.example.com." }, nil},
		{"ike local id ipv6", func(c *Connection) { c.IKE.LocalID = "2001:db8::2" }, nil},
		{"ike local id space", func(c *Connection) { c.IKE.LocalID = "vpn example" }, []fr{{"ike.local_id", RuleIdentity}}},
		{"ike remote id bad ip", func(c *Connection) { c.IKE.RemoteID = "192.0.2.256" }, []fr{{"ike.remote_id", RuleIdentity}}},
		{"ike remote id underscore", func(c *Connection) { c.IKE.RemoteID = "my_host.example" }, []fr{{"ike.remote_id", RuleIdentity}}},
		// ipsec
		{"ipsec pfs disabled", func(c *Connection) { c.IPsec.DHGroup = GroupDisabled }, nil},
		{"ipsec aead", func(c *Connection) { c.IPsec.Encryption = EncAES128GCM16 }, nil},
		{"ipsec aead ikev1 ok", func(c *Connection) { c.IKE.Version, c.IPsec.Encryption = IKEv1, EncAES256GCM16 }, nil},
		{"ipsec encryption bogus", func(c *Connection) { c.IPsec.Encryption = "blowfish" }, []fr{{"ipsec.encryption", RuleOneOf}}},
		{"ipsec authentication bogus", func(c *Connection) { c.IPsec.Authentication = "crc32" }, []fr{{"ipsec.authentication", RuleOneOf}}},
		{"ipsec aead with auth", func(c *Connection) { c.IPsec.Encryption, c.IPsec.Authentication = EncAES256GCM16, AuthSHA1 },
			[]fr{{"ipsec.authentication", RuleAEADAuth}}},
		{"ipsec dh bogus", func(c *Connection) { c.IPsec.DHGroup = "none" }, []fr{{"ipsec.dh_group", RuleOneOf}}},
		{"ipsec lifetime 86401", func(c *Connection) { c.IPsec.Lifetime = ptr(86401) }, []fr{{"ipsec.lifetime", RuleRange}}},
		// bgp
		{"bgp disabled nothing required", func(c *Connection) { c.BGP = BGPConfig{} }, nil},
		{"bgp asdot peer", func(c *Connection) { c.BGP.PeerASN = 8061384 }, nil},
		{"bgp tunnel missing", func(c *Connection) { c.BGP.TunnelCIDR = "" }, []fr{{"bgp.tunnel_cidr", RuleRequired}}},
		{"bgp tunnel not cidr", func(c *Connection) { c.BGP.TunnelCIDR = "169.254.10.0" }, []fr{{"bgp.tunnel_cidr", RuleCIDR}}},
		{"bgp tunnel outside link-local", func(c *Connection) { c.BGP.TunnelCIDR, c.BGP.LocalAddress = "10.0.0.0/30", "10.0.0.1" },
			[]fr{{"bgp.tunnel_cidr", RuleInside}}},
		{"bgp tunnel /29", func(c *Connection) { c.BGP.TunnelCIDR = "169.254.10.0/29" }, []fr{{"bgp.tunnel_cidr", RulePrefixLength}}},
		{"bgp tunnel host bits", func(c *Connection) { c.BGP.TunnelCIDR = "169.254.10.1/30" }, []fr{{"bgp.tunnel_cidr", RuleHostBits}}},
		{"bgp tunnel reserved 169.254.6.0", func(c *Connection) { c.BGP.TunnelCIDR, c.BGP.LocalAddress = "169.254.6.0/30", "169.254.6.1" },
			[]fr{{"bgp.tunnel_cidr", RuleReserved}}},
		{"bgp tunnel reserved 169.254.169.252", func(c *Connection) {
			c.BGP.TunnelCIDR, c.BGP.LocalAddress = "169.254.169.252/30", "169.254.169.253"
		}, []fr{{"bgp.tunnel_cidr", RuleReserved}}},
		{"bgp tunnel 169.254.7.0 ok", func(c *Connection) { c.BGP.TunnelCIDR, c.BGP.LocalAddress = "169.254.7.0/30", "169.254.7.2" }, nil},
		{"bgp tunnel ipv6", func(c *Connection) { c.BGP.TunnelCIDR = "fe80::/126" }, []fr{{"bgp.tunnel_cidr", RuleInside}}},
		{"bgp local address missing", func(c *Connection) { c.BGP.LocalAddress = "" }, []fr{{"bgp.local_address", RuleRequired}}},
		{"bgp local address not ip", func(c *Connection) { c.BGP.LocalAddress = "x" }, []fr{{"bgp.local_address", RuleIP}}},
		{"bgp local address network", func(c *Connection) { c.BGP.LocalAddress = "169.254.10.0" }, []fr{{"bgp.local_address", RuleInside}}},
		{"bgp local address broadcast", func(c *Connection) { c.BGP.LocalAddress = "169.254.10.3" }, []fr{{"bgp.local_address", RuleInside}}},
		{"bgp local address outside", func(c *Connection) { c.BGP.LocalAddress = "169.254.11.1" }, []fr{{"bgp.local_address", RuleInside}}},
		{"bgp peer asn missing", func(c *Connection) { c.BGP.PeerASN = 0 }, []fr{{"bgp.peer_asn", RuleRequired}}},
		{"bgp peer asn 45104", func(c *Connection) { c.BGP.PeerASN = 45104 }, []fr{{"bgp.peer_asn", RuleReserved}}},
		{"bgp announce not a cidr", func(c *Connection) { c.BGP.Announce = []string{"10.2.0.0/24", "10.2.0.1"} }, []fr{{"bgp.announce[1]", RuleCIDR}}},
		{"bgp peer asn max", func(c *Connection) { c.BGP.PeerASN = MaxASN }, nil},
		{"bgp disabled bad values checked", func(c *Connection) { c.BGP.Enabled, c.BGP.TunnelCIDR = false, "169.254.0.0/30" },
			[]fr{{"bgp.tunnel_cidr", RuleReserved}}},
		// health check
		{"health disabled nothing required", func(c *Connection) { c.HealthCheck = HealthCheckConfig{} }, nil},
		{"health destination missing", func(c *Connection) { c.HealthCheck.DestinationIP = "" }, []fr{{"health_check.destination_ip", RuleRequired}}},
		{"health source missing", func(c *Connection) { c.HealthCheck.SourceIP = "" }, []fr{{"health_check.source_ip", RuleRequired}}},
		{"health destination bad", func(c *Connection) { c.HealthCheck.DestinationIP = "10.1.0" }, []fr{{"health_check.destination_ip", RuleIP}}},
		{"health source bad", func(c *Connection) { c.HealthCheck.SourceIP = "::zz" }, []fr{{"health_check.source_ip", RuleIP}}},
		{"health interval 1 retries 1", func(c *Connection) { c.HealthCheck.Interval, c.HealthCheck.Retries = ptr(1), ptr(1) }, nil},
		{"health interval 0", func(c *Connection) { c.HealthCheck.Interval = ptr(0) }, []fr{{"health_check.interval", RuleRange}}},
		{"health retries 0", func(c *Connection) { c.HealthCheck.Retries = ptr(0) }, []fr{{"health_check.retries", RuleRange}}},
		{"health switch route false", func(c *Connection) { c.HealthCheck.SwitchRoute = ptr(false) }, nil},
		// gateway type, tunnel mode
		{"gateway type private", func(c *Connection) { c.GatewayType = GatewayPrivate }, nil},
		{"gateway type bogus", func(c *Connection) { c.GatewayType = "enhanced" }, []fr{{"gateway_type", RuleOneOf}}},
		{"tunnel mode single", func(c *Connection) { c.TunnelMode = TunnelSingle }, nil},
		{"tunnel mode dual", func(c *Connection) { c.TunnelMode = TunnelDual }, []fr{
			{"psk", RuleNotAllowed}, {"ike", RuleNotAllowed}, {"bgp", RuleNotAllowed}, {"tunnels", RuleLength}}},
		{"tunnels in single mode", func(c *Connection) { c.Tunnels = []Tunnel{{Zone: "a"}} }, []fr{{"tunnels", RuleNotAllowed}}},
		{"id ok", func(c *Connection) { c.ID = "vco-0123456789ab" }, nil},
		{"id charset", func(c *Connection) { c.ID = "a b" }, []fr{{"id", RuleCharset}}},
		{"tunnel mode bogus", func(c *Connection) { c.TunnelMode = "triple" }, []fr{{"tunnel_mode", RuleOneOf}}},
	}
	const prefix = "connections[3]"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConn()
			tc.mut(c)
			got := c.Validate(prefix)
			var gotFR []fr
			for _, e := range got {
				gotFR = append(gotFR, fr{e.Field, e.Rule})
				if e.Message == "" {
					t.Errorf("%s (%s): empty message", e.Field, e.Rule)
				}
			}
			var want []fr
			for _, w := range tc.want {
				want = append(want, fr{prefix + "." + w.field, w.rule})
			}
			if !slices.Equal(gotFR, want) {
				t.Fatalf("errors = %v\nwant %v\n(%v)", gotFR, want, got)
			}
			// Defaults never turn a valid connection invalid.
			if len(want) == 0 {
				c.ApplyDefaults("192.0.2.2")
				if es := c.Validate(""); len(es) != 0 {
					t.Fatalf("invalid after ApplyDefaults: %v", es)
				}
			}
		})
	}
}

func TestValidateReportsAllErrors(t *testing.T) {
	c := &Connection{RoutingMode: RoutingProtectedSubnets, IKE: IKEConfig{Lifetime: ptr(-5)},
		BGP: BGPConfig{Enabled: true}}
	es := c.Validate("")
	for _, w := range []fr{{"customer_gateway", RuleRequired}, {"local_subnets", RuleRequired},
		{"remote_subnets", RuleRequired}, {"psk", RuleRequired}, {"ike.lifetime", RuleRange},
		{"bgp.tunnel_cidr", RuleRequired}, {"bgp.local_address", RuleRequired}, {"bgp.peer_asn", RuleRequired}} {
		if !es.Has(w.field, w.rule) {
			t.Errorf("missing %v in %v", w, es)
		}
	}
	if len(es) != 8 {
		t.Errorf("got %d errors, want 8: %v", len(es), es)
	}
}

func TestFileValidateNames(t *testing.T) {
	f := &File{Connections: []Connection{*validConn(), *validConn(), *validConn()}}
	f.Connections[1].Name = ""
	f.Connections[2].Name = "hq"
	es := f.Validate()
	want := Errors{
		{Field: "connections[1].name", Rule: RuleRequired},
		{Field: "connections[2].name", Rule: RuleUnique},
	}
	if len(es) != len(want) {
		t.Fatalf("errors = %v", es)
	}
	for i := range want {
		if es[i].Field != want[i].Field || es[i].Rule != want[i].Rule {
			t.Errorf("error %d = %v, want %v", i, es[i], want[i])
		}
	}
	f.Connections[1].Name, f.Connections[2].Name = "branch", "dc"
	if es := f.Validate(); len(es) != 0 {
		t.Fatalf("unique names: %v", es)
	}
}

func TestErrorsFormatting(t *testing.T) {
	var none Errors
	if none.Err() != nil {
		t.Fatal("empty Errors.Err() must be nil")
	}
	es := Errors{{Field: "connections[0].psk", Rule: RuleCharset, Message: "bad", Line: 7},
		{Field: "name", Rule: RuleLength, Message: "long"}}
	want := "config: line 7: connections[0].psk: bad (charset); name: long (length)"
	if got := es.Err().Error(); got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestWarnings(t *testing.T) {
	c := validConn()
	if ws := c.Warnings(""); len(ws) != 0 {
		t.Fatalf("valid defaults warn: %v", ws)
	}
	c.IKE.Encryption, c.IPsec.Encryption = EncDES, Enc3DES
	c.IKE.Authentication, c.IPsec.DHGroup = AuthMD5, Group1
	c.IKE.Mode = ModeAggressive
	c.HealthCheck.DestinationIP = "10.9.9.9"
	ws := Errors(c.Warnings(""))
	for _, w := range []fr{{"ike.encryption", RuleDiscouraged}, {"ipsec.encryption", RuleDiscouraged},
		{"ike.authentication", RuleWeak}, {"ipsec.dh_group", RuleWeak}, {"ike.mode", RuleIgnored},
		{"health_check.destination_ip", RuleInside}} {
		if !ws.Has(w.field, w.rule) {
			t.Errorf("missing warning %v in %v", w, ws)
		}
	}
	if es := c.Validate(""); len(es) != 0 {
		t.Fatalf("warnings must not be errors: %v", es)
	}
	c = validConn()
	c.RoutingMode, c.LocalSubnets, c.RemoteSubnets, c.BGP.Enabled = RoutingDestination, nil, nil, false
	c.Routes = []string{"10.8.0.0/16"}
	if !Errors(c.Warnings("")).Has("health_check.destination_ip", RuleInside) {
		t.Errorf("unrouted health-check destination should warn")
	}
	c.Routes = []string{"10.1.0.0/16"}
	if ws := c.Warnings(""); len(ws) != 0 {
		t.Errorf("routed destination warns: %v", ws)
	}
	c = validConn()
	c.IKE.Version, c.IKE.RemoteID = IKEv1, "branch.example.com"
	if !Errors(c.Warnings("")).Has("ike.mode", RuleDiscouraged) {
		t.Errorf("ikev1 main mode with FQDN id should warn")
	}
}

func TestReservedTunnelCIDRs(t *testing.T) {
	rs := ReservedTunnelCIDRs()
	if len(rs) != 8 {
		t.Fatalf("%d reserved /30s, want 8", len(rs))
	}
	for _, r := range rs {
		c := validConn()
		c.BGP.TunnelCIDR, c.BGP.LocalAddress = r.String(), r.Addr().Next().String()
		if got := frs(c.Validate("")); !slices.Equal(got, []fr{{"bgp.tunnel_cidr", RuleReserved}}) {
			t.Errorf("%s: %v", r, got)
		}
	}
	for _, ok := range []string{"169.254.7.0/30", "169.254.0.4/30", "169.254.169.248/30", "169.254.255.252/30"} {
		c := validConn()
		pfx := netip.MustParsePrefix(ok)
		c.BGP.TunnelCIDR, c.BGP.LocalAddress = ok, pfx.Addr().Next().String()
		if es := c.Validate(""); len(es) != 0 {
			t.Errorf("%s: %v", ok, es)
		}
	}
	rs[0] = netip.Prefix{}
	if ReservedTunnelCIDRs()[0] != netip.MustParsePrefix("169.254.0.0/30") {
		t.Fatal("ReservedTunnelCIDRs shares its backing array")
	}
}
