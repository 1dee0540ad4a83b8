package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/gwtest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// The ipsecgwd driver is test/gwtest, shared with test/e2e; this file adds
// the wireguard-go build and the benchmark's view of a gateway.

var (
	buildOnce  sync.Once
	wgBin      string
	buildError error
)

// binaries builds ipsecgwd and ipsecgw (gwtest.Binaries: the current tree,
// or $IPSECGW_BIN_DIR) and wireguard-go once per test process; $WIREGUARD_GO
// names a prebuilt wireguard-go.
func binaries(t *testing.T) (gwd, cli, wg string) {
	t.Helper()
	gwd, cli, err := gwtest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	buildOnce.Do(func() {
		if wgBin = os.Getenv("WIREGUARD_GO"); wgBin != "" {
			return
		}
		dir, err := os.MkdirTemp("", "ipsecgw-bench-bin-")
		if err != nil {
			buildError = err
			return
		}
		// The version pinned in go.mod: the one shared/lab measured.
		wgBin = filepath.Join(dir, "wireguard-go")
		if o, err := exec.Command("go", "build", "-o", wgBin, "golang.zx2c4.com/wireguard").CombinedOutput(); err != nil {
			buildError = fmt.Errorf("build wireguard-go: %v\n%s", err, o)
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return gwd, cli, wgBin
}

// gateway is one ipsecgwd of a path; the benchmark reads its CPU time.
type gateway struct {
	*gwtest.Gateway
	proc *lab.Proc
}

// startGateway runs ipsecgwd in role's namespace with address addr.
// Logging is at info: the benchmark measures the daemon as it would run in
// production.
func startGateway(t *testing.T, b *lab.Bed, role, addr, extra string) (*gateway, error) {
	binaries(t)
	g, err := gwtest.Start(b, role, addr, "info", extra)
	if err != nil {
		return nil, err
	}
	return &gateway{Gateway: g, proc: g.Proc}, nil
}

func (g *gateway) apply(yaml string) error { return g.Apply(yaml) }

// waitChild waits until the connection is established with an installed
// child SA, and returns that child.
func (g *gateway) waitChild(name string, timeout time.Duration) (api.ChildSA, error) {
	st, err := g.WaitState(name, api.StateEstablished, timeout)
	if err != nil {
		return api.ChildSA{}, fmt.Errorf("%w\n%s", err, tailLines(g.proc.Log(), 30))
	}
	return *gwtest.InstalledChild(st), nil
}

// The connection model is gwtest's.
type Conn = gwtest.Conn

var (
	defaultConn = gwtest.DefaultConn
	mirror      = gwtest.Mirror
	yamlOf      = gwtest.YAML
	tailLines   = gwtest.Tail
)
