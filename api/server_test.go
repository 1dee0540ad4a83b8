package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

const testToken = "0123456789abcdef-token"

type env struct {
	t   *testing.T
	st  *store.Store
	srv *api.Server
	reg *prometheus.Registry
	ts  *httptest.Server // unix-style handler (no auth)
	tcp *httptest.Server // bearer-protected handler
	c   *client.Client
}

type fakeController struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeController) Initiate(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "initiate "+id)
	return nil
}

func (f *fakeController) Terminate(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "terminate "+id)
	return nil
}

func newEnv(t *testing.T, mod func(*api.Options)) *env {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := api.NewRegistry()
	opts := api.Options{Store: st, Registerer: reg, Token: testToken, GatewayAddress: "192.0.2.2", Version: "test"}
	if mod != nil {
		mod(&opts)
	}
	srv, err := api.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, srv: srv, reg: reg}
	e.ts = httptest.NewServer(srv.Handler())
	e.tcp = httptest.NewServer(srv.TCPHandler())
	t.Cleanup(e.ts.Close)
	t.Cleanup(e.tcp.Close)
	e.c, err = client.New(e.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// call sends a raw request and returns status and body.
func (e *env) call(method, path, body string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mustFail asserts a status and that the error body names field and rule.
func (e *env) mustFail(code int, body []byte, wantCode int, field, rule string) {
	e.t.Helper()
	if code != wantCode {
		e.t.Fatalf("status = %d, want %d; body %s", code, wantCode, body)
	}
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		e.t.Fatalf("error body is not JSON: %s", body)
	}
	if er.Error.Rule == "" || er.Error.Message == "" || len(er.Errors) == 0 || er.Errors[0] != er.Error {
		e.t.Errorf("malformed error body: %s", body)
	}
	for _, d := range er.Errors {
		if d.Field == field && d.Rule == rule {
			return
		}
	}
	e.t.Errorf("no error for field %q rule %q in %s", field, rule, body)
}

// snapshot returns every connection and transit router with secrets, to
// prove a rejected request changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	conns, err := e.st.ListConnections()
	if err != nil {
		e.t.Fatal(err)
	}
	trs, err := e.st.ListTransitRouters()
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal([]any{conns, trs})
	return string(b)
}

const validBody = `{"name":"hq","customer_gateway":"192.0.2.1","psk":"s3cret-PSK",
  "routing_mode":"protected-subnets","local_subnets":["10.2.0.0/24"],"remote_subnets":["10.1.0.0/24"]}`

func (e *env) create(body string) *store.Connection {
	e.t.Helper()
	code, b := e.call("POST", "/v1/connections", body)
	if code != http.StatusCreated {
		e.t.Fatalf("create: %d %s", code, b)
	}
	var c store.Connection
	if err := json.Unmarshal(b, &c); err != nil {
		e.t.Fatal(err)
	}
	return &c
}

func (e *env) createTR(body string) *store.TransitRouter {
	e.t.Helper()
	code, b := e.call("POST", "/v1/transit-routers", body)
	if code != http.StatusCreated {
		e.t.Fatalf("create TR: %d %s", code, b)
	}
	var tr store.TransitRouter
	if err := json.Unmarshal(b, &tr); err != nil {
		e.t.Fatal(err)
	}
	return &tr
}

