package config

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func TestApplyDefaults(t *testing.T) {
	c := &Connection{CustomerGateway: "192.0.2.1", PSK: "k"}
	// Accessors give the defaults before ApplyDefaults…
	if !c.Immediate() || !c.DPDEnabled() || !c.NATTEnabled() || c.Mode() != RoutingDestination ||
		c.IKE.EffectiveVersion() != IKEv2 || c.IKE.LifetimeSeconds() != 86400 || c.IPsec.LifetimeSeconds() != 86400 ||
		!c.IPsec.PFS() || c.BGP.EffectiveLocalASN() != 45104 || c.HealthCheck.IntervalSeconds() != 3 ||
		c.HealthCheck.RetryCount() != 3 || !c.HealthCheck.SwitchRouteEnabled() ||
		c.LocalIdentity("192.0.2.2") != "192.0.2.2" || c.RemoteIdentity() != "192.0.2.1" {
		t.Fatalf("accessor defaults wrong: %+v", c)
	}
	c.ApplyDefaults("192.0.2.2")
	want := &Connection{
		CustomerGateway:      "192.0.2.1",
		PSK:                  "k",
		RoutingMode:          RoutingDestination,
		EffectiveImmediately: ptr(true),
		IKE: IKEConfig{Version: IKEv2, Mode: ModeMain, Encryption: EncAES, Authentication: AuthSHA1,
			DHGroup: Group2, Lifetime: ptr(86400), LocalID: "192.0.2.2", RemoteID: "192.0.2.1"},
		IPsec:        IPsecConfig{Encryption: EncAES, Authentication: AuthSHA1, DHGroup: Group2, Lifetime: ptr(86400)},
		DPD:          ptr(true),
		NATTraversal: ptr(true),
		BGP:          BGPConfig{LocalASN: 45104},
		HealthCheck:  HealthCheckConfig{Interval: ptr(3), Retries: ptr(3), SwitchRoute: ptr(true)},
		GatewayType:  GatewayPublic,
		TunnelMode:   TunnelSingle,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ApplyDefaults:\n got %+v\nwant %+v", c, want)
	}
	// Idempotent.
	again := c.Clone()
	again.ApplyDefaults("198.51.100.9")
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("second ApplyDefaults changed %+v", again)
	}
}

func TestApplyDefaultsKeepsExplicit(t *testing.T) {
	c := &Connection{
		CustomerGateway: "192.0.2.1", EffectiveImmediately: ptr(false), DPD: ptr(false), NATTraversal: ptr(false),
		IKE:         IKEConfig{Version: IKEv1, Mode: ModeAggressive, Lifetime: ptr(0), LocalID: "gw.example.com", DHGroup: Group14},
		IPsec:       IPsecConfig{Encryption: EncAES256GCM16, DHGroup: GroupDisabled, Lifetime: ptr(0)},
		BGP:         BGPConfig{LocalASN: 8061384},
		HealthCheck: HealthCheckConfig{Interval: ptr(10), Retries: ptr(1), SwitchRoute: ptr(false)},
		GatewayType: GatewayPrivate,
	}
	c.ApplyDefaults("192.0.2.2")
	if c.Immediate() || c.DPDEnabled() || c.NATTEnabled() || c.IKE.Mode != ModeAggressive ||
		*c.IKE.Lifetime != 0 || c.IKE.LocalID != "gw.example.com" || c.IKE.DHGroup != Group14 ||
		c.IPsec.Authentication != "" || c.IPsec.PFS() || *c.IPsec.Lifetime != 0 || c.BGP.LocalASN != 8061384 ||
		c.HealthCheck.IntervalSeconds() != 10 || c.HealthCheck.RetryCount() != 1 || c.HealthCheck.SwitchRouteEnabled() ||
		c.GatewayType != GatewayPrivate {
		t.Fatalf("explicit values lost: %+v", c)
	}
	// No gateway address: local_id stays empty for the IKE layer to fill.
	d := &Connection{CustomerGateway: "192.0.2.1"}
	d.ApplyDefaults("")
	if d.IKE.LocalID != "" || d.LocalIdentity("203.0.113.1") != "203.0.113.1" {
		t.Fatalf("local_id = %q", d.IKE.LocalID)
	}
}

func TestPeerBGPAddress(t *testing.T) {
	cases := []struct {
		cidr, local, want string
	}{
		{"169.254.10.0/30", "169.254.10.1", "169.254.10.2"},
		{"169.254.10.0/30", "169.254.10.2", "169.254.10.1"},
		{"169.254.10.4/30", "169.254.10.6", "169.254.10.5"},
		{"169.254.10.0/30", "169.254.10.3", ""},
		{"169.254.10.0/29", "169.254.10.1", ""},
		{"bogus", "169.254.10.1", ""},
		{"169.254.10.0/30", "", ""},
	}
	for _, tc := range cases {
		c := &Connection{BGP: BGPConfig{TunnelCIDR: tc.cidr, LocalAddress: tc.local}}
		got, ok := c.PeerBGPAddress()
		if tc.want == "" {
			if ok {
				t.Errorf("%s/%s: got %v, want none", tc.cidr, tc.local, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("%s/%s: got %v %v, want %s", tc.cidr, tc.local, got, ok, tc.want)
		}
	}
}

func TestSelectorsAndRoutes(t *testing.T) {
	c := validConn()
	c.LocalSubnets = []string{"10.2.0.0/24", "10.3.0.0/24"}
	l, r := c.TrafficSelectors()
	if !slices.Equal(l, []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("10.3.0.0/24")}) ||
		!slices.Equal(r, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}) {
		t.Fatalf("policy selectors %v %v", l, r)
	}
	if rt := c.TunnelRoutes(); !slices.Equal(rt, r) {
		t.Fatalf("policy routes %v", rt)
	}
	d := &Connection{Routes: []string{"10.9.0.0/16"}}
	l, r = d.TrafficSelectors()
	any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	if !slices.Equal(l, any4) || !slices.Equal(r, any4) {
		t.Fatalf("destination selectors %v %v", l, r)
	}
	if rt := d.TunnelRoutes(); !slices.Equal(rt, []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}) {
		t.Fatalf("destination routes %v", rt)
	}
}

func TestCloneEquivalentRedacted(t *testing.T) {
	c := validConn()
	c.IKE.Lifetime = ptr(100)
	d := c.Clone()
	*d.IKE.Lifetime = 200
	d.LocalSubnets[0] = "10.99.0.0/24"
	if *c.IKE.Lifetime != 100 || c.LocalSubnets[0] != "10.2.0.0/24" {
		t.Fatal("Clone shares memory")
	}
	a, b := validConn(), validConn()
	b.ID = "c-123"
	b.ApplyDefaults("192.0.2.2")
	if !Equivalent(a, b, "192.0.2.2") {
		t.Fatal("defaults and ID must not matter")
	}
	b.PSK = "other"
	if Equivalent(a, b, "192.0.2.2") {
		t.Fatal("PSK change not seen")
	}
	e, f := &Connection{Routes: []string{}}, &Connection{}
	if !Equivalent(e, f, "") {
		t.Fatal("empty and nil lists differ")
	}
	r := a.Redacted()
	if r.PSK != "********" || a.PSK != "s3cret-PSK" {
		t.Fatalf("Redacted: %q / %q", r.PSK, a.PSK)
	}
}
