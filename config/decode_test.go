package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestExampleFile(t *testing.T) {
	f, err := LoadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if es := f.Validate(); len(es) != 0 {
		t.Fatalf("example invalid: %v", es)
	}
	if ws := f.Warnings(); len(ws) != 0 {
		t.Fatalf("example warns: %v", ws)
	}
	if len(f.Connections) != 1 {
		t.Fatalf("%d connections", len(f.Connections))
	}
	c := f.Connections[0]
	if c.Name != "hq" || c.CustomerGateway != "192.0.2.1" || c.RoutingMode != RoutingProtectedSubnets ||
		!reflect.DeepEqual(c.LocalSubnets, []string{"10.2.0.0/24"}) || c.PSK != "s3cret-PSK" ||
		c.IKE.Version != IKEv2 || c.IKE.DHGroup != Group2 || *c.IKE.Lifetime != 86400 ||
		c.IPsec.DHGroup != Group2 || !*c.DPD || c.BGP.Enabled || c.BGP.PeerASN != 65001 ||
		c.HealthCheck.SourceIP != "10.2.0.1" || *c.HealthCheck.Retries != 3 {
		t.Fatalf("decoded %+v", c)
	}
	// Every value in the example is its default (or explicitly the same),
	// so it is equivalent to the minimal form.
	minimal := &Connection{Name: "hq", CustomerGateway: "192.0.2.1", RoutingMode: RoutingProtectedSubnets,
		LocalSubnets: []string{"10.2.0.0/24"}, RemoteSubnets: []string{"10.1.0.0/24"}, PSK: "s3cret-PSK",
		BGP:         BGPConfig{TunnelCIDR: "169.254.10.0/30", LocalAddress: "169.254.10.1", PeerASN: 65001},
		HealthCheck: HealthCheckConfig{DestinationIP: "10.1.0.10", SourceIP: "10.2.0.1"}}
	if !Equivalent(&c, minimal, "192.0.2.2") {
		t.Fatal("example not equivalent to its minimal form")
	}
	// Line numbers point into the file.
	if l := f.Line("connections[0].psk"); l != 9 {
		t.Errorf("line of psk = %d, want 9", l)
	}
	if l := f.Line("connections[0].bgp.peer_asn"); l != 31 {
		t.Errorf("line of bgp.peer_asn = %d, want 31", l)
	}
}

