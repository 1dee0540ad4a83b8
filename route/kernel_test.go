package route

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// recorder wraps a Netlink and records the changes passed through, so the
// real-kernel test can assert what Set emitted.
type recorder struct {
	Netlink
	mu  sync.Mutex
	ops []Op
}

func (r *recorder) RouteAdd(rt Route) error {
	r.mu.Lock()
	r.ops = append(r.ops, Op{OpAdd, rt})
	r.mu.Unlock()
	return r.Netlink.RouteAdd(rt)
}

func (r *recorder) RouteDel(rt Route) error {
	r.mu.Lock()
	r.ops = append(r.ops, Op{OpDel, rt})
	r.mu.Unlock()
	return r.Netlink.RouteDel(rt)
}

func (r *recorder) take() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.ops
	r.ops = nil
	return o
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNamespace creates network namespace name with a veth pair v0/v1 (v0
// 10.99.0.1/24, fd99::1/64) and removes it when the test ends.
func newNamespace(t *testing.T, name string) *netlink.Handle {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	exec.Command("ip", "netns", "del", name).Run() // leftover of a crashed run
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, c := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"link", "set", "v0", "up"},
		{"link", "set", "v1", "up"},
		{"addr", "add", "10.99.0.1/24", "dev", "v0"},
		{"-6", "addr", "add", "fd99::1/64", "dev", "v0", "nodad"},
	} {
		sh(t, append([]string{"ip", "-n", name}, c...)...)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// ipRoutes returns `ip route show table all proto 181` in ns, one route a
// line, without the trailing spaces iproute2 prints.
func ipRoutes(t *testing.T, ns string, family string) []string {
	t.Helper()
	out := sh(t, "ip", family, "-n", ns, "route", "show", "table", "all", "proto", "181")
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

func TestKernelSetAndClear(t *testing.T) {
	const ns = "igrt-a"
	h := newNamespace(t, ns)
	rec := &recorder{Netlink: NewKernel(h)}
	r, err := New(Config{Netlink: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	desired := []Route{
		{Dst: netip.MustParsePrefix("10.50.0.0/24"), Dev: "v0"},
		{Dst: netip.MustParsePrefix("10.51.0.0/24"), Dev: "v0", Table: 100, Src: netip.MustParseAddr("10.99.0.1")},
		{Dst: netip.MustParsePrefix("10.52.0.0/16"), Via: netip.MustParseAddr("10.99.0.2"), Dev: "v0", Metric: 10},
		{Dst: netip.MustParsePrefix("fd50::/64"), Dev: "v0"},
	}
	if err := r.Set("conn1", desired); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if n := len(rec.take()); n != 4 {
		t.Fatalf("first Set emitted %d ops, want 4", n)
	}
	want4 := []string{
		"10.50.0.0/24 dev v0 scope link",
		"10.51.0.0/24 dev v0 table 100 scope link src 10.99.0.1",
		"10.52.0.0/16 via 10.99.0.2 dev v0 metric 10",
	}
	if got := ipRoutes(t, ns, "-4"); !slices.Equal(got, want4) {
		t.Fatalf("ip -4 route:\n got %q\nwant %q", got, want4)
	}
	if got := ipRoutes(t, ns, "-6"); len(got) != 1 || !strings.HasPrefix(got[0], "fd50::/64 dev v0 metric 1024") {
		t.Fatalf("ip -6 route: %q", got)
	}

	// The kernel's view reads back equal to the desired set: no changes.
	if err := r.Set("conn1", desired); err != nil {
		t.Fatalf("second Set: %v", err)
	}
	if ops := rec.take(); len(ops) != 0 {
		t.Fatalf("second Set emitted %v", ops)
	}

	// Link down: the kernel drops the routes through v0 (IPv4 ones at
	// once); the next Set restores them.
	sh(t, "ip", "-n", ns, "link", "set", "v0", "down")
	sh(t, "ip", "-n", ns, "link", "set", "v0", "up")
	sh(t, "ip", "-n", ns, "addr", "replace", "10.99.0.1/24", "dev", "v0")
	if err := r.Set("conn1", desired); err != nil {
		t.Fatalf("Set after link flap: %v", err)
	}
	if ops := rec.take(); len(ops) == 0 {
		t.Fatal("Set after link flap emitted nothing")
	}
	if got := ipRoutes(t, ns, "-4"); !slices.Contains(got, want4[0]) || !slices.Contains(got, want4[2]) {
		t.Fatalf("routes not restored after link flap: %q", got)
	}

	// An operator's route and a stale ipsecgw route from a previous run.
	sh(t, "ip", "-n", ns, "route", "add", "10.60.0.0/24", "dev", "v0", "proto", "static")
	sh(t, "ip", "-n", ns, "route", "add", "10.61.0.0/24", "dev", "v0", "table", "200", "proto", "181")

	if err := r.Clear("conn1"); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	// Only the stale table-200 route remains ours.
	if got := ipRoutes(t, ns, "-4"); !slices.Equal(got, []string{"10.61.0.0/24 dev v0 table 200 scope link"}) {
		t.Fatalf("after Clear: %q", got)
	}
	if got := ipRoutes(t, ns, "-6"); len(got) != 0 {
		t.Fatalf("after Clear, ipv6: %q", got)
	}
	if err := r.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := ipRoutes(t, ns, "-4"); len(got) != 0 {
		t.Fatalf("after Flush: %q", got)
	}
	if out := sh(t, "ip", "-n", ns, "route", "show", "10.60.0.0/24"); !strings.Contains(out, "proto static") {
		t.Fatalf("operator route gone: %q", out)
	}
}
