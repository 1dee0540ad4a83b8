package lab

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{} // package -> binary, per test process
	buildDir   string
)

// GoBuild builds the Go main package pkg (an import path such as
// "github.com/ipsecgw/ipsecgw/cmd/ipsecgwd") once per test process and
// returns the binary's path, for starting it in a namespace with
// Bed.Start. It calls t.Fatal when the build fails.
func GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := buildCache[pkg]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "ipsecgw-lab-bin-")
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		buildDir = d // left for the OS to clean: shared by all tests of the process
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(buildDir, path.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := runCmd(ctx, nil, goBin, "build", "-o", bin, pkg); err != nil {
		t.Fatalf("lab: build %s: %v", pkg, err)
	}
	buildCache[pkg] = bin
	return bin
}