func TestCreateValidAndInvalid(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	if !strings.HasPrefix(c.ID, "vco-") || len(c.ID) != 16 {
		t.Errorf("id = %q", c.ID)
	}
	if c.IKE.Version != config.IKEv2 || c.IKE.LifetimeSeconds() != 86400 || !c.Immediate() {
		t.Errorf("defaults missing in answer: %+v", c.Connection)
	}
	before := e.snapshot()
	cases := []struct {
		name, body, field, rule string
	}{
		{"psk charset", `{"customer_gateway":"192.0.2.1","psk":"has space"}`, "psk", config.RuleCharset},
		{"psk missing", `{"customer_gateway":"192.0.2.1"}`, "psk", config.RuleRequired},
		{"bgp reserved cidr", `{"customer_gateway":"192.0.2.1","psk":"x","bgp":{"enabled":true,"tunnel_cidr":"169.254.1.0/30","local_address":"169.254.1.1","peer_asn":65001}}`, "bgp.tunnel_cidr", config.RuleReserved},
		{"peer asn reserved", `{"customer_gateway":"192.0.2.1","psk":"x","bgp":{"enabled":true,"tunnel_cidr":"169.254.10.0/30","local_address":"169.254.10.1","peer_asn":45104}}`, "bgp.peer_asn", config.RuleReserved},
		{"multi subnet ikev1", `{"customer_gateway":"192.0.2.1","psk":"x","routing_mode":"protected-subnets","local_subnets":["10.2.0.0/24","10.3.0.0/24"],"remote_subnets":["10.1.0.0/24"],"ike":{"version":"ikev1"}}`, "ike.version", config.RuleIKEv2},
		{"lifetime range", `{"customer_gateway":"192.0.2.1","psk":"x","ike":{"lifetime":86401}}`, "ike.lifetime", config.RuleRange},
		{"duplicate name", `{"name":"hq","customer_gateway":"192.0.2.1","psk":"x"}`, "name", config.RuleUnique},
		{"unknown field", `{"customer_gateway":"192.0.2.1","psk":"x","colour":"red"}`, "colour", config.RuleUnknownKey},
		{"wrong type", `{"customer_gateway":"192.0.2.1","psk":"x","dpd":"yes"}`, "dpd", config.RuleType},
		{"id given", `{"id":"vco-000000000000","customer_gateway":"192.0.2.1","psk":"x"}`, "id", config.RuleNotAllowed},
		{"syntax", `{"customer_gateway":`, "", config.RuleSyntax},
		{"trailing data", `{"customer_gateway":"192.0.2.1","psk":"x"} {}`, "", config.RuleSyntax},
		{"nested unknown field", `{"customer_gateway":"192.0.2.1","psk":"x","ike":{"colour":"red"}}`, "ike.colour", config.RuleUnknownKey},
		{"duplicate key", `{"customer_gateway":"192.0.2.1","psk":"x","psk":"y"}`, "psk", config.RuleDuplicateKey},
		{"not an object", `["customer_gateway"]`, "", config.RuleType},
		{"tr unknown field", `{"customer_gateway":"192.0.2.1","psk":"x","route_table":5}`, "route_table", config.RuleUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.call("POST", "/v1/connections", tc.body)
			want := http.StatusBadRequest
			if tc.rule == config.RuleUnique {
				want = http.StatusConflict
			}
			e.mustFail(code, b, want, tc.field, tc.rule)
		})
	}
	if after := e.snapshot(); after != before {
		t.Errorf("rejected creates changed the store:\n%s\n%s", before, after)
	}
}

func TestAllUnknownKeysReported(t *testing.T) {
	e := newEnv(t, nil)
	code, b := e.call("POST", "/v1/connections", `{"customer_gateway":"192.0.2.1","psk":"x","colour":1,"ipsec":{"pfs":true}}`)
	e.mustFail(code, b, 400, "colour", config.RuleUnknownKey)
	e.mustFail(code, b, 400, "ipsec.pfs", config.RuleUnknownKey)
	code, b = e.call("POST", "/v1/transit-routers", `{"name":"x","route_table":"ten"}`)
	e.mustFail(code, b, 400, "route_table", config.RuleType)
}

func TestAllErrorsReported(t *testing.T) {
	e := newEnv(t, nil)
	code, b := e.call("POST", "/v1/connections", `{"customer_gateway":"not-an-ip","psk":"","ike":{"encryption":"rot13"}}`)
	var er api.ErrorResponse
	json.Unmarshal(b, &er)
	if code != 400 || len(er.Errors) < 3 {
		t.Fatalf("%d: want every error at once, got %s", code, b)
	}
}

func TestPSKRedaction(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	if c.PSK != "********" {
		t.Errorf("create answer leaks the PSK: %q", c.PSK)
	}
	for _, path := range []string{"/v1/connections", "/v1/connections/" + c.ID} {
		_, b := e.call("GET", path, "")
		if bytes.Contains(b, []byte("s3cret-PSK")) {
			t.Errorf("GET %s leaks the PSK: %s", path, b)
		}
		_, b = e.call("GET", path+"?show_secrets=true", "")
		if !bytes.Contains(b, []byte("s3cret-PSK")) {
			t.Errorf("GET %s?show_secrets=true hides the PSK: %s", path, b)
		}
	}
	got, err := e.c.GetConnection(context.Background(), c.ID, true)
	if err != nil || got.PSK != "s3cret-PSK" {
		t.Errorf("client with secrets: %v %q", err, got.PSK)
	}
}