func TestStrictDecoding(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []FieldError // Field, Rule, Line; Message checked for a substring
		msg  string
	}{
		{"unknown top key", "connection:\n  - name: a\n",
			[]FieldError{{Field: "connection", Rule: RuleUnknownKey, Line: 1}}, `did you mean "connections"?`},
		{"unknown nested key", "connections:\n  - name: a\n    ike:\n      versoin: ikev2\n",
			[]FieldError{{Field: "connections[0].ike.versoin", Rule: RuleUnknownKey, Line: 4}}, `did you mean "version"?`},
		{"duplicate key", "connections:\n  - name: a\n    psk: x\n    psk: y\n",
			[]FieldError{{Field: "connections[0].psk", Rule: RuleDuplicateKey, Line: 4}}, "already set at line 3"},
		{"int type", "connections:\n  - ike:\n      lifetime: forever\n",
			[]FieldError{{Field: "connections[0].ike.lifetime", Rule: RuleType, Line: 3}}, "whole number"},
		{"int float", "connections:\n  - ipsec:\n      lifetime: 1.5\n",
			[]FieldError{{Field: "connections[0].ipsec.lifetime", Rule: RuleType, Line: 3}}, "whole number"},
		{"bool type", "connections:\n  - dpd: sometimes\n",
			[]FieldError{{Field: "connections[0].dpd", Rule: RuleType, Line: 2}}, "true or false"},
		{"list as scalar", "connections:\n  - local_subnets: 10.2.0.0/24\n",
			[]FieldError{{Field: "connections[0].local_subnets", Rule: RuleType, Line: 2}}, "expected a list"},
		{"string as mapping", "connections:\n  - psk: {a: b}\n",
			[]FieldError{{Field: "connections[0].psk", Rule: RuleType, Line: 2}}, "got a mapping"},
		{"connections not list", "connections: {name: a}\n",
			[]FieldError{{Field: "connections", Rule: RuleType, Line: 1}}, "expected a list"},
		{"bad asn", "connections:\n  - bgp:\n      peer_asn: 70000.1\n",
			[]FieldError{{Field: "connections[0].bgp.peer_asn", Rule: RuleType, Line: 3}}, "HIGH.LOW"},
		{"all at once", "connections:\n  - nmae: a\n    dpd: 3\n  - bgp: {local_asn: 0, foo: 1}\n",
			[]FieldError{
				{Field: "connections[0].nmae", Rule: RuleUnknownKey, Line: 2},
				{Field: "connections[0].dpd", Rule: RuleType, Line: 3},
				{Field: "connections[1].bgp.local_asn", Rule: RuleType, Line: 4},
				{Field: "connections[1].bgp.foo", Rule: RuleUnknownKey, Line: 4},
			}, ""},
		{"syntax", "connections:\n  - name: a\n    psk: [b\n", []FieldError{{Rule: RuleSyntax}}, "line "},
		{"bool yes", "connections:\n  - dpd: yes\n",
			[]FieldError{{Field: "connections[0].dpd", Rule: RuleType, Line: 2}}, "true or false"},
		{"two documents", "connections: []\n---\nconnections: []\n", []FieldError{{Rule: RuleSyntax, Line: 2}}, "more than one"},
		{"top level list", "- a\n", []FieldError{{Rule: RuleType, Line: 1}}, "expected a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tc.doc))
			if err == nil {
				t.Fatalf("no error, got %+v", f)
			}
			es, ok := err.(Errors)
			if !ok {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			if len(es) != len(tc.want) {
				t.Fatalf("errors = %v, want %v", es, tc.want)
			}
			for i, w := range tc.want {
				if es[i].Field != w.Field || es[i].Rule != w.Rule || w.Line != 0 && es[i].Line != w.Line {
					t.Errorf("error %d = %+v, want %+v", i, es[i], w)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestDecodingAccepts(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		check func(*File) bool
	}{
		{"empty", "", func(f *File) bool { return len(f.Connections) == 0 }},
		{"comments only", "# nothing\n", func(f *File) bool { return len(f.Connections) == 0 }},
		{"numeric psk kept as text", "connections:\n  - psk: 0x1F\n",
			func(f *File) bool { return f.Connections[0].PSK == "0x1F" }},
		{"explicit false and zero kept", "connections:\n  - dpd: false\n    ike: {lifetime: 0}\n    health_check: {switch_route: false}\n",
			func(f *File) bool {
				c := f.Connections[0]
				return c.DPD != nil && !*c.DPD && *c.IKE.Lifetime == 0 && !*c.HealthCheck.SwitchRoute
			}},
		{"null leaves default", "connections:\n  - dpd: ~\n", func(f *File) bool { return f.Connections[0].DPD == nil }},
		{"asdot unquoted", "connections:\n  - bgp: {local_asn: 123.456}\n",
			func(f *File) bool { return f.Connections[0].BGP.LocalASN == 8061384 }},
		{"aliases", "x: &ike {version: ikev1}\n", nil},
		{"id optional", "connections:\n  - id: c-1\n", func(f *File) bool { return f.Connections[0].ID == "c-1" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFile([]byte(tc.doc))
			if tc.check == nil {
				if err == nil {
					t.Fatal("want an error for an unknown top-level key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(f) {
				t.Fatalf("decoded %+v", f.Connections)
			}
		})
	}
}

func TestAliasesAndBomb(t *testing.T) {
	doc := "connections:\n  - &c\n    name: a\n    ike: &ike {version: ikev1}\n  - name: b\n    ike: *ike\n"
	f, err := ParseFile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Connections[1].IKE.Version != IKEv1 {
		t.Fatalf("alias not followed: %+v", f.Connections[1])
	}
	// A billion-laughs document must fail fast, not expand.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	if _, err := ParseFile([]byte(b.String())); err == nil {
		t.Fatal("alias bomb accepted")
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestValidateCarriesLines(t *testing.T) {
	doc := "connections:\n  - name: hq\n    customer_gateway: 192.0.2.1\n    psk: \"has space\"\n    bgp:\n      enabled: true\n"
	f, err := ParseFile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	es := f.Validate()
	lines := map[string]int{}
	for _, e := range es {
		lines[e.Field] = e.Line
	}
	want := map[string]int{
		"connections[0].psk":               4,
		"connections[0].bgp.tunnel_cidr":   5, // missing key: its parent's line
		"connections[0].bgp.local_address": 5,
		"connections[0].bgp.peer_asn":      5,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines = %v, want %v (%v)", lines, want, es)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestJSONShape(t *testing.T) {
	c := validConn()
	c.ApplyDefaults("192.0.2.2")
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Connection
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, &back) {
		t.Fatalf("JSON round trip:\n%+v\n%+v", c, &back)
	}
	for _, key := range []string{`"customer_gateway":"192.0.2.1"`, `"routing_mode":"protected-subnets"`,
		`"ike":{"version":"ikev2"`, `"dh_group":"group2"`, `"local_asn":45104`, `"health_check":{"enabled":true`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	// Omitted sections stay omitted.
	b, _ = json.Marshal(&Connection{Name: "x"})
	if string(b) != `{"name":"x"}` {
		t.Errorf("empty connection JSON = %s", b)
	}
}

func TestDecodeJSON(t *testing.T) {
	c := validConn()
	c.ApplyDefaults("192.0.2.2")
	b, err := json.MarshalIndent(c, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	var back Connection
	if err := Decode(b, &back); err != nil {
		t.Fatalf("Decode(tab-indented JSON): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(c, &back) {
		t.Fatalf("round trip:\n%+v\n%+v", c, &back)
	}
	err = Decode([]byte(`{"psk":"x","ike":{"lifetime":"1h","versoin":"ikev2"},"bgp":{"peer_asn":"0.0"},"psk":"y"}`), &back)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v", err)
	}
	want := []fr{{"ike.lifetime", RuleType}, {"ike.versoin", RuleUnknownKey}, {"bgp.peer_asn", RuleType}, {"psk", RuleDuplicateKey}}
	if got := frs(es); !slices.Equal(got, want) {
		t.Fatalf("errors = %v, want %v", got, want)
	}
	var a Authorization
	if err := Decode([]byte(`{"account_id":"1234","cen_id":"cen-1","payer":"vpn-owner"}`), &a); err != nil || a.Payer != PayerVPNOwner {
		t.Fatalf("authorization: %+v %v", a, err)
	}
	if err := Decode([]byte(`{}`), a); err == nil {
		t.Fatal("non-pointer accepted")
	}
}
