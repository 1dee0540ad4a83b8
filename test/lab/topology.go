package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// topology creates the namespaces, links, addresses and routes of the bed
// (shared/lab/strongswan-netns.sh "topology", in Go).
func (b *Bed) topology() error {
	for _, r := range b.roles {
		if err := host("ip", "netns", "add", b.NS(r)); err != nil {
			return err
		}
	}
	for _, r := range b.roles {
		if err := b.must(r,
			[]string{"ip", "link", "set", "lo", "up"},
			[]string{"sysctl", "-qw",
				"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
				"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
		); err != nil {
			return err
		}
	}
	if err := b.veth(Client, "eth0", GwA, "lan"); err != nil {
		return err
	}
	if err := b.veth(GwB, "lan", Server, "eth0"); err != nil {
		return err
	}
	if b.opt.NAT {
		if err := b.veth(GwA, "wan", NATBox, "in"); err != nil {
			return err
		}
		if err := b.veth(NATBox, "out", GwB, "wan"); err != nil {
			return err
		}
	} else if err := b.veth(GwA, "wan", GwB, "wan"); err != nil {
		return err
	}
	steps := []struct {
		role string
		cmds [][]string
	}{
		{Client, [][]string{
			{"ip", "addr", "add", ClientIP + "/24", "dev", "eth0"},
			{"ip", "link", "set", "eth0", "up"},
			{"ip", "route", "add", ServerNet, "via", GwALanIP},
		}},
		{Server, [][]string{
			{"ip", "addr", "add", ServerIP + "/24", "dev", "eth0"},
			{"ip", "link", "set", "eth0", "up"},
			{"ip", "route", "add", ClientNet, "via", GwBLanIP},
		}},
		{GwA, [][]string{
			{"ip", "addr", "add", GwALanIP + "/24", "dev", "lan"},
			{"ip", "link", "set", "lan", "up"},
			{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		}},
		{GwB, [][]string{
			{"ip", "addr", "add", GwBLanIP + "/24", "dev", "lan"},
			{"ip", "link", "set", "lan", "up"},
			{"ip", "addr", "add", GwBWanIP + "/24", "dev", "wan"},
			{"ip", "link", "set", "wan", "up"},
			{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		}},
	}
	if b.opt.NAT {
		steps = append(steps,
			struct {
				role string
				cmds [][]string
			}{GwA, [][]string{
				{"ip", "addr", "add", GwAWanNATIP + "/24", "dev", "wan"},
				{"ip", "link", "set", "wan", "up"},
				{"ip", "route", "add", WanNet, "via", NATInIP},
			}},
			struct {
				role string
				cmds [][]string
			}{NATBox, [][]string{
				{"ip", "addr", "add", NATInIP + "/24", "dev", "in"},
				{"ip", "addr", "add", NATOutIP + "/24", "dev", "out"},
				{"ip", "link", "set", "in", "up"},
				{"ip", "link", "set", "out", "up"},
				{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
			}})
	} else {
		steps = append(steps, struct {
			role string
			cmds [][]string
		}{GwA, [][]string{
			{"ip", "addr", "add", GwAWanIP + "/24", "dev", "wan"},
			{"ip", "link", "set", "wan", "up"},
		}})
	}
	for _, s := range steps {
		if err := b.must(s.role, s.cmds...); err != nil {
			return err
		}
	}
	if b.opt.NAT {
		opts := ""
		if b.opt.NATRandom {
			opts = " random"
		}
		rules := "table ip nat {\n" +
			"  chain postrouting {\n" +
			"    type nat hook postrouting priority srcnat; policy accept;\n" +
			"    oifname \"out\" masquerade" + opts + "\n" +
			"  }\n}\n"
		if err := b.nft(NATBox, rules); err != nil {
			return err
		}
	}
	return nil
}

// veth links ns1:if1 with ns2:if2; the ends are created directly inside the
// namespaces, so names never clash between beds.
func (b *Bed) veth(ns1, if1, ns2, if2 string) error {
	return host("ip", "link", "add", if1, "netns", b.NS(ns1), "type", "veth",
		"peer", "name", if2, "netns", b.NS(ns2))
}

// nft loads an nftables ruleset (from stdin) in role's namespace.
func (b *Bed) nft(role, rules string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	_, err := runCmd(ctx, []byte(rules), "ip", "netns", "exec", b.NS(role), "nft", "-f", "-")
	return err
}

// cleanup removes everything the bed made. It runs from t.Cleanup, which
// the testing package also runs when the test panics.
func (b *Bed) cleanup() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	charons := make([]*Charon, 0, len(b.charons))
	for _, c := range b.charons {
		charons = append(charons, c)
	}
	procs := append([]*Proc(nil), b.procs...)
	b.mu.Unlock()

	// A panicking test is not marked failed yet when cleanups run, and the
	// testing package drops what t.Logf writes then: dump to stderr.
	panicked := panicking()
	if b.t.Failed() || panicked {
		logf := b.t.Logf
		if panicked {
			logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
		}
		for _, c := range charons {
			logf("lab: %s: %s charon log (tail):\n%s", b.id, c.role, tail(c.Log(), 60))
		}
		for _, p := range procs {
			if !strings.HasPrefix(p.name, "charon") {
				logf("lab: %s: %s %s log (tail):\n%s", b.id, p.role, p.name, tail(p.Log(), 20))
			}
		}
		if b.opt.KeepOnFailure {
			b.t.Logf("lab: keeping bed %s (state %s); remove with scripts/clean-lab.sh", b.id, b.dir)
			return
		}
	}
	for _, c := range charons {
		c.closeSession()
	}
	// Graceful stop first: a charon that gets SIGTERM removes its routes
	// and its ip rule; everything else just dies.
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(3 * time.Second) })
	}
	wg.Wait()
	for _, r := range b.roles {
		killNetnsPids(b.NS(r))
		if nsExists(b.NS(r)) {
			if err := host("ip", "netns", "del", b.NS(r)); err != nil {
				b.t.Logf("lab: %v", err)
			}
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		b.t.Logf("lab: remove state: %v", err)
	}
}

// panicking reports whether the calling goroutine is unwinding a panic (the
// testing package runs cleanups from its deferred panic handler).
func panicking() bool {
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	return bytes.Contains(buf, []byte("\npanic(")) || bytes.Contains(buf, []byte("\nruntime.gopanic("))
}

// killNetnsPids SIGKILLs every process still living in namespace ns (the
// ones the bed did not start itself, e.g. spawned by a test's own code).
func killNetnsPids(ns string) {
	if !nsExists(ns) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		out, _ := runCmd(ctx, nil, "ip", "netns", "pids", ns)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownerStamp identifies a live process: pid plus its start time, so a
// recycled pid does not look like the owner.
func ownerStamp(pid int) string {
	return fmt.Sprintf("%d %s", pid, procStart(pid))
}

func procStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22: starttime
}

// reapOrphans removes beds whose owning test process is gone (SIGKILLed or
// timed out), so a crashed run does not leave namespaces forever.
func reapOrphans(t testing.TB) {
	dirs, _ := filepath.Glob(filepath.Join(StateRoot, "ig*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue // being created right now, or not ours
		}
		f := strings.Fields(string(data))
		if len(f) != 2 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		if pid > 0 && ownerStamp(pid) == string(data) {
			continue // owner alive
		}
		id := filepath.Base(d)
		for _, r := range []string{Client, GwA, GwB, Server, NATBox} {
			ns := id + "-" + r
			killNetnsPids(ns)
			if nsExists(ns) {
				_ = host("ip", "netns", "del", ns)
			}
		}
		_ = os.RemoveAll(d)
		t.Logf("lab: removed orphaned bed %s (owner pid %d gone)", id, pid)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