func TestReplace(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	// PUT is a full replace: omitted fields take defaults again.
	code, b := e.call("PUT", "/v1/connections/"+c.ID, `{"name":"hq","customer_gateway":"192.0.2.9","psk":"other","ike":{"encryption":"aes256"}}`)
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	got, _ := e.st.GetConnection(c.ID)
	if got.CustomerGateway != "192.0.2.9" || got.IKE.Encryption != config.EncAES256 || got.RoutingMode != config.RoutingDestination || got.PSK != "other" {
		t.Errorf("after PUT: %+v", got.Connection)
	}
	if got.IKE.RemoteID != "192.0.2.9" {
		t.Errorf("remote_id default not re-derived: %q", got.IKE.RemoteID)
	}
	before := e.snapshot()
	code, b = e.call("PUT", "/v1/connections/"+c.ID, `{"name":"hq","customer_gateway":"192.0.2.9","psk":"other","gateway_type":"private"}`)
	e.mustFail(code, b, http.StatusConflict, "gateway_type", config.RuleImmutable)
	code, b = e.call("PUT", "/v1/connections/"+c.ID, `{"customer_gateway":"192.0.2.9","psk":"bad psk"}`)
	e.mustFail(code, b, http.StatusBadRequest, "psk", config.RuleCharset)
	code, b = e.call("PUT", "/v1/connections/"+c.ID, `{"id":"vco-ffffffffffff","customer_gateway":"192.0.2.9","psk":"x"}`)
	e.mustFail(code, b, http.StatusBadRequest, "id", config.RuleImmutable)
	code, b = e.call("PUT", "/v1/connections/vco-000000000000", `{"customer_gateway":"192.0.2.9","psk":"x"}`)
	e.mustFail(code, b, http.StatusNotFound, "", api.RuleNotFound)
	if after := e.snapshot(); after != before {
		t.Errorf("rejected PUTs changed the store")
	}
}

func TestAttachedLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	tr := e.createTR(`{"name":"tr1","zone":"zone-a","route_table":100}`)
	if !strings.HasPrefix(tr.ID, "tr-") {
		t.Errorf("tr id = %q", tr.ID)
	}
	base := "/v1/connections/" + c.ID
	before := e.snapshot()
	// Failing attaches.
	code, b := e.call("POST", base+"/attach", `{"transit_router_id":"`+tr.ID+`","zone":"zone-b"}`)
	e.mustFail(code, b, 400, "zone", config.RuleOneOf)
	code, b = e.call("POST", base+"/attach", `{"transit_router_id":"`+tr.ID+`","zone":"zone-a","gateway_type":"private"}`)
	e.mustFail(code, b, 400, "gateway_type", config.RuleImmutable)
	code, b = e.call("POST", base+"/attach", `{"transit_router_id":"tr-000000000000","zone":"zone-a"}`)
	e.mustFail(code, b, 400, "transit_router_id", store.RuleExists)
	code, b = e.call("POST", base+"/attach", `{"transit_router_id":"`+tr.ID+`","zone":"zone-a","extra":1}`)
	e.mustFail(code, b, 400, "extra", config.RuleUnknownKey)
	if e.snapshot() != before {
		t.Fatal("rejected attaches changed the store")
	}
	// Passing attach.
	code, b = e.call("POST", base+"/attach", `{"transit_router_id":"`+tr.ID+`","zone":"zone-a","gateway_type":"public"}`)
	if code != 200 {
		t.Fatalf("attach: %d %s", code, b)
	}
	before = e.snapshot()
	// Attached: delete, authorize, second attach, TR delete refused.
	code, b = e.call("DELETE", base, "")
	e.mustFail(code, b, 409, "transit_router_id", config.RuleAttached)
	code, b = e.call("POST", base+"/authorizations", `{"account_id":"acct-2","cen_id":"cen-1"}`)
	e.mustFail(code, b, 409, "transit_router_id", config.RuleAttached)
	code, b = e.call("POST", base+"/attach", `{"transit_router_id":"`+tr.ID+`","zone":"zone-a"}`)
	e.mustFail(code, b, 409, "connection_id", config.RuleAttached)
	code, b = e.call("DELETE", "/v1/transit-routers/"+tr.ID, "")
	e.mustFail(code, b, 409, "id", config.RuleAttached)
	code, b = e.call("PUT", base, `{"name":"hq","customer_gateway":"192.0.2.1","psk":"s3cret-PSK","gateway_type":"private"}`)
	e.mustFail(code, b, 409, "gateway_type", config.RuleImmutable)
	if e.snapshot() != before {
		t.Fatal("rejected operations on an attached connection changed the store")
	}
	// Attached: PSK, IKE/IPsec, BGP, DPD, NAT-T, health check are modifiable.
	code, b = e.call("PUT", base, `{"name":"hq","customer_gateway":"192.0.2.7","psk":"n3w","dpd":false,"nat_traversal":false,
	  "ike":{"encryption":"aes256","authentication":"sha256","dh_group":"group14"},"ipsec":{"dh_group":"disabled"},
	  "bgp":{"enabled":true,"tunnel_cidr":"169.254.10.0/30","local_address":"169.254.10.1","peer_asn":65001},
	  "health_check":{"enabled":true,"destination_ip":"10.1.0.10","source_ip":"10.2.0.1"}}`)
	if code != 200 {
		t.Fatalf("modify attached: %d %s", code, b)
	}
	got, _ := e.st.GetConnection(c.ID)
	if got.Attachment == nil || got.Attachment.TransitRouterID != tr.ID || got.DPDEnabled() || !got.BGP.Enabled {
		t.Errorf("after modify: %+v", got)
	}
	// Detach; then delete works.
	code, b = e.call("POST", base+"/detach", "")
	if code != 200 {
		t.Fatalf("detach: %d %s", code, b)
	}
	code, b = e.call("POST", base+"/detach", "")
	e.mustFail(code, b, 409, "transit_router_id", config.RuleNotAttached)
	if code, b = e.call("DELETE", base, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, b = e.call("DELETE", "/v1/transit-routers/"+tr.ID, ""); code != 204 {
		t.Fatalf("delete TR: %d %s", code, b)
	}
	code, b = e.call("GET", base, "")
	e.mustFail(code, b, 404, "", api.RuleNotFound)
}

func TestCrossAccountAPI(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	tr := e.createTR(`{"name":"theirs","account_id":"acct-2","route_table":200}`)
	base := "/v1/connections/" + c.ID
	attach := `{"transit_router_id":"` + tr.ID + `","zone":"zone-a"}`
	code, b := e.call("POST", base+"/attach", attach)
	e.mustFail(code, b, 409, "transit_router_id", config.RuleUnauthorized)

	code, b = e.call("POST", base+"/authorizations", `{"account_id":"acct-2","cen_id":"cen-1","payer":"someone"}`)
	e.mustFail(code, b, 400, "payer", config.RuleOneOf)
	code, b = e.call("POST", base+"/authorizations", `{"account_id":"acct-2"}`)
	e.mustFail(code, b, 400, "cen_id", config.RuleRequired)
	code, b = e.call("POST", base+"/authorizations", `{"account_id":"acct-2","cen_id":"cen-1","payer":"vpn-owner"}`)
	if code != 201 {
		t.Fatalf("authorize: %d %s", code, b)
	}
	var got store.Connection
	json.Unmarshal(b, &got)
	if len(got.Authorizations) != 1 || got.Authorizations[0].Payer != config.PayerVPNOwner {
		t.Errorf("authorizations = %+v", got.Authorizations)
	}
	if code, b = e.call("POST", base+"/attach", attach); code != 200 {
		t.Fatalf("authorized attach: %d %s", code, b)
	}
	code, b = e.call("DELETE", base+"/authorizations/acct-2", "")
	e.mustFail(code, b, 409, "account_id", config.RuleAttached)
	if code, b = e.call("POST", base+"/detach", ""); code != 200 {
		t.Fatalf("detach: %d %s", code, b)
	}
	if code, b = e.call("DELETE", base+"/authorizations/acct-2", ""); code != 200 {
		t.Fatalf("revoke after detach: %d %s", code, b)
	}
	code, b = e.call("DELETE", base+"/authorizations/acct-2", "")
	e.mustFail(code, b, 404, "", api.RuleNotFound)
}

