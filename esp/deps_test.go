package esp

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the data plane light: no BGP, gRPC, metrics or
// storage libraries in esp or its subpackages (STYLE.md: a dependency test
// forbids heavy imports in hot packages).
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/ipsecgw/ipsecgw/esp/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/osrg/gobgp", "google.golang.org/grpc",
			"github.com/prometheus", "go.etcd.io/bbolt", "github.com/spf13/cobra"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("esp depends on %s", dep)
			}
		}
	}
}
