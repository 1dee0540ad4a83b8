package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/route"
)

// The interop test runs our Speaker against BIRD 2 across a veth pair:
//
//	igrt-b1: Speaker (AS 45104) 10.77.0.1/30 v1 <--veth--> v2 10.77.0.2/30 BIRD (AS 65001) :igrt-b2
//
// GoBGP opens its listener and dials from goroutines of its own, so the
// Speaker cannot be put into a namespace by locking one thread; it runs in a
// child process (this test binary, re-executed with `ip netns exec`) that
// talks to the test over stdin/stdout, one line per message.
const (
	nsSpeaker  = "igrt-b1"
	nsBird     = "igrt-b2"
	childEnv   = "IGRT_BGP_CHILD"
	childTag   = "IGRT "
	cloudAddr  = "10.77.0.1"
	onpremAddr = "10.77.0.2"
	cloudLAN   = "10.2.0.0/24"
	onpremLAN  = "10.1.0.0/24"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// killNamespace kills every process left in ns (only ours can be there: the
// test created it) and deletes it.
func killNamespace(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		exec.Command("kill", "-KILL", f).Run()
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

func setupBGPNamespaces(t *testing.T) {
	t.Helper()
	for _, ns := range []string{nsSpeaker, nsBird} {
		killNamespace(ns) // leftover of a crashed run
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { killNamespace(ns) })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "link", "add", "v1", "netns", nsSpeaker, "type", "veth", "peer", "name", "v2", "netns", nsBird)
	run(t, "ip", "-n", nsSpeaker, "addr", "add", cloudAddr+"/30", "dev", "v1")
	run(t, "ip", "-n", nsBird, "addr", "add", onpremAddr+"/30", "dev", "v2")
	run(t, "ip", "-n", nsSpeaker, "link", "set", "v1", "up")
	run(t, "ip", "-n", nsBird, "link", "set", "v2", "up")
}

// bird is a BIRD 2 instance in nsBird.
type bird struct {
	t   *testing.T
	ctl string
}

func startBird(t *testing.T) *bird {
	t.Helper()
	if _, err := exec.LookPath("bird"); err != nil {
		t.Fatal("bird not installed (scripts/install-deps.sh installs bird2)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	// Timers as in shared/lab/bgp-lab.sh: hold 9 / keepalive 3, connect
	// after 1 s and retry every 5 s, graceful restart off.
	cfg := fmt.Sprintf(`log "%s/bird.log" all;
router id %s;
protocol device { scan time 5; }
protocol static onprem { ipv4; route %s blackhole; }
protocol bgp cloud {
	local %s as 65001;
	neighbor %s as 45104;
	hold time 9;
	keepalive time 3;
	connect delay time 1;
	connect retry time 5;
	error wait time 1, 10;
	graceful restart off;
	ipv4 { import all; export where proto = "onprem"; };
}
`, dir, onpremAddr, onpremLAN, onpremAddr, cloudAddr)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &bird{t: t, ctl: filepath.Join(dir, "bird.ctl")}
	pid := filepath.Join(dir, "bird.pid")
	run(t, "ip", "netns", "exec", nsBird, "bird", "-c", conf, "-s", b.ctl, "-P", pid)
	t.Cleanup(func() {
		if p, err := os.ReadFile(pid); err == nil {
			// Wait for BIRD to exit: it writes its log and removes its
			// files on the way out, racing the TempDir removal.
			p := strings.TrimSpace(string(p))
			exec.Command("kill", "-TERM", p).Run()
			for i := 0; i < 50 && exec.Command("kill", "-0", p).Run() == nil; i++ {
				time.Sleep(50 * time.Millisecond)
			}
			exec.Command("kill", "-KILL", p).Run()
		}
		if t.Failed() {
			if l, err := os.ReadFile(filepath.Join(dir, "bird.log")); err == nil {
				t.Logf("bird.log:\n%s", l)
			}
		}
	})
	return b
}

func (b *bird) c(args ...string) string {
	out, err := exec.Command("birdc", append([]string{"-s", b.ctl}, args...)...).CombinedOutput()
	if err != nil {
		b.t.Logf("birdc %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (b *bird) established() bool {
	return strings.Contains(b.c("show", "protocols", "cloud"), "Established")
}

// hasRoute reports whether BIRD's table holds prefix learned from us.
func (b *bird) hasRoute(prefix string) bool {
	// birdc exits 1 with "Network not found" when there is none.
	out, _ := exec.Command("birdc", "-s", b.ctl, "show", "route", prefix, "protocol", "cloud").CombinedOutput()
	return strings.Contains(string(out), prefix+" ")
}

// child is the Speaker process in nsSpeaker.
type child struct {
	t      *testing.T
	stdin  io.Writer
	routes routeLog
	// replies carries answers to commands, in order.
	replies chan string
}

func startChild(t *testing.T) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsSpeaker, exe, "-test.run=^TestSpeakerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, stdin: stdin, replies: make(chan string, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), childTag)
			if !ok {
				continue
			}
			if js, ok := strings.CutPrefix(line, "routes "); ok {
				var ls []Learned
				if err := json.Unmarshal([]byte(js), &ls); err == nil {
					c.routes.add(ls)
				}
				continue
			}
			c.replies <- line
		}
	}()
	t.Cleanup(func() {
		fmt.Fprintln(stdin, "quit")
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		cancel()
		cmd.Wait()
	})
	if r := c.reply(); r != "ready" {
		t.Fatalf("child: %q", r)
	}
	return c
}

func (c *child) reply() string {
	select {
	case r := <-c.replies:
		return r
	case <-time.After(10 * time.Second):
		c.t.Fatal("child did not answer")
		return ""
	}
}

func (c *child) do(cmd string) string {
	fmt.Fprintln(c.stdin, cmd)
	return c.reply()
}

func (c *child) neighbors() []NeighborState {
	r := c.do("neighbors")
	var ns []NeighborState
	if err := json.Unmarshal([]byte(strings.TrimPrefix(r, "neighbors ")), &ns); err != nil {
		c.t.Fatalf("neighbors reply %q: %v", r, err)
	}
	return ns
}

func (c *child) established() bool {
	ns := c.neighbors()
	return len(ns) == 1 && ns[0].State == StateEstablished
}

// TestSpeakerChild is the Speaker side of TestBirdInterop; it does nothing
// unless started by it.
func TestSpeakerChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper process for TestBirdInterop")
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	send := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, childTag+format+"\n", args...)
		out.Flush()
	}
	ctx := context.Background()
	s, err := New(Config{ASN: 45104, RouterID: netip.MustParseAddr(cloudAddr), Logger: testLogger(t)})
	if err != nil {
		send("error %v", err)
		return
	}
	// What the daemon does with learned routes: GoBGP programs no kernel
	// routes, so they go through package route (proto 0xB5).
	rec, err := route.New(route.Config{Netlink: route.NewKernel(nil), Logger: testLogger(t)})
	if err != nil {
		send("error %v", err)
		return
	}
	kernel := map[netip.Prefix]route.Route{}
	s.OnRoutes(func(ls []Learned) {
		for _, l := range ls {
			if l.Withdrawn {
				delete(kernel, l.Prefix)
			} else {
				kernel[l.Prefix] = route.Route{Dst: l.Prefix, Via: l.NextHop}
			}
		}
		if err := rec.Set("bgp", slices.Collect(maps.Values(kernel))); err != nil {
			send("error route: %v", err)
		}
		js, _ := json.Marshal(ls)
		send("routes %s", js)
	})
	defer rec.Flush()
	if err := s.Start(ctx); err != nil {
		send("error %v", err)
		return
	}
	defer s.Close()
	err = s.AddNeighbor(ctx, Neighbor{Address: netip.MustParseAddr(onpremAddr), PeerASN: 65001, LocalAddress: netip.MustParseAddr(cloudAddr)})
	if err == nil {
		err = s.Announce(ctx, netip.MustParsePrefix(cloudLAN), netip.MustParseAddr(cloudAddr))
	}
	if err != nil {
		send("error %v", err)
		return
	}
	send("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "quit":
			return
		case len(f) == 1 && f[0] == "neighbors":
			js, _ := json.Marshal(s.Neighbors())
			send("neighbors %s", js)
		case len(f) == 2 && (f[0] == "announce" || f[0] == "withdraw"):
			p := netip.MustParsePrefix(f[1])
			if f[0] == "announce" {
				err = s.Announce(ctx, p, netip.MustParseAddr(cloudAddr))
			} else {
				err = s.Withdraw(ctx, p)
			}
			if err != nil {
				send("error %v", err)
			} else {
				send("ok")
			}
		default:
			send("error unknown command %q", sc.Text())
		}
	}
}

