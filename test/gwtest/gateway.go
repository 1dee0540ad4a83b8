// Package gwtest runs ipsecgwd in the network namespaces of test/lab and
// drives it through the ipsecgw CLI, for the end-to-end tests (test/e2e)
// and the end-to-end benchmark (bench/e2e). Its functions return errors
// rather than failing a test, so a benchmark can report a path that did
// not come up and go on with the others.
package gwtest

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
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

var (
	buildOnce sync.Once
	gwdBin    string
	cliBin    string
	buildErr  error
)

// Binaries builds ipsecgwd and ipsecgw once per process from the current
// tree, or takes them from $IPSECGW_BIN_DIR when set (for example built
// from a clean worktree while the tree is being edited).
func Binaries() (gwd, cli string, err error) {
	buildOnce.Do(func() {
		if dir := os.Getenv("IPSECGW_BIN_DIR"); dir != "" {
			gwdBin, cliBin = filepath.Join(dir, "ipsecgwd"), filepath.Join(dir, "ipsecgw")
			return
		}
		dir, err := os.MkdirTemp("", "ipsecgw-bin-")
		if err != nil {
			buildErr = err
			return
		}
		for _, p := range []string{"ipsecgwd", "ipsecgw"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "github.com/ipsecgw/ipsecgw/cmd/"+p).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("gwtest: build %s: %v\n%s", p, err, out)
				return
			}
		}
		gwdBin, cliBin = filepath.Join(dir, "ipsecgwd"), filepath.Join(dir, "ipsecgw")
	})
	return gwdBin, cliBin, buildErr
}

// Gateway is one ipsecgwd running in a namespace of a bed.
type Gateway struct {
	Bed  *lab.Bed
	Role string
	Dir  string // its configuration, state and API socket
	CLI  string
	Proc *lab.Proc
}

// Start runs ipsecgwd in role's namespace with address addr (extraYAML is
// appended to its daemon configuration) and waits for its API socket.
func Start(b *lab.Bed, role, addr, logLevel, extraYAML string) (*Gateway, error) {
	gwd, cli, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.Dir(), "ipsecgwd-"+role)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("address: %s\nstate_dir: %s/state\napi: unix://%s/api.sock\ntun: ipsecgw0\nmetrics: 127.0.0.1:9810\nlog_level: %s\n%s",
		addr, dir, dir, logLevel, extraYAML)
	path := filepath.Join(dir, "ipsecgwd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	p, err := b.StartEnv(role, "ipsecgwd-"+role, nil, gwd, "-config", path)
	if err != nil {
		return nil, err
	}
	g := &Gateway{Bed: b, Role: role, Dir: dir, CLI: cli, Proc: p}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "api.sock")); err == nil {
			return g, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("gwtest: ipsecgwd in %s did not start:\n%s", role, Tail(p.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Run executes the ipsecgw CLI against this gateway.
func (g *Gateway) Run(args ...string) (string, error) {
	argv := append([]string{"--api", "unix://" + filepath.Join(g.Dir, "api.sock")}, args...)
	cmd := exec.Command(g.CLI, argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Apply writes yaml to a file and runs `ipsecgw apply -f`.
func (g *Gateway) Apply(yaml string) error {
	path := filepath.Join(g.Dir, fmt.Sprintf("conns-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return err
	}
	if out, err := g.Run("apply", "-f", path); err != nil {
		return fmt.Errorf("ipsecgw apply: %v\n%s\n--- file:\n%s", err, out, yaml)
	}
	return nil
}

// Status returns the connection named name from `ipsecgw status -o json`.
func (g *Gateway) Status(name string) (api.ConnectionStatus, error) {
	out, err := g.Run("status", "-o", "json")
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

// WaitState polls the status until the connection reaches state (and, for
// established, has an installed child SA) or the timeout passes.
func (g *Gateway) WaitState(name, state string, timeout time.Duration) (api.ConnectionStatus, error) {
	deadline := time.Now().Add(timeout)
	var last api.ConnectionStatus
	var err error
	for time.Now().Before(deadline) {
		last, err = g.Status(name)
		if err == nil && last.State == state && (state != api.StateEstablished || InstalledChild(last) != nil) {
			return last, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err == nil {
		err = errors.New("timed out")
	}
	return last, fmt.Errorf("connection %s not %s after %v: last %+v: %w", name, state, timeout, last, err)
}

// InstalledChild returns the first INSTALLED child SA of an established
// IKE SA, or nil.
func InstalledChild(c api.ConnectionStatus) *api.ChildSA {
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

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