func TestBearerTokenOnTCP(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"Basic " + testToken, 401},
		{"Bearer " + testToken, 200},
	} {
		req, _ := http.NewRequest("GET", e.tcp.URL+"/v1/connections", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.header, resp.StatusCode, tc.want)
		}
		if tc.want == 401 {
			e.mustFail(resp.StatusCode, b, 401, "", "unauthorized")
		}
	}
	c, _ := client.New(e.tcp.URL, client.WithToken(testToken))
	if _, err := c.ListConnections(context.Background(), false); err != nil {
		t.Errorf("client with token: %v", err)
	}
	c, _ = client.New(e.tcp.URL)
	var ae *api.Error
	if _, err := c.ListConnections(context.Background(), false); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("client without token: %v", err)
	}
}

func TestEmptyTokenRefusesTCP(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Token = "" })
	req, _ := http.NewRequest("GET", e.tcp.URL+"/v1/connections", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("empty token accepted: %d", resp.StatusCode)
	}
}

func TestStatusAndControl(t *testing.T) {
	e := newEnv(t, nil)
	c := e.create(validBody)
	st, err := e.c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Connections) != 1 || st.Connections[0].ID != c.ID || st.Connections[0].State != api.StateConfigured {
		t.Errorf("status = %+v", st)
	}
	code, b := e.call("POST", "/v1/connections/"+c.ID+"/initiate", "")
	e.mustFail(code, b, 501, "", api.RuleUnsupported)
	code, b = e.call("POST", "/v1/connections/vco-000000000000/initiate", "")
	e.mustFail(code, b, 404, "", api.RuleNotFound)

	ctl := &fakeController{}
	e2 := newEnv(t, func(o *api.Options) { o.Controller = ctl })
	c2 := e2.create(validBody)
	if err := e2.c.Initiate(context.Background(), c2.ID); err != nil {
		t.Fatal(err)
	}
	if err := e2.c.Terminate(context.Background(), c2.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"initiate " + c2.ID, "terminate " + c2.ID}
	if !reflect.DeepEqual(ctl.calls, want) {
		t.Errorf("controller calls = %v", ctl.calls)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t, nil)
	code, b := e.call("GET", "/v2/nothing", "")
	e.mustFail(code, b, 404, "", api.RuleNotFound)
	code, _ = e.call("PATCH", "/v1/transit-routers", "")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("PATCH on a collection: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.call("GET", "/v1/connections", "")
	e.call("POST", "/v1/connections", `{}`)
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
		if mf.GetName() != "ipsecgw_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "POST /v1/connections" && labels["code"] == "400" && m.GetCounter().GetValue() == 1 {
				found["post400"] = true
			}
		}
	}
	for _, name := range []string{"ipsecgw_api_requests_total", "ipsecgw_api_request_duration_seconds", "process_open_fds", "go_goroutines", "post400"} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}

func TestClientErrorDetails(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.c.CreateConnection(context.Background(), &config.Connection{CustomerGateway: "192.0.2.1", PSK: "bad psk"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Details[0].Field != "psk" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "psk: ") || !strings.Contains(err.Error(), "(charset)") {
		t.Errorf("message = %q", err.Error())
	}
	c, _ := client.New("unix:///nonexistent/ipsecgw.sock")
	if _, err := c.ListConnections(context.Background(), false); !client.IsUnreachable(err) {
		t.Errorf("missing socket: %v", err)
	}
}

func TestWarningsBesideSuccess(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.c.CreateConnection(context.Background(), &config.Connection{
		CustomerGateway: "192.0.2.1", PSK: "x", IKE: config.IKEConfig{Encryption: config.EncDES}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range res.Warnings {
		if w.Field == "ike.encryption" && w.Rule == config.RuleDiscouraged {
			found = true
		}
	}
	if !found || res.ID == "" {
		t.Errorf("warnings = %+v", res.Warnings)
	}
	res, err = e.c.ReplaceConnection(context.Background(), res.ID, &config.Connection{CustomerGateway: "192.0.2.1", PSK: "x"})
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("replace without weak settings: %v %+v", err, res.Warnings)
	}
}
