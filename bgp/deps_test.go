package bgp

import (
	"os/exec"
	"strings"
	"testing"
)

// heavyImports are the module paths the data plane and IKE must not pull in:
// GoBGP brings gRPC, protobuf, viper and logrus along (STYLE.md: "a test
// asserts that esp and ike do not import gobgp or grpc").
var heavyImports = []string{"github.com/osrg/gobgp", "google.golang.org/grpc"}

// goList returns the transitive dependencies of the given package patterns.
func goList(t *testing.T, patterns ...string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not in PATH: %v", err)
	}
	// -e: a package another helper is editing may not compile right now;
	// its imports are still listed.
	args := append([]string{"list", "-e", "-deps", "-f", "{{.ImportPath}}"}, patterns...)
	cmd := exec.Command(gobin, args...)
	cmd.Dir = ".." // module root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

func heavy(deps []string) []string {
	var bad []string
	for _, d := range deps {
		for _, h := range heavyImports {
			if strings.HasPrefix(d, h) {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

func TestDataPlaneDoesNotImportGoBGP(t *testing.T) {
	// The check itself must be able to fail: this package does import them.
	if bad := heavy(goList(t, "./bgp")); len(bad) == 0 {
		t.Fatal("go list found no gobgp/grpc in ./bgp: the check is broken")
	}
	deps := goList(t, "./esp/...", "./ike/...")
	var own int
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/ipsecgw/ipsecgw/esp") || strings.HasPrefix(d, "github.com/ipsecgw/ipsecgw/ike") {
			own++
		}
	}
	if own == 0 {
		t.Fatal("go list found no esp or ike packages")
	}
	if bad := heavy(deps); len(bad) > 0 {
		t.Fatalf("esp/... or ike/... depend on %v", bad)
	}
	t.Logf("%d esp/ike packages, %d dependencies, none from %v", own, len(deps), heavyImports)
}
