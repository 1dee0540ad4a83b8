package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// cli runs one ipsecgw command line and returns exit code, stdout, stderr.
func cli(t *testing.T, apiURL string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := func(k string) string {
		if k == "IPSECGW_API" {
			return apiURL
		}
		return ""
	}
	code := run(context.Background(), args, &out, &errb, env)
	return code, out.String(), errb.String()
}

// server starts an in-process API server and returns its URL and store.
func server(t *testing.T) (string, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := api.New(api.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, st
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "connections.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const brokenFile = `connections:
  - name: hq
    customer_gateway: 192.0.2.300
    psk: "has space"
    ike:
      version: ikev1
      lifetime: 90000
    routing_mode: protected-subnets
    local_subnets: [10.2.0.0/24, 10.3.0.0/24]
    remote_subnets: [10.1.0.0/24]
    bgp:
      enabled: true
      tunnel_cidr: 169.254.1.0/30
      local_address: 169.254.1.1
      peer_asn: 45104
  - name: hq
    customer_gateway: 192.0.2.1
    psk: ok
`

func TestValidateListsEveryError(t *testing.T) {
	p := writeFile(t, brokenFile)
	code, _, stderr := cli(t, "", "validate", "-f", p)
	if code != exitInvalid {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"connections[0].customer_gateway: ",
		"connections[0].psk: ",
		"(charset)",
		"connections[0].ike.version: ",
		"connections[0].ike.lifetime: ",
		"(range)",
		"connections[0].bgp.tunnel_cidr: ",
		"(reserved)",
		"connections[0].bgp.peer_asn: ",
		"connections[1].name: ",
		"(unique)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Every error line names its file line.
	if !strings.Contains(stderr, p+":4: connections[0].psk: ") {
		t.Errorf("no line number for psk:\n%s", stderr)
	}
}

func TestValidateSchemaAndRuleErrorsTogether(t *testing.T) {
	p := writeFile(t, "connections:\n  - name: hq\n    customer_gateway: 192.0.2.1\n    psk: \"a b\"\n    colour: red\n")
	code, _, stderr := cli(t, "", "validate", "-f", p)
	if code != exitInvalid || !strings.Contains(stderr, "colour") || !strings.Contains(stderr, "connections[0].psk: ") {
		t.Errorf("exit %d; want both the unknown key and the psk error:\n%s", code, stderr)
	}
}

func TestValidateGoodFile(t *testing.T) {
	code, stdout, stderr := cli(t, "", "validate", "-f", "../../config/testdata/example.yaml")
	if code != exitOK || !strings.Contains(stdout, "valid") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestExitCodes(t *testing.T) {
	if code, _, _ := cli(t, "", "nosuchcommand"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := cli(t, "", "validate"); code != exitUsage {
		t.Errorf("missing -f: exit %d", code)
	}
	if code, _, _ := cli(t, "", "conn", "show"); code != exitUsage {
		t.Errorf("missing CONN: exit %d", code)
	}
	if code, _, _ := cli(t, "", "conn", "list", "-o", "xml"); code != exitUsage {
		t.Errorf("bad -o: exit %d", code)
	}
	if code, _, stderr := cli(t, "unix:///nonexistent/api.sock", "conn", "list"); code != exitUnreachable {
		t.Errorf("no daemon: exit %d %s", code, stderr)
	}
	if code, _, _ := cli(t, "", "validate", "-f", "/nonexistent.yaml"); code != exitInvalid {
		t.Errorf("missing file: exit %d", code)
	}
}

const fileV1 = `connections:
  - name: hq
    customer_gateway: 192.0.2.1
    routing_mode: protected-subnets
    local_subnets: [10.2.0.0/24]
    remote_subnets: [10.1.0.0/24]
    psk: "s3cret-PSK"
  - name: old
    customer_gateway: 198.51.100.9
    psk: oldpsk
`

const fileV2 = `connections:
  - name: hq
    customer_gateway: 192.0.2.1
    routing_mode: protected-subnets
    local_subnets: [10.2.0.0/24]
    remote_subnets: [10.1.0.0/24]
    psk: "n3w-PSK"
    ike:
      encryption: aes256
  - name: branch
    customer_gateway: 203.0.113.5
    psk: branch
`

func names(t *testing.T, st *store.Store) map[string]*store.Connection {
	t.Helper()
	conns, err := st.ListConnections()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*store.Connection{}
	for _, c := range conns {
		m[c.Name] = c
	}
	return m
}

func TestApplyPlan(t *testing.T) {
	url, st := server(t)
	v1, v2 := writeFile(t, fileV1), writeFile(t, fileV2)

	code, stdout, stderr := cli(t, url, "apply", "-f", v1, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "+ create hq\n+ create old\n") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if len(names(t, st)) != 0 {
		t.Fatal("dry run changed the daemon")
	}
	if code, stdout, stderr = cli(t, url, "apply", "-f", v1); code != 0 {
		t.Fatalf("apply v1: exit %d\n%s%s", code, stdout, stderr)
	}
	m := names(t, st)
	if len(m) != 2 || m["hq"] == nil || m["hq"].PSK != "s3cret-PSK" {
		t.Fatalf("after v1: %v", m)
	}
	hqID := m["hq"].ID
	if code, stdout, _ = cli(t, url, "apply", "-f", v1); code != 0 || !strings.Contains(stdout, "nothing to do") {
		t.Errorf("re-apply v1: exit %d\n%s", code, stdout)
	}

	code, stdout, stderr = cli(t, url, "apply", "-f", v2)
	if code != 0 {
		t.Fatalf("apply v2: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"~ modify hq: psk, ike.encryption\n", "+ create branch\n", "- delete old\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	m = names(t, st)
	if len(m) != 2 || m["old"] != nil || m["branch"] == nil {
		t.Fatalf("after v2: %v", m)
	}
	if m["hq"].ID != hqID || m["hq"].PSK != "n3w-PSK" || m["hq"].IKE.Encryption != config.EncAES256 {
		t.Errorf("hq not modified in place: %+v", m["hq"].Connection)
	}
}

func TestApplyRejectionsPrintedAndExit1(t *testing.T) {
	url, st := server(t)
	v1 := writeFile(t, fileV1)
	if code, out, errs := cli(t, url, "apply", "-f", v1); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}
	m := names(t, st)
	tr, err := st.CreateTransitRouter(config.TransitRouter{Name: "tr", RouteTable: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Attach(config.Attachment{ConnectionID: m["old"].ID, TransitRouterID: tr.ID, Zone: "z"}); err != nil {
		t.Fatal(err)
	}
	// v2 deletes "old", which is attached: rejected; the rest still applies.
	code, stdout, _ := cli(t, url, "apply", "-f", writeFile(t, fileV2))
	if code != exitInvalid {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "rejected: transit_router_id: ") || !strings.Contains(stdout, "(attached)") {
		t.Errorf("rejection not printed with field and rule:\n%s", stdout)
	}
	m = names(t, st)
	if m["old"] == nil || m["branch"] == nil || m["hq"].PSK != "n3w-PSK" {
		t.Errorf("state after partial apply: %v", m)
	}
	// Changing the gateway type is rejected with its field path.
	gt := strings.Replace(fileV2, "    psk: branch\n", "    psk: branch\n    gateway_type: private\n", 1)
	code, stdout, _ = cli(t, url, "apply", "-f", writeFile(t, gt))
	if code != exitInvalid || !strings.Contains(stdout, "~ modify branch: gateway_type") || !strings.Contains(stdout, "gateway_type: ") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

func TestApplyInvalidFileChangesNothing(t *testing.T) {
	url, st := server(t)
	code, _, _ := cli(t, url, "apply", "-f", writeFile(t, brokenFile))
	if code != exitInvalid {
		t.Errorf("exit %d", code)
	}
	if len(names(t, st)) != 0 {
		t.Error("an invalid file changed the daemon")
	}
}

func TestResourceCommands(t *testing.T) {
	url, st := server(t)
	if code, out, errs := cli(t, url, "conn", "create", "-f", writeFile(t, fileV1)); code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	code, stdout, _ := cli(t, url, "conn", "list", "-o", "json")
	var list api.ConnectionList
	if code != 0 || json.Unmarshal([]byte(stdout), &list) != nil || len(list.Connections) != 2 {
		t.Fatalf("conn list -o json: %d %s", code, stdout)
	}
	if strings.Contains(stdout, "s3cret-PSK") {
		t.Error("list leaks the PSK")
	}
	if code, stdout, _ = cli(t, url, "conn", "show", "hq", "--show-secrets"); code != 0 || !strings.Contains(stdout, "s3cret-PSK") {
		t.Errorf("show --show-secrets: %d %s", code, stdout)
	}
	if code, stdout, _ = cli(t, url, "tr", "create", "--name", "x", "--account", "acct-2", "--route-table", "100"); code != 0 {
		t.Fatalf("tr create: %d %s", code, stdout)
	}
	trID := strings.TrimSpace(strings.TrimPrefix(stdout, "created "))
	code, _, stderr := cli(t, url, "attach", "hq", "--tr", trID, "--zone", "z")
	if code != exitInvalid || !strings.Contains(stderr, "transit_router_id: ") || !strings.Contains(stderr, "(unauthorized)") {
		t.Errorf("unauthorized attach: %d %s", code, stderr)
	}
	for _, args := range [][]string{
		{"authorize", "hq", "--account", "acct-2", "--cen", "cen-1", "--payer", "vpn-owner"},
		{"attach", "hq", "--tr", trID, "--zone", "z"},
	} {
		if code, out, errs := cli(t, url, args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errs)
		}
	}
	if code, _, stderr = cli(t, url, "revoke", "hq", "--account", "acct-2"); code != exitInvalid || !strings.Contains(stderr, "account_id: ") {
		t.Errorf("revoke while attached: %d %s", code, stderr)
	}
	if code, stdout, _ = cli(t, url, "status"); code != 0 || !strings.Contains(stdout, "hq (vco-") || !strings.Contains(stdout, "CONFIGURED") {
		t.Errorf("status: %d %s", code, stdout)
	}
	if code, _, stderr = cli(t, url, "initiate", "hq"); code != exitInvalid || !strings.Contains(stderr, "not-implemented") {
		t.Errorf("initiate without controller: %d %s", code, stderr)
	}
	for _, args := range [][]string{{"detach", "hq"}, {"revoke", "hq", "--account", "acct-2"}, {"conn", "delete", "hq"}, {"tr", "delete", trID}} {
		if code, out, errs := cli(t, url, args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errs)
		}
	}
	if m := names(t, st); len(m) != 1 || m["old"] == nil {
		t.Errorf("after delete: %v", m)
	}
}

func TestPrintStatusLikeSwanctl(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 100, 0, time.UTC)
	st := &api.Status{Connections: []api.ConnectionStatus{{
		ID: "vco-1", Name: "hq", State: api.StateEstablished, CustomerGateway: "192.0.2.1",
		IKESAs: []api.IKESA{{
			UniqueID: 1, Version: 2, State: "established", Initiator: true,
			LocalAddress: "192.0.2.2", LocalPort: 4500, LocalID: "192.0.2.2",
			RemoteAddress: "192.0.2.1", RemotePort: 4500, RemoteID: "192.0.2.1",
			SPIInitiator: "5f1d2f5d8b0a4e2b", SPIResponder: "8c0b3e9f7a6d5c4b",
			Encryption: "AES_CBC-128", Integrity: "HMAC_SHA1_96", PRF: "PRF_HMAC_SHA1", DHGroup: "MODP_1024",
			EstablishedAt: now.Add(-10 * time.Second),
			ChildSAs: []api.ChildSA{{
				Name: "hq", UniqueID: 1, State: "installed", Mode: "TUNNEL", Protocol: "ESP", UDPEncap: true,
				SPIIn: "c1d2e3f4", SPIOut: "c5d6e7f8", Encryption: "AES_CBC-128", Integrity: "HMAC_SHA1_96",
				BytesIn: 840, PacketsIn: 10, LocalTS: []string{"10.2.0.0/24"}, RemoteTS: []string{"10.1.0.0/24"},
			}},
		}},
	}}}
	var b bytes.Buffer
	printStatus(&b, st, now)
	for _, want := range []string{
		"hq: #1, ESTABLISHED, IKEv2, 5f1d2f5d8b0a4e2b_i* 8c0b3e9f7a6d5c4b_r\n",
		"  local  '192.0.2.2' @ 192.0.2.2[4500]\n",
		"  AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024\n",
		"  established 10s ago\n",
		"  hq: #1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA1_96\n",
		"    in  c1d2e3f4,    840 bytes,    10 packets\n",
		"    remote 10.1.0.0/24\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSingleDashLongFlags(t *testing.T) {
	url, _ := server(t)
	code, stdout, stderr := cli(t, "", "-api", url, "conn", "list", "-output", "json")
	if code != 0 || !strings.Contains(stdout, `"connections"`) {
		t.Errorf("-api URL: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, _ := cli(t, "", "-api="+url, "status"); code != 0 {
		t.Errorf("-api=URL: exit %d", code)
	}
	got := normalizeArgs([]string{"-api", "x", "-o", "json", "-f", "y", "--", "-api"})
	want := []string{"--api", "x", "-o", "json", "-f", "y", "--", "-api"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("normalizeArgs = %v", got)
	}
}
