package config

import (
	"slices"
	"testing"
)

// validDual returns a valid dual-tunnel connection.
func validDual() *Connection {
	return &Connection{
		Name: "dual", CustomerGateway: "192.0.2.1", TunnelMode: TunnelDual,
		RoutingMode: RoutingProtectedSubnets, LocalSubnets: []string{"10.2.0.0/24"}, RemoteSubnets: []string{"10.1.0.0/24"},
		Tunnels: []Tunnel{
			{Zone: "zone-a", PSK: "psk-a", BGP: BGPConfig{Enabled: true, TunnelCIDR: "169.254.10.0/30", LocalAddress: "169.254.10.1", PeerASN: 65001}},
			{Zone: "zone-b", PSK: "psk-b", CustomerGateway: "192.0.2.9", IKE: IKEConfig{Encryption: EncAES256},
				BGP: BGPConfig{Enabled: true, TunnelCIDR: "169.254.11.0/30", LocalAddress: "169.254.11.1", PeerASN: 65001}},
		},
	}
}

func TestDualTunnelValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(c *Connection)
		want []fr
	}{
		{"valid", func(c *Connection) {}, nil},
		{"one tunnel", func(c *Connection) { c.Tunnels = c.Tunnels[:1] }, []fr{{"tunnels", RuleLength}}},
		{"connection psk", func(c *Connection) { c.PSK = "x" }, []fr{{"psk", RuleNotAllowed}}},
		{"connection ike", func(c *Connection) { c.IKE.Version = IKEv2 }, []fr{{"ike", RuleNotAllowed}}},
		{"connection ipsec", func(c *Connection) { c.IPsec.Lifetime = ptr(0) }, []fr{{"ipsec", RuleNotAllowed}}},
		{"connection dpd", func(c *Connection) { c.DPD = ptr(true) }, []fr{{"dpd", RuleNotAllowed}}},
		{"connection natt", func(c *Connection) { c.NATTraversal = ptr(false) }, []fr{{"nat_traversal", RuleNotAllowed}}},
		{"connection bgp", func(c *Connection) { c.BGP.PeerASN = 65001 }, []fr{{"bgp", RuleNotAllowed}}},
		{"zone missing", func(c *Connection) { c.Tunnels[0].Zone = "" }, []fr{{"tunnels[0].zone", RuleRequired}}},
		{"same zone", func(c *Connection) { c.Tunnels[1].Zone = "zone-a" }, []fr{{"tunnels[1].zone", RuleUnique}}},
		{"tunnel cgw bad", func(c *Connection) { c.Tunnels[1].CustomerGateway = "x" }, []fr{{"tunnels[1].customer_gateway", RuleIP}}},
		{"tunnel psk missing", func(c *Connection) { c.Tunnels[1].PSK = "" }, []fr{{"tunnels[1].psk", RuleRequired}}},
		{"tunnel ike lifetime", func(c *Connection) { c.Tunnels[0].IKE.Lifetime = ptr(90000) }, []fr{{"tunnels[0].ike.lifetime", RuleRange}}},
		{"tunnel ipsec dh", func(c *Connection) { c.Tunnels[0].IPsec.DHGroup = "x" }, []fr{{"tunnels[0].ipsec.dh_group", RuleOneOf}}},
		{"tunnel ikev1 multi subnet", func(c *Connection) {
			c.Tunnels[0].IKE.Version = IKEv1
			c.LocalSubnets = append(c.LocalSubnets, "10.3.0.0/24")
		}, []fr{{"tunnels[0].ike.version", RuleIKEv2}}},
		{"tunnel bgp reserved", func(c *Connection) { c.Tunnels[1].BGP.PeerASN = 45104 }, []fr{{"tunnels[1].bgp.peer_asn", RuleReserved}}},
		{"same tunnel cidr", func(c *Connection) {
			c.Tunnels[1].BGP.TunnelCIDR, c.Tunnels[1].BGP.LocalAddress = "169.254.10.0/30", "169.254.10.2"
		}, []fr{{"tunnels[1].bgp.tunnel_cidr", RuleUnique}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validDual()
			tc.mut(c)
			want := tc.want
			if got := frs(c.Validate("")); !slices.Equal(got, want) {
				t.Fatalf("errors = %v, want %v", got, want)
			}
			if len(tc.want) == 0 {
				c.ApplyDefaults("192.0.2.2")
				if got := frs(c.Validate("")); !slices.Equal(got, want) {
					t.Fatalf("after ApplyDefaults: %v", got)
				}
			}
		})
	}
}

func TestDualTunnelDefaultsCloneRedact(t *testing.T) {
	c := validDual()
	c.ApplyDefaults("192.0.2.2")
	if c.PSK != "" || c.IKE.Version != "" || c.DPD != nil || c.BGP.LocalASN != 0 {
		t.Fatalf("connection-level tunnel settings set in dual mode: %+v", c)
	}
	t0, t1 := c.Tunnels[0], c.Tunnels[1]
	if t0.IKE.Version != IKEv2 || *t0.DPD != true || t0.BGP.LocalASN != 45104 || t0.IKE.LocalID != "" ||
		t0.IKE.RemoteID != "192.0.2.1" || t1.IKE.RemoteID != "192.0.2.9" || t1.IKE.Encryption != EncAES256 ||
		t1.Peer(c) != "192.0.2.9" || t0.Peer(c) != "192.0.2.1" {
		t.Fatalf("tunnel defaults: %+v / %+v", t0, t1)
	}
	d := c.Clone()
	*d.Tunnels[0].DPD = false
	d.Tunnels[1].Zone = "zone-z"
	if !*c.Tunnels[0].DPD || c.Tunnels[1].Zone != "zone-b" {
		t.Fatal("Clone shares tunnels")
	}
	r := c.Redacted()
	if r.Tunnels[0].PSK != "********" || c.Tunnels[0].PSK != "psk-a" {
		t.Fatal("tunnel PSK not redacted")
	}
	f, err := ParseFile([]byte("connections:\n  - name: d\n    tunnel_mode: dual\n    tunnels:\n      - zone: a\n        psk: k\n        ike: {version: ikev1}\n      - zone: b\n        pks: k\n"))
	if err == nil {
		t.Fatalf("typo in tunnel accepted: %+v", f)
	}
	if es := err.(Errors); !es.Has("connections[0].tunnels[1].pks", RuleUnknownKey) {
		t.Fatalf("err = %v", err)
	}
}
