package healthcheck

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The real test mirrors the lab's health check through a tunnel:
//
//	igrt-h1 (cloud)                              igrt-h2 (on-premises)
//	lo 10.2.0.1/32 = Source                      lo 10.1.0.10/32 = Destination
//	v1 10.88.0.1/30 <---------- veth ----------> v2 10.88.0.2/30
//	10.1.0.0/24 via 10.88.0.2                    10.2.0.1/32 via 10.88.0.1 (the /32 route SPEC §1 asks for)
const (
	nsProber = "igrt-h1"
	nsTarget = "igrt-h2"
)

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func setupHealthNamespaces(t *testing.T) {
	t.Helper()
	for _, ns := range []string{nsProber, nsTarget} {
		exec.Command("ip", "netns", "del", ns).Run() // leftover of a crashed run
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
		// No duplicate address detection on the veth (its link-local
		// address would stay tentative ~1 s and stall IPv6 neighbour
		// discovery).
		sh(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")
	}
	sh(t, "ip", "link", "add", "v1", "netns", nsProber, "type", "veth", "peer", "name", "v2", "netns", nsTarget)
	for _, c := range [][]string{
		{nsProber, "addr", "add", "10.88.0.1/30", "dev", "v1"},
		{nsProber, "addr", "add", "10.2.0.1/32", "dev", "lo"},
		{nsProber, "link", "set", "v1", "up"},
		{nsProber, "route", "add", "10.1.0.0/24", "via", "10.88.0.2"},
		{nsTarget, "addr", "add", "10.88.0.2/30", "dev", "v2"},
		{nsTarget, "addr", "add", "10.1.0.10/32", "dev", "lo"},
		{nsTarget, "link", "set", "v2", "up"},
		{nsTarget, "route", "add", "10.2.0.1/32", "via", "10.88.0.1"},
		{nsProber, "addr", "add", "fd88::1/64", "dev", "v1", "nodad"},
		{nsProber, "addr", "add", "fd02::1/128", "dev", "lo"},
		{nsProber, "route", "add", "fd01::/64", "via", "fd88::2"},
		{nsTarget, "addr", "add", "fd88::2/64", "dev", "v2", "nodad"},
		{nsTarget, "addr", "add", "fd01::10/128", "dev", "lo"},
		{nsTarget, "route", "add", "fd02::1/128", "via", "fd88::1"},
	} {
		sh(t, append([]string{"ip", "-n", c[0]}, c[1:]...)...)
	}
}

// runInNamespace runs c.Run on a goroutine locked to an OS thread that
// entered ns; Run opens its sockets on that goroutine, so they live in ns.
// The thread is never unlocked, so the runtime discards it afterwards.
func runInNamespace(t *testing.T, ns string, c *Checker) {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer h.Close()
		runtime.LockOSThread()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		done <- c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestICMPInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	setupHealthNamespaces(t)
	const (
		interval = 200 * time.Millisecond
		retries  = 3
	)
	changes := make(chan bool, 16)
	c, err := New(Config{
		Destination: netip.MustParseAddr("10.1.0.10"),
		Source:      netip.MustParseAddr("10.2.0.1"),
		Interval:    interval,
		Retries:     retries,
		Logger:      quietLogger(),
	}, func(up bool) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	runInNamespace(t, nsProber, c)

	d := expectChange(t, changes, true, 2*time.Second)
	t.Logf("up after %v", d)
	expectNoChange(t, changes, 3*interval)
	if s := c.Stats(); s.LastRTT <= 0 || s.LastRTT > 100*time.Millisecond || s.Lost != 0 {
		t.Fatalf("stats while up: %+v", s)
	}

	// Drop echo requests from the probe source on the target. The rule
	// matching proves the probes leave from Source, not from 10.88.0.1.
	cut := time.Now()
	nft := exec.Command("ip", "netns", "exec", nsTarget, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet igrt_hc {
	chain in { type filter hook input priority 0; ip saddr 10.2.0.1 icmp type echo-request counter drop; }
}`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	expectChange(t, changes, false, time.Duration(retries+3)*interval)
	// Measured from before nft ran: loading the rule can take a while on
	// a busy machine.
	d = time.Since(cut)
	t.Logf("down %v after the cut (retries %d × interval %v = %v)", d, retries, interval, retries*interval)
	if d < time.Duration(retries-1)*interval {
		t.Fatalf("down after %v: too early for %d retries", d, retries)
	}
	out, _ := exec.Command("ip", "netns", "exec", nsTarget, "nft", "list", "table", "inet", "igrt_hc").CombinedOutput()
	if strings.Contains(string(out), "packets 0 ") {
		t.Fatalf("drop rule never matched: probes did not come from 10.2.0.1\n%s", out)
	}

	sh(t, "ip", "netns", "exec", nsTarget, "nft", "delete", "table", "inet", "igrt_hc")
	d = expectChange(t, changes, true, 3*interval)
	t.Logf("up %v after the restore", d)
	s := c.Stats()
	t.Logf("stats: %+v", s)
	if s.State != StateUp || s.Lost < retries || s.Received == 0 || s.ConsecutiveFailures != 0 {
		t.Fatalf("final stats %+v", s)
	}
}

func TestICMPDatagramSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	setupHealthNamespaces(t)
	// The fallback without CAP_NET_RAW: a "ping" socket, allowed for
	// every group in this namespace only.
	sh(t, "ip", "netns", "exec", nsProber, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647")
	changes := make(chan bool, 16)
	c, err := New(Config{
		Destination: netip.MustParseAddr("10.1.0.10"),
		Source:      netip.MustParseAddr("10.2.0.1"),
		Interval:    100 * time.Millisecond,
		Logger:      quietLogger(),
		Dial: func(src, dst netip.Addr, id uint16) (Conn, error) {
			conn, err := dialICMP(src, dst, id, true)
			if err == nil && conn.(*icmpConn).dst.Network() != "udp" {
				t.Errorf("dialICMP(dgram) opened a %s socket", conn.(*icmpConn).dst.Network())
			}
			return conn, err
		},
	}, func(up bool) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	runInNamespace(t, nsProber, c)
	expectChange(t, changes, true, 2*time.Second)
	sh(t, "ip", "-n", nsTarget, "link", "set", "v2", "down")
	expectChange(t, changes, false, 2*time.Second)
	sh(t, "ip", "-n", nsTarget, "link", "set", "v2", "up")
	sh(t, "ip", "-n", nsTarget, "route", "replace", "10.2.0.1/32", "via", "10.88.0.1")
	expectChange(t, changes, true, 3*time.Second)
}

func TestICMPv6InNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	setupHealthNamespaces(t)
	changes := make(chan bool, 16)
	c, err := New(Config{
		Destination: netip.MustParseAddr("fd01::10"),
		Source:      netip.MustParseAddr("fd02::1"),
		Interval:    100 * time.Millisecond,
		Logger:      quietLogger(),
	}, func(up bool) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	runInNamespace(t, nsProber, c)
	expectChange(t, changes, true, 3*time.Second)
	nft := exec.Command("ip", "netns", "exec", nsTarget, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet igrt_hc6 {
	chain in { type filter hook input priority 0; ip6 saddr fd02::1 icmpv6 type echo-request drop; }
}`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	expectChange(t, changes, false, 2*time.Second)
	sh(t, "ip", "netns", "exec", nsTarget, "nft", "delete", "table", "inet", "igrt_hc6")
	expectChange(t, changes, true, 2*time.Second)
}

func TestICMPSourceMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run with -short to skip)")
	}
	setupHealthNamespaces(t)
	// 10.2.0.99 is not configured in igrt-h1: binding fails, probes fail,
	// the target goes down; adding the address brings it up.
	changes := make(chan bool, 16)
	c, err := New(Config{
		Destination: netip.MustParseAddr("10.1.0.10"),
		Source:      netip.MustParseAddr("10.2.0.99"),
		Interval:    100 * time.Millisecond,
		Logger:      quietLogger(),
	}, func(up bool) { changes <- up })
	if err != nil {
		t.Fatal(err)
	}
	runInNamespace(t, nsProber, c)
	expectChange(t, changes, false, 2*time.Second)
	sh(t, "ip", "-n", nsProber, "addr", "add", "10.2.0.99/32", "dev", "lo")
	sh(t, "ip", "-n", nsTarget, "route", "add", "10.2.0.99/32", "via", "10.88.0.1")
	expectChange(t, changes, true, 2*time.Second)
}
