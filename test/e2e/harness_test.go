// Package e2e runs ipsecgwd as the cloud-side gateway (gwB) against real
// strongSwan on the on-premises side (gwA), or against a second ipsecgwd,
// in the network namespaces of test/lab, and checks that traffic crosses
// the tunnel. It needs root; with -short it is skipped.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

var (
	buildOnce  sync.Once
	gwdBin     string
	cliBin     string
	buildError error
)

// binaries builds ipsecgwd and ipsecgw once per test process.
func binaries(t *testing.T) (gwd, cli string) {
	t.Helper()
	buildOnce.Do(func() {
		// IPSECGW_BIN_DIR: use prebuilt binaries (e.g. built from a clean
		// worktree while the tree is being edited).
		if dir := os.Getenv("IPSECGW_BIN_DIR"); dir != "" {
			gwdBin, cliBin = filepath.Join(dir, "ipsecgwd"), filepath.Join(dir, "ipsecgw")
			return
		}
		dir, err := os.MkdirTemp("", "ipsecgw-e2e-bin")
		if err != nil {
			buildError = err
			return
		}
		for _, p := range []string{"ipsecgwd", "ipsecgw"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "github.com/ipsecgw/ipsecgw/cmd/"+p).CombinedOutput()
			if err != nil {
				buildError = fmt.Errorf("build %s: %v\n%s", p, err, out)
				return
			}
		}
		gwdBin, cliBin = filepath.Join(dir, "ipsecgwd"), filepath.Join(dir, "ipsecgw")
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return gwdBin, cliBin
}

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test bed: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test bed needs root (network namespaces)")
	}
}

// gateway is one ipsecgwd running in a namespace of a bed.
type gateway struct {
	t    *testing.T
	b    *lab.Bed
	role string
	dir  string
	cli  string
	proc *lab.Proc
}

// startGateway runs ipsecgwd in role's namespace with address addr.
func startGateway(t *testing.T, b *lab.Bed, role, addr string) *gateway {
	t.Helper()
	gwd, cli := binaries(t)
	dir := filepath.Join(b.Dir(), "ipsecgwd-"+role)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("address: %s\nstate_dir: %s/state\napi: unix://%s/api.sock\ntun: ipsecgw0\nmetrics: 127.0.0.1:9810\nlog_level: debug\n",
		addr, dir, dir)
	path := filepath.Join(dir, "ipsecgwd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, b: b, role: role, dir: dir, cli: cli}
	g.proc = b.Start(role, "ipsecgwd-"+role, gwd, "-config", path)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "api.sock")); err == nil {
			break
		}
		if g.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("ipsecgwd in %s did not start:\n%s", role, g.proc.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipsecgwd %s log (tail):\n%s", role, tailLines(g.proc.Log(), 80))
		}
	})
	return g
}