// TestBirdInterop: session with BIRD 2, routes both ways, withdrawals both
// ways, and a dead path (BGP packets dropped) noticed within the hold time.
func TestBirdInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root, network namespaces and BIRD; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	setupBGPNamespaces(t)
	b := startBird(t)
	t0 := time.Now()
	c := startChild(t)

	waitFor(t, "session established on both sides", 30*time.Second, func() bool { return b.established() && c.established() })
	t.Logf("established %v after BIRD and the Speaker started", time.Since(t0))
	waitFor(t, "BIRD learns "+cloudLAN, 10*time.Second, func() bool { return b.hasRoute(cloudLAN) })
	learned := Learned{Prefix: netip.MustParsePrefix(onpremLAN), NextHop: netip.MustParseAddr(onpremAddr), Neighbor: netip.MustParseAddr(onpremAddr)}
	waitFor(t, "OnRoutes reports "+onpremLAN, 10*time.Second, func() bool { return c.routes.has(learned) })
	waitFor(t, "kernel route for "+onpremLAN, 5*time.Second, func() bool { return kernelRoute(t) == onpremLAN+" via "+onpremAddr+" dev v1 proto 181" })
	if ns := c.neighbors(); ns[0].Received != 1 || ns[0].Accepted != 1 || ns[0].PeerASN != 65001 {
		t.Fatalf("neighbors %+v", ns)
	}

	// Our withdrawal reaches BIRD.
	if r := c.do("withdraw " + cloudLAN); r != "ok" {
		t.Fatalf("withdraw: %s", r)
	}
	d := waitFor(t, "BIRD drops "+cloudLAN, 10*time.Second, func() bool { return !b.hasRoute(cloudLAN) })
	t.Logf("BIRD dropped our withdrawn prefix after %v", d)

	// BIRD's withdrawal reaches OnRoutes.
	b.c("disable", "onprem")
	gone := learned
	gone.Withdrawn = true
	d = waitFor(t, "OnRoutes reports the withdrawal", 10*time.Second, func() bool { return c.routes.has(gone) })
	t.Logf("OnRoutes reported BIRD's withdrawal after %v", d)
	waitFor(t, "kernel route removed", 5*time.Second, func() bool { return kernelRoute(t) == "" })
	b.c("enable", "onprem")
	if r := c.do("announce " + cloudLAN); r != "ok" {
		t.Fatalf("announce: %s", r)
	}
	waitFor(t, "routes back", 10*time.Second, func() bool { return b.hasRoute(cloudLAN) && len(c.routes.all) >= 3 })

	// A dead path: drop BGP silently in BIRD's namespace (no RST, no
	// NOTIFICATION), as a tunnel that dies does. Hold time 9 s.
	nft := exec.Command("ip", "netns", "exec", nsBird, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet igrt_cut {
	chain i { type filter hook input priority 0; tcp sport 179 drop; tcp dport 179 drop; }
	chain o { type filter hook output priority 0; tcp sport 179 drop; tcp dport 179 drop; }
}`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	before := len(c.routes.all)
	t1 := time.Now()
	d = waitFor(t, "session down and route withdrawn", 20*time.Second, func() bool {
		c.routes.mu.Lock()
		defer c.routes.mu.Unlock()
		for _, l := range c.routes.all[before:] {
			if l == gone {
				return true
			}
		}
		return false
	})
	t.Logf("dead path: learned route withdrawn after %v (hold time 9 s)", d)
	waitFor(t, "kernel route removed", 5*time.Second, func() bool { return kernelRoute(t) == "" })
	if d < 5*time.Second {
		t.Fatalf("route withdrawn after %v, before the hold timer could expire", d)
	}
	run(t, "ip", "netns", "exec", nsBird, "nft", "delete", "table", "inet", "igrt_cut")
	d = waitFor(t, "session re-established", 60*time.Second, func() bool { return b.established() && c.established() })
	waitFor(t, "route learned again", 10*time.Second, func() bool { return c.routes.has(learned) && len(c.Learned()) == 1 })
	waitFor(t, "kernel route back", 5*time.Second, func() bool { return kernelRoute(t) != "" })
	t.Logf("path restored: re-established after %v (cut→up %v)", d, time.Since(t1))
}

// kernelRoute returns the speaker namespace's main-table route for onpremLAN
// as `ip route` prints it, or "".
func kernelRoute(t *testing.T) string {
	return strings.TrimSpace(run(t, "ip", "-n", nsSpeaker, "route", "show", onpremLAN))
}

// Learned asks the child for nothing: it replays the child's OnRoutes
// stream into the current set of learned prefixes.
func (c *child) Learned() []Learned {
	c.routes.mu.Lock()
	defer c.routes.mu.Unlock()
	cur := map[netip.Prefix]Learned{}
	for _, l := range c.routes.all {
		if l.Withdrawn {
			delete(cur, l.Prefix)
		} else {
			cur[l.Prefix] = l
		}
	}
	out := make([]Learned, 0, len(cur))
	for _, l := range cur {
		out = append(out, l)
	}
	return out
}
