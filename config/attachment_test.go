package config

import (
	"errors"
	"slices"
	"testing"
)

// ruleOf extracts the single (field, rule) of an operation error.
func ruleOf(t *testing.T, err error) fr {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("error %v is not a single config.Errors", err)
	}
	return fr{es[0].Field, es[0].Rule}
}

func TestOperationRules(t *testing.T) {
	if CanDelete(false) != nil || CanAuthorize(false) != nil || CanRevoke(false) != nil || CanDetach(true) != nil {
		t.Fatal("allowed operations refused")
	}
	cases := []struct {
		err  error
		want fr
	}{
		{CanDelete(true), fr{"transit_router_id", RuleAttached}},
		{CanAuthorize(true), fr{"transit_router_id", RuleAttached}},
		{CanRevoke(true), fr{"account_id", RuleAttached}},
		{CanDetach(false), fr{"transit_router_id", RuleNotAttached}},
		{ValidatePayer("bank"), fr{"payer", RuleOneOf}},
	}
	for i, tc := range cases {
		if got := ruleOf(t, tc.err); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
	for _, p := range []Payer{"", PayerCENOwner, PayerVPNOwner} {
		if ValidatePayer(p) != nil {
			t.Errorf("payer %q refused", p)
		}
	}
}

func TestCanAttach(t *testing.T) {
	own := &TransitRouter{ID: "tr-1"}
	other := &TransitRouter{ID: "tr-2", AccountID: "1234567890"}
	auths := []Authorization{{ConnectionID: "c-1", AccountID: "1234567890", CENID: "cen-abc"}}
	if err := CanAttach(false, own, "", "", nil); err != nil {
		t.Fatalf("own router: %v", err)
	}
	if err := CanAttach(false, other, "", "", auths); err != nil {
		t.Fatalf("authorized: %v", err)
	}
	if err := CanAttach(false, other, "", "cen-abc", auths); err != nil {
		t.Fatalf("authorized with CEN: %v", err)
	}
	if got := ruleOf(t, CanAttach(false, other, "", "cen-zzz", auths)); got != (fr{"transit_router_id", RuleUnauthorized}) {
		t.Fatalf("wrong CEN: %v", got)
	}
	if got := ruleOf(t, CanAttach(false, other, "", "", nil)); got != (fr{"transit_router_id", RuleUnauthorized}) {
		t.Fatalf("unauthorized: %v", got)
	}
	if got := ruleOf(t, CanAttach(true, own, "", "", nil)); got != (fr{"connection_id", RuleAttached}) {
		t.Fatalf("already attached: %v", got)
	}
}

func TestValidateModify(t *testing.T) {
	old := validConn()
	old.ID = "c-1"
	for _, attached := range []bool{false, true} {
		// Everything SPEC §2 lists as modifiable may change.
		n := old.Clone()
		n.CustomerGateway, n.RoutingMode, n.PSK = "198.51.100.7", RoutingDestination, "new-psk"
		n.LocalSubnets, n.RemoteSubnets = nil, nil
		n.IKE.Version, n.IPsec.DHGroup, n.DPD, n.NATTraversal = IKEv1, GroupDisabled, ptr(false), ptr(false)
		n.BGP.Enabled, n.HealthCheck.Enabled = false, false
		if es := ValidateModify(old, n, attached); len(es) != 0 {
			t.Fatalf("attached=%v: %v", attached, es)
		}
		// Omitted gateway type equals the default public.
		n.GatewayType = GatewayPublic
		if es := ValidateModify(old, n, attached); len(es) != 0 {
			t.Fatalf("attached=%v default gateway type: %v", attached, es)
		}
		n.GatewayType = GatewayPrivate
		n.ID = "c-2"
		es := ValidateModify(old, n, attached)
		if !slices.Equal(frs(es), []fr{{"gateway_type", RuleImmutable}, {"id", RuleImmutable}}) {
			t.Fatalf("attached=%v: %v", attached, es)
		}
	}
	a := &Attachment{ConnectionID: "c-1", TransitRouterID: "tr-1", Zone: "zone-a", GatewayType: GatewayPublic}
	b := *a
	b.GatewayType = ""
	if es := ValidateAttachmentModify(a, &b); len(es) != 0 {
		t.Fatalf("same attachment: %v", es)
	}
	b = Attachment{ConnectionID: "c-1", TransitRouterID: "tr-2", Zone: "zone-b", GatewayType: GatewayPrivate}
	if got := frs(ValidateAttachmentModify(a, &b)); !slices.Equal(got,
		[]fr{{"transit_router_id", RuleImmutable}, {"zone", RuleImmutable}, {"gateway_type", RuleImmutable}}) {
		t.Fatalf("attachment modify: %v", got)
	}
}

func frs(es Errors) []fr {
	var out []fr
	for _, e := range es {
		out = append(out, fr{e.Field, e.Rule})
	}
	return out
}

func TestResourceValidate(t *testing.T) {
	tr := &TransitRouter{Name: "prod", AccountID: "1234567890", Zone: "zone-a", RouteTable: 100}
	if es := tr.Validate(""); len(es) != 0 {
		t.Fatalf("transit router: %v", es)
	}
	trCases := []struct {
		mut  func(*TransitRouter)
		want fr
	}{
		{func(r *TransitRouter) { r.RouteTable = 0 }, fr{"route_table", RuleRange}},
		{func(r *TransitRouter) { r.RouteTable = 254 }, fr{"route_table", RuleReserved}},
		{func(r *TransitRouter) { r.AccountID = "acct 1" }, fr{"account_id", RuleCharset}},
		{func(r *TransitRouter) { r.Name = string(make([]byte, 101)) }, fr{"name", RuleLength}},
	}
	for _, tc := range trCases {
		r := *tr
		tc.mut(&r)
		if got := frs(r.Validate("")); !slices.Equal(got, []fr{tc.want}) {
			t.Errorf("transit router: %v, want %v", got, tc.want)
		}
	}

	conn := &Connection{}
	a := &Attachment{ConnectionID: "c-1", TransitRouterID: "tr-1", Zone: "zone-a", AccountID: "1234567890"}
	if es := a.Validate("", conn, &TransitRouter{ID: "tr-1", AccountID: "1234567890", Zone: "zone-a"}); len(es) != 0 {
		t.Fatalf("attachment: %v", es)
	}
	atCases := []struct {
		mut  func(*Attachment)
		tr   *TransitRouter
		want fr
	}{
		{func(a *Attachment) { a.Zone = "" }, nil, fr{"zone", RuleRequired}},
		{func(a *Attachment) { a.TransitRouterID = "" }, nil, fr{"transit_router_id", RuleRequired}},
		{func(a *Attachment) { a.GatewayType = "enhanced" }, nil, fr{"gateway_type", RuleOneOf}},
		{func(a *Attachment) { a.GatewayType = GatewayPrivate }, nil, fr{"gateway_type", RuleImmutable}},
		{func(a *Attachment) {}, &TransitRouter{ID: "tr-1", AccountID: "1234567890", Zone: "zone-b"}, fr{"zone", RuleOneOf}},
		{func(a *Attachment) {}, &TransitRouter{ID: "tr-1", Zone: "zone-a"}, fr{"account_id", RuleOneOf}},
	}
	for _, tc := range atCases {
		x := *a
		tc.mut(&x)
		if got := frs(x.Validate("", conn, tc.tr)); !slices.Equal(got, []fr{tc.want}) {
			t.Errorf("attachment: %v, want %v", got, tc.want)
		}
	}

	au := &Authorization{ConnectionID: "c-1", AccountID: "1234567890", CENID: "cen-abc"}
	if es := au.Validate(""); len(es) != 0 || au.EffectivePayer() != PayerCENOwner {
		t.Fatalf("authorization: %v", es)
	}
	au.ApplyDefaults()
	if au.Payer != PayerCENOwner {
		t.Fatalf("payer default = %q", au.Payer)
	}
	auCases := []struct {
		mut  func(*Authorization)
		want fr
	}{
		{func(a *Authorization) { a.AccountID = "" }, fr{"account_id", RuleRequired}},
		{func(a *Authorization) { a.CENID = "" }, fr{"cen_id", RuleRequired}},
		{func(a *Authorization) { a.Payer = "both" }, fr{"payer", RuleOneOf}},
	}
	for _, tc := range auCases {
		x := *au
		tc.mut(&x)
		if got := frs(x.Validate("")); !slices.Equal(got, []fr{tc.want}) {
			t.Errorf("authorization: %v, want %v", got, tc.want)
		}
	}
	x := *au
	x.Payer = PayerVPNOwner
	if es := x.Validate(""); len(es) != 0 {
		t.Fatalf("vpn-owner: %v", es)
	}
}
