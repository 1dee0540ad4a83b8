// Package e2e runs ipsecgwd as the cloud-side gateway (gwB) against real
// strongSwan on the on-premises side (gwA), or against a second ipsecgwd,
// in the network namespaces of test/lab, and checks that traffic crosses
// the tunnel. It needs root; with -short it is skipped.
package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/gwtest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// The connection model and the CLI driver are shared with bench/e2e.
type Conn = gwtest.Conn

var (
	defaultConn    = gwtest.DefaultConn
	mirror         = gwtest.Mirror
	yamlOf         = gwtest.YAML
	installedChild = gwtest.InstalledChild
	tailLines      = gwtest.Tail
)

func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test bed: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test bed needs root (network namespaces)")
	}
}

// gateway is a gwtest.Gateway whose helpers fail the test.
type gateway struct {
	*gwtest.Gateway
	t *testing.T
}

// startGateway runs ipsecgwd in role's namespace with address addr; its
// log tail is printed if the test fails.
func startGateway(t *testing.T, b *lab.Bed, role, addr string) *gateway {
	t.Helper()
	gw, err := gwtest.Start(b, role, addr, "debug", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipsecgwd %s log (tail):\n%s", role, tailLines(gw.Proc.Log(), 80))
		}
	})
	return &gateway{Gateway: gw, t: t}
}

func (g *gateway) apply(yaml string) {
	g.t.Helper()
	if err := g.Apply(yaml); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) status(name string) (api.ConnectionStatus, error) { return g.Status(name) }

func (g *gateway) waitState(name, state string, timeout time.Duration) api.ConnectionStatus {
	g.t.Helper()
	st, err := g.WaitState(name, state, timeout)
	if err != nil {
		g.t.Fatal(err)
	}
	return st
}
