package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
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

// The helpers in this file are adapted from test/e2e/harness_test.go (they
// live in a _test.go file of another package, so they cannot be imported):
// they return errors instead of failing the test, because one path that
// cannot be set up must not cost the other rows of the table.

var (
	buildOnce  sync.Once
	gwdBin     string
	cliBin     string
	wgBin      string
	buildError error
)

// binaries builds ipsecgwd, ipsecgw and wireguard-go once per test process
// from the current tree, or takes ipsecgwd and ipsecgw from IPSECGW_BIN_DIR
// and wireguard-go from WIREGUARD_GO when those are set.
func binaries(t *testing.T) (gwd, cli, wg string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ipsecgw-bench-bin-")
		if err != nil {
			buildError = err
			return
		}
		build := func(out, pkg string) {
			if buildError != nil {
				return
			}
			if o, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				buildError = fmt.Errorf("build %s: %v\n%s", pkg, err, o)
			}
		}
		if bd := os.Getenv("IPSECGW_BIN_DIR"); bd != "" {
			gwdBin, cliBin = filepath.Join(bd, "ipsecgwd"), filepath.Join(bd, "ipsecgw")
		} else {
			gwdBin, cliBin = filepath.Join(dir, "ipsecgwd"), filepath.Join(dir, "ipsecgw")
			build(gwdBin, "github.com/ipsecgw/ipsecgw/cmd/ipsecgwd")
			build(cliBin, "github.com/ipsecgw/ipsecgw/cmd/ipsecgw")
		}
		if wgBin = os.Getenv("WIREGUARD_GO"); wgBin == "" {
			// The version pinned in go.mod: the one shared/lab measured.
			wgBin = filepath.Join(dir, "wireguard-go")
			build(wgBin, "golang.zx2c4.com/wireguard")
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return gwdBin, cliBin, wgBin
}

// gateway is one ipsecgwd running in a namespace of a bed.
type gateway struct {
	b    *lab.Bed
	role string
	dir  string
	cli  string
	proc *lab.Proc
}

// startGateway runs ipsecgwd in role's namespace with address addr and
// waits for its API socket. Logging is at info: the benchmark measures the
// daemon as it would run in production.
func startGateway(t *testing.T, b *lab.Bed, role, addr, extra string) (*gateway, error) {
	gwd, cli, _ := binaries(t)
	dir := filepath.Join(b.Dir(), "ipsecgwd-"+role)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("address: %s\nstate_dir: %s/state\napi: unix://%s/api.sock\ntun: ipsecgw0\nmetrics: 127.0.0.1:9810\nlog_level: info\n%s",
		addr, dir, dir, extra)
	path := filepath.Join(dir, "ipsecgwd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	g := &gateway{b: b, role: role, dir: dir, cli: cli}
	p, err := b.StartEnv(role, "ipsecgwd-"+role, nil, gwd, "-config", path)
	if err != nil {
		return nil, err
	}
	g.proc = p
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "api.sock")); err == nil {
			return g, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("ipsecgwd in %s did not start:\n%s", role, tailLines(p.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
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
func (g *gateway) apply(yaml string) error {
	path := filepath.Join(g.dir, fmt.Sprintf("conns-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return err
	}
	if out, err := g.run("apply", "-f", path); err != nil {
		return fmt.Errorf("ipsecgw apply: %v\n%s\n--- file:\n%s", err, out, yaml)
	}
	return nil
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

// waitChild polls the status until the connection is established with an
// installed child SA, and returns that child.
func (g *gateway) waitChild(name string, timeout time.Duration) (api.ChildSA, error) {
	deadline := time.Now().Add(timeout)
	var last api.ConnectionStatus
	var err error
	for time.Now().Before(deadline) {
		last, err = g.status(name)
		if err == nil && last.State == api.StateEstablished {
			if ch := installedChild(last); ch != nil {
				return *ch, nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err == nil {
		err = errors.New("no installed child SA")
	}
	return api.ChildSA{}, fmt.Errorf("connection %s not established after %v: last %+v: %w\n%s",
		name, timeout, last, err, tailLines(g.proc.Log(), 30))
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

// Conn is the subset of a connections-file entry the benchmark varies.
type Conn struct {
	Name, CustomerGateway, PSK string
	Local, Remote              []string
	Immediate                  bool
	ESPEnc, ESPAuth            string
	RemoteID                   string
}

// defaultConn is the product's defaults (IKEv2, aes/sha1/group2 for IKE
// and ESP, DPD and NAT traversal on) against the lab's gwA.
func defaultConn(name string) Conn {
	return Conn{
		Name: name, CustomerGateway: lab.GwAWanIP, PSK: lab.DefaultPSK,
		Local: []string{lab.ServerNet}, Remote: []string{lab.ClientNet},
		Immediate: true, ESPEnc: "aes", ESPAuth: "sha1",
	}
}

// mirror returns the on-premises gateway's view of c: an ipsecgwd on gwA
// whose customer gateway is gwB.
func mirror(c Conn) Conn {
	m := c
	m.CustomerGateway = lab.GwBWanIP
	m.Local, m.Remote = c.Remote, c.Local
	m.RemoteID = ""
	return m
}

var connTmpl = template.Must(template.New("c").Funcs(template.FuncMap{"list": func(ss []string) string {
	return "[" + strings.Join(ss, ", ") + "]"
}}).Parse(`connections:
{{- range .}}
  - name: {{.Name}}
    customer_gateway: {{.CustomerGateway}}
    routing_mode: protected-subnets
    local_subnets: {{list .Local}}
    remote_subnets: {{list .Remote}}
    effective_immediately: {{.Immediate}}
    psk: "{{.PSK}}"
    ike:
      version: ikev2
      mode: main
      encryption: aes
      authentication: sha1
      dh_group: group2
      lifetime: 86400
{{- if .RemoteID}}
      remote_id: {{.RemoteID}}
{{- end}}
    ipsec:
      encryption: {{.ESPEnc}}
{{- if .ESPAuth}}
      authentication: {{.ESPAuth}}
{{- end}}
      dh_group: group2
      lifetime: 86400
    dpd: true
    nat_traversal: true
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