// run executes the ipsecgw CLI against this gateway.
func (g *gateway) run(args ...string) (string, error) {
	argv := append([]string{"--api", "unix://" + filepath.Join(g.dir, "api.sock")}, args...)
	cmd := exec.Command(g.cli, argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// apply writes yaml to a file and runs `ipsecgw apply -f`.
func (g *gateway) apply(yaml string) {
	g.t.Helper()
	path := filepath.Join(g.dir, fmt.Sprintf("conns-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		g.t.Fatal(err)
	}
	if out, err := g.run("apply", "-f", path); err != nil {
		g.t.Fatalf("ipsecgw apply: %v\n%s\n--- file:\n%s", err, out, yaml)
	}
}

// status returns the connection named name from `ipsecgw status -o json`.
func (g *gateway) status(name string) (api.ConnectionStatus, error) {
	out, err := g.run("status", "-o", "json")
	if err != nil {
		return api.ConnectionStatus{}, fmt.Errorf("ipsecgw status: %v: %s", err, out)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return api.ConnectionStatus{}, fmt.Errorf("status json: %v: %s", err, out)
	}
	for _, c := range st.Connections {
		if c.Name == name {
			return c, nil
		}
	}
	return api.ConnectionStatus{}, fmt.Errorf("no connection %q in status", name)
}

// waitState polls the status until the connection reaches state (and, for
// established, has an installed child SA) or the timeout passes.
func (g *gateway) waitState(name, state string, timeout time.Duration) api.ConnectionStatus {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	var last api.ConnectionStatus
	var err error
	for time.Now().Before(deadline) {
		last, err = g.status(name)
		if err == nil && last.State == state && (state != api.StateEstablished || installedChild(last) != nil) {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
	g.t.Fatalf("connection %s not %s after %v: last %+v (err %v)", name, state, timeout, last, err)
	return last
}

// installedChild returns the first INSTALLED child SA of an established IKE SA.
func installedChild(c api.ConnectionStatus) *api.ChildSA {
	for i := range c.IKESAs {
		if c.IKESAs[i].State != "ESTABLISHED" {
			continue
		}
		for j := range c.IKESAs[i].ChildSAs {
			if c.IKESAs[i].ChildSAs[j].State == "INSTALLED" {
				return &c.IKESAs[i].ChildSAs[j]
			}
		}
	}
	return nil
}

// Conn is the subset of a connections-file entry the tests vary.
type Conn struct {
	Name, CustomerGateway, PSK string
	Mode                       string // routing mode
	Local, Remote, Routes      []string
	Immediate                  bool
	Version, IKEMode           string
	IKEEnc, IKEAuth, IKEDH     string
	IKELife                    int
	LocalID, RemoteID          string
	ESPEnc, ESPAuth, ESPDH     string
	ESPLife                    int
	DPD, NATT                  bool
	// BGP (when PeerASN is set) and health check (when HCDest is set).
	BGPCIDR, BGPLocal string
	PeerASN           uint32
	Announce          []string
	HCDest, HCSource  string
	HCInterval        int
	HCRetries         int
}

// defaultConn is the product's defaults against the lab's gwA.
func defaultConn(name string) Conn {
	return Conn{
		Name: name, CustomerGateway: lab.GwAWanIP, PSK: lab.DefaultPSK,
		Mode: "protected-subnets", Local: []string{"10.2.0.0/24"}, Remote: []string{"10.1.0.0/24"},
		Immediate: true, Version: "ikev2", IKEMode: "main",
		IKEEnc: "aes", IKEAuth: "sha1", IKEDH: "group2", IKELife: 86400,
		ESPEnc: "aes", ESPAuth: "sha1", ESPDH: "group2", ESPLife: 86400,
		DPD: true, NATT: true,
	}
}

var connTmpl = template.Must(template.New("c").Funcs(template.FuncMap{"list": func(ss []string) string {
	return "[" + strings.Join(ss, ", ") + "]"
}}).Parse(`connections:
{{- range .}}
  - name: {{.Name}}
    customer_gateway: {{.CustomerGateway}}
    routing_mode: {{.Mode}}
{{- if .Local}}
    local_subnets: {{list .Local}}
    remote_subnets: {{list .Remote}}
{{- end}}
{{- if .Routes}}
    routes: {{list .Routes}}
{{- end}}
    effective_immediately: {{.Immediate}}
    psk: "{{.PSK}}"
    ike:
      version: {{.Version}}
      mode: {{.IKEMode}}
      encryption: {{.IKEEnc}}
{{- if .IKEAuth}}
      authentication: {{.IKEAuth}}
{{- end}}
      dh_group: {{.IKEDH}}
      lifetime: {{.IKELife}}
{{- if .LocalID}}
      local_id: {{.LocalID}}
{{- end}}
{{- if .RemoteID}}
      remote_id: {{.RemoteID}}
{{- end}}
    ipsec:
      encryption: {{.ESPEnc}}
{{- if .ESPAuth}}
      authentication: {{.ESPAuth}}
{{- end}}
      dh_group: {{.ESPDH}}
      lifetime: {{.ESPLife}}
    dpd: {{.DPD}}
    nat_traversal: {{.NATT}}
{{- if .PeerASN}}
    bgp:
      enabled: true
      tunnel_cidr: {{.BGPCIDR}}
      local_address: {{.BGPLocal}}
      peer_asn: {{.PeerASN}}
      announce: {{list .Announce}}
{{- end}}
{{- if .HCDest}}
    health_check:
      enabled: true
      destination_ip: {{.HCDest}}
      source_ip: {{.HCSource}}
      interval: {{.HCInterval}}
      retries: {{.HCRetries}}
{{- end}}
{{- end}}
`))

// yamlOf renders connections as a connections file.
func yamlOf(cs ...Conn) string {
	var b strings.Builder
	if err := connTmpl.Execute(&b, cs); err != nil {
		panic(err)
	}
	return b.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
