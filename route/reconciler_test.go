package route

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func newTestReconciler(t *testing.T) (*Reconciler, *Fake) {
	t.Helper()
	f := NewFake()
	r, err := New(Config{Netlink: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}

func rt(dst, dev string) Route { return Route{Dst: netip.MustParsePrefix(dst), Dev: dev} }

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
	}
	return out
}

func TestSetEmitsExactDiff(t *testing.T) {
	a := rt("10.1.0.0/24", "tun0")
	b := rt("10.1.1.0/24", "tun0")
	c := rt("10.1.2.0/24", "tun0")
	cT := c
	cT.Table = 100
	bSrc := b
	bSrc.Src = netip.MustParseAddr("10.2.0.1")
	v6 := rt("fd00:1::/64", "tun0")
	steps := []struct {
		name    string
		desired []Route
		want    []string
	}{
		{"initial", []Route{b, a}, []string{
			"add 10.1.0.0/24 dev tun0 proto ipsecgw",
			"add 10.1.1.0/24 dev tun0 proto ipsecgw",
		}},
		{"same again", []Route{a, b}, nil},
		{"add one", []Route{a, b, c}, []string{"add 10.1.2.0/24 dev tun0 proto ipsecgw"}},
		{"remove one", []Route{a, c}, []string{"del 10.1.1.0/24 dev tun0 proto ipsecgw"}},
		{"move to table", []Route{a, cT}, []string{
			"del 10.1.2.0/24 dev tun0 proto ipsecgw",
			"add 10.1.2.0/24 dev tun0 table 100 proto ipsecgw",
		}},
		{"change source", []Route{a, cT, bSrc}, []string{"add 10.1.1.0/24 dev tun0 proto ipsecgw src 10.2.0.1"}},
		{"change attribute in place", []Route{a, cT, b}, []string{
			"del 10.1.1.0/24 dev tun0 proto ipsecgw src 10.2.0.1",
			"add 10.1.1.0/24 dev tun0 proto ipsecgw",
		}},
		{"ipv6 metric normalised", []Route{a, cT, b, v6}, []string{"add fd00:1::/64 dev tun0 proto ipsecgw metric 1024"}},
		{"ipv6 idempotent", []Route{v6, b, cT, a}, nil},
		{"host bits ignored", []Route{rt("10.1.0.7/24", "tun0"), b, cT, v6}, nil},
		{"empty", nil, []string{ // sorted by table, then address
			"del 10.1.2.0/24 dev tun0 table 100 proto ipsecgw",
			"del 10.1.0.0/24 dev tun0 proto ipsecgw",
			"del 10.1.1.0/24 dev tun0 proto ipsecgw",
			"del fd00:1::/64 dev tun0 proto ipsecgw metric 1024",
		}},
	}
	r, f := newTestReconciler(t)
	for _, s := range steps {
		if err := r.Set("conn1", s.desired); err != nil {
			t.Fatalf("%s: Set: %v", s.name, err)
		}
		if got := opStrings(f.TakeOps()); !slices.Equal(got, s.want) {
			t.Fatalf("%s: ops\n got %q\nwant %q", s.name, got, s.want)
		}
	}
	if got := f.Routes(); len(got) != 0 {
		t.Fatalf("kernel not empty: %v", got)
	}
}

func TestOwnersAreIsolated(t *testing.T) {
	r, f := newTestReconciler(t)
	if err := r.Set("hq", []Route{rt("10.1.0.0/24", "tun0")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Set("branch", []Route{rt("10.3.0.0/24", "tun0")}); err != nil {
		t.Fatal(err)
	}
	f.TakeOps()
	// Emptying one owner leaves the other's routes alone.
	if err := r.Clear("hq"); err != nil {
		t.Fatal(err)
	}
	want := []string{"del 10.1.0.0/24 dev tun0 proto ipsecgw"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("Clear ops %q, want %q", got, want)
	}
	if got := f.Routes(); len(got) != 1 || got[0].Dst.String() != "10.3.0.0/24" {
		t.Fatalf("kernel after Clear: %v", got)
	}
	if got := r.Routes("hq"); len(got) != 0 {
		t.Fatalf("hq still owns %v", got)
	}
	if got := r.Routes("branch"); len(got) != 1 {
		t.Fatalf("branch owns %v", got)
	}
}

func TestConflictBetweenOwners(t *testing.T) {
	r, f := newTestReconciler(t)
	if err := r.Set("hq", []Route{rt("10.1.0.0/24", "tun0")}); err != nil {
		t.Fatal(err)
	}
	f.TakeOps()
	err := r.Set("branch", []Route{rt("10.1.0.0/24", "tun1"), rt("10.3.0.0/24", "tun1")})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Set err = %v, want ErrConflict", err)
	}
	// The non-conflicting route is still installed; hq's is untouched.
	want := []string{"add 10.3.0.0/24 dev tun1 proto ipsecgw"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
	// A different metric is a different kernel route: no conflict.
	alt := rt("10.1.0.0/24", "tun1")
	alt.Metric = 200
	if err := r.Set("branch", []Route{alt}); err != nil {
		t.Fatal(err)
	}
}

func TestForeignRoutesLeftAlone(t *testing.T) {
	r, f := newTestReconciler(t)
	foreign := Route{Dst: netip.MustParsePrefix("10.1.0.0/24"), Dev: "eth0", Table: TableMain, Proto: ProtoStatic}
	other := Route{Dst: netip.MustParsePrefix("10.9.0.0/24"), Dev: "eth0", Table: TableMain, Proto: 186}
	f.Inject(foreign)
	f.Inject(other)
	// Our route collides with the operator's: the kernel refuses it and
	// Set reports it, without deleting the operator's route.
	err := r.Set("hq", []Route{rt("10.1.0.0/24", "tun0"), rt("10.2.0.0/24", "tun0")})
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("Set err = %v, want EEXIST", err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	got := f.Routes()
	if !slices.Equal(got, []Route{foreign, other}) {
		t.Fatalf("after Flush kernel = %v, want only the foreign routes", got)
	}
}

func TestSetRepairsKernelDrift(t *testing.T) {
	r, f := newTestReconciler(t)
	a := rt("10.1.0.0/24", "tun0")
	if err := r.Set("hq", []Route{a}); err != nil {
		t.Fatal(err)
	}
	f.TakeOps()
	// The device went down and the kernel dropped the route: the same Set
	// puts it back.
	n, _ := a.normalize()
	f.Vanish(n)
	if err := r.Set("hq", []Route{a}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add 10.1.0.0/24 dev tun0 proto ipsecgw"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
}

func TestFailedAddIsRetried(t *testing.T) {
	r, f := newTestReconciler(t)
	f.FailAdd = func(Route) error { return syscall.ENODEV }
	a := rt("10.1.0.0/24", "tun0")
	if err := r.Set("hq", []Route{a}); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Set err = %v, want ENODEV", err)
	}
	f.TakeOps()
	f.FailAdd = nil
	if err := r.Set("hq", []Route{a}); err != nil {
		t.Fatal(err)
	}
	if got := opStrings(f.TakeOps()); len(got) != 1 || !strings.HasPrefix(got[0], "add ") {
		t.Fatalf("retry ops %q", got)
	}
}

func TestFlushRemovesStaleRoutes(t *testing.T) {
	r, f := newTestReconciler(t)
	// Left by a previous run: same protocol, no owner in memory.
	stale := Route{Dst: netip.MustParsePrefix("10.7.0.0/16"), Dev: "tun0", Table: 100, Proto: ProtoIpsecgw}
	f.Inject(stale)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{"del 10.7.0.0/16 dev tun0 table 100 proto ipsecgw"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
	// A stale route whose key a new owner wants is replaced, not duplicated.
	f.Inject(stale)
	st := stale
	st.Dev = "tun1"
	if err := r.Set("hq", []Route{st}); err != nil {
		t.Fatal(err)
	}
	want = []string{"del 10.7.0.0/16 dev tun0 table 100 proto ipsecgw", "add 10.7.0.0/16 dev tun1 table 100 proto ipsecgw"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
}

func TestInvalidRoutes(t *testing.T) {
	r, f := newTestReconciler(t)
	bad := []Route{
		{Dev: "tun0"}, // no destination
		{Dst: netip.MustParsePrefix("10.0.0.0/8")},                                                   // no device, no gateway
		{Dst: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("fe80::1")},              // family mismatch
		{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "tun0", Table: TableLocal},                   // local table
		{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "tun0", Proto: ProtoStatic},                  // not our protocol
		{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "tun0", Src: netip.MustParseAddr("fd00::1")}, // src family
	}
	for _, b := range bad {
		if err := r.Set("x", []Route{b}); err == nil {
			t.Errorf("Set(%v) accepted", b)
		}
	}
	// Two different routes with one kernel key in one Set.
	dup := []Route{rt("10.0.0.0/8", "tun0"), rt("10.0.0.0/8", "tun1")}
	if err := r.Set("x", dup); err == nil {
		t.Error("duplicate key accepted")
	}
	if got := f.Routes(); len(got) != 1 {
		t.Fatalf("kernel = %v, want just the first of the duplicates", got)
	}
	if _, err := New(Config{Netlink: f, Protos: []Proto{ProtoKernel}}); err == nil {
		t.Error("New accepted ProtoKernel")
	}
}

func TestGatewayRoute(t *testing.T) {
	r, f := newTestReconciler(t)
	g := Route{Dst: netip.MustParsePrefix("10.1.0.0/24"), Via: netip.MustParseAddr("169.254.10.2"), Dev: "ipsecgw0", Metric: 20}
	if err := r.Set("bgp", []Route{g}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add 10.1.0.0/24 via 169.254.10.2 dev ipsecgw0 proto ipsecgw metric 20"}
	if got := opStrings(f.TakeOps()); !slices.Equal(got, want) {
		t.Fatalf("ops %q, want %q", got, want)
	}
	g.Via = netip.MustParseAddr("169.254.10.6")
	if err := r.Set("bgp", []Route{g}); err != nil {
		t.Fatal(err)
	}
	if got := f.TakeOps(); len(got) != 2 || got[0].Kind != OpDel || got[1].Kind != OpAdd {
		t.Fatalf("next-hop change ops %v", got)
	}
}
