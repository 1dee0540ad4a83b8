// Package e2e is the end-to-end throughput benchmark behind `make bench`:
// iperf3 TCP client→server across the four namespaces of test/lab
// (client — gwA — gwB — server) through ipsecgwd↔ipsecgwd (with the
// daemon's defaults: ESP in UDP 4500; and with raw ESP for comparison),
// ipsecgwd↔strongSwan, strongSwan↔strongSwan (kernel-libipsec),
// wireguard-go↔wireguard-go and plain routing, for the default aes/sha1
// suite and for AES-GCM, with 1 and 4 streams. It prints one table with
// the medians, the ratios to strongSwan↔strongSwan and to wireguard-go and
// each gateway process's CPU use, then the two targets as
// PASS/MISS lines, and writes the same text to bench/results/latest.txt.
//
// It runs only with IPSECGW_BENCH=1 (scripts/bench.sh sets it), as root.
// Knobs: BENCH_DUR (seconds per run, default 5), BENCH_REPS (runs per
// cell, default 3), BENCH_QUIET_PCT/BENCH_QUIET_MAX/BENCH_QUIET_BUDGET
// (wait before each run until the host is below that busy %, at most that
// long per run and in total; defaults 20, 20s, 180s), BENCH_OUT (the
// results file), BENCH_PATHS (only the rows whose "path suite" label
// contains one of these comma-separated strings), IPSECGW_BIN_DIR and
// WIREGUARD_GO (prebuilt binaries).
//
// All beds are built first and the runs are interleaved (repetition 1 of
// every cell, then repetition 2, ...), so a burst of load from elsewhere on
// a shared host spreads over the paths instead of sinking one of them.
package e2e

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// streamCounts are the iperf3 -P values of every path.
var streamCounts = []int{1, 4}

// paths lists the table's rows in order.
func paths() []*path {
	var ps []*path
	for _, k := range []pathKind{kindGwdGwd, kindGwdRaw, kindGwdSwan, kindSwanSwan} {
		for _, s := range []*suite{&suiteCBC, &suiteGCM} {
			ps = append(ps, &path{kind: k, suite: s})
		}
	}
	return append(ps, &path{kind: kindWireGuard}, &path{kind: kindPlain})
}

// selectPaths keeps the paths whose "kind suite" label contains one of the
// comma-separated substrings of filter (all when filter is empty): for
// looking at one path, e.g. under perf, without the whole run.
func selectPaths(ps []*path, filter string) []*path {
	if filter == "" {
		return ps
	}
	var out []*path
	for _, p := range ps {
		label := p.kind.String() + " " + p.suiteName()
		for _, f := range strings.Split(filter, ",") {
			if f != "" && strings.Contains(label, f) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// TestBench builds every path's bed, measures the cells interleaved, and
// prints and writes the table (see the package comment).
func TestBench(t *testing.T) {
	if os.Getenv("IPSECGW_BENCH") != "1" {
		t.Skip("end-to-end benchmark: set IPSECGW_BENCH=1 (make bench)")
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end benchmark needs root (network namespaces)")
	}
	dur, err := envDuration("BENCH_DUR", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dur = max(dur.Round(time.Second), time.Second) // iperf3 -t takes whole seconds
	reps, err := envInt("BENCH_REPS", 3)
	if err != nil {
		t.Fatal(err)
	}
	q := &quiet{pct: 20, maxWait: 20 * time.Second, budget: 180 * time.Second}
	if v, err := envInt("BENCH_QUIET_PCT", 20); err == nil {
		q.pct = float64(v)
	}
	if q.maxWait, err = envDuration("BENCH_QUIET_MAX", q.maxWait); err != nil {
		t.Fatal(err)
	}
	if q.budget, err = envDuration("BENCH_QUIET_BUDGET", q.budget); err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = filepath.Join("..", "results", "latest.txt")
	}
	binaries(t)

	ps := selectPaths(paths(), os.Getenv("BENCH_PATHS"))
	for _, p := range ps {
		start := time.Now()
		p.setup(t)
		if p.err != nil {
			t.Errorf("%s %s: setup: %v", p.kind, p.suiteName(), p.err)
			continue
		}
		t.Logf("%s %s: up in %v (%s)", p.kind, p.suiteName(), time.Since(start).Round(100*time.Millisecond), p.note)
	}
	var cells []*cell
	for _, p := range ps {
		for _, n := range streamCounts {
			cells = append(cells, &cell{p: p, streams: n})
		}
	}
	for rep := 1; rep <= reps; rep++ {
		for _, c := range cells {
			if c.p.err != nil {
				continue
			}
			busy := q.wait()
			s, err := measure(c.p, dur, c.streams, busy)
			if err != nil {
				c.errs = append(c.errs, err)
				t.Errorf("%s %s P=%d run %d: %v", c.p.kind, c.p.suiteName(), c.streams, rep, err)
				continue
			}
			c.samples = append(c.samples, s)
			t.Logf("run %d/%d %-26s %-11s P=%d %6.2f Gbit/s  retr %-5d gwA %4s%% gwB %4s%%  host busy before %3s%%",
				rep, reps, c.p.kind, c.p.suiteName(), c.streams, s.gbps, s.retransmits, pct(s.cpuA), pct(s.cpuB), pct(s.preBusy))
		}
	}
	for _, c := range cells {
		c.summarize()
	}
	text := report(cells, dur, reps)
	fmt.Print("\n" + text)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Errorf("results: %v", err)
	} else if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		t.Errorf("results: %v", err)
	} else if abs, err := filepath.Abs(out); err == nil {
		t.Logf("table written to %s", abs)
	}
}

// report renders the table, the notes and the target lines.
func report(cells []*cell, dur time.Duration, reps int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "ipsecgw end-to-end throughput: iperf3 TCP client→server over client—gwA—gwB—server namespaces\n")
	fmt.Fprintf(&sb, "median of %d run(s) × %v per cell; %s; %d CPUs (%s); kernel %s; commit %s\n",
		reps, dur, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), kernel(), commit())
	fmt.Fprintf(&sb, "CPU%% = CPU time of the gateway process (ipsecgwd daemon, charon, wireguard-go) / wall time; 100%% = one core\n\n")

	find := func(k pathKind, s *suite, n int) *cell {
		for _, c := range cells {
			if c.p.kind == k && c.p.suite == s && c.streams == n {
				return c
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "path\tsuite\tstreams\t Gbit/s\t×strongSwan\t×wireguard-go\tgwA CPU%\tgwB CPU%\tbusy before%")
	for _, c := range cells {
		gb, vsSwan, vsWG := "  error", "-", "-"
		if len(c.samples) > 0 {
			gb = fmt.Sprintf("%7.2f", c.gbps)
			if c.p.suite != nil {
				vsSwan = ratio(c.gbps, find(kindSwanSwan, c.p.suite, c.streams))
			}
			vsWG = ratio(c.gbps, find(kindWireGuard, nil, c.streams))
		}
		fmt.Fprintf(tw, "%s\t%s\t%7d\t%s\t%11s\t%13s\t%8s\t%8s\t%12s\n", c.p.kind, c.p.suiteName(), c.streams,
			gb, vsSwan, vsWG, pct(c.cpuA), pct(c.cpuB), pct(c.preBusy))
	}
	tw.Flush()

	sb.WriteString("\nnotes:\n")
	seen := map[*path]bool{}
	for _, c := range cells {
		p := c.p
		if seen[p] {
			continue
		}
		seen[p] = true
		switch {
		case p.err != nil:
			fmt.Fprintf(&sb, "  %s %s: setup failed: %s\n", p.kind, p.suiteName(), firstLine(p.err.Error()))
		case p.note != "":
			fmt.Fprintf(&sb, "  %s %s: %s\n", p.kind, p.suiteName(), p.note)
		}
		for _, c2 := range cells {
			if c2.p == p && len(c2.errs) > 0 {
				fmt.Fprintf(&sb, "  %s %s P=%d: %d failed run(s): %s\n", p.kind, p.suiteName(), c2.streams,
					len(c2.errs), firstLine(c2.errs[0].Error()))
			}
		}
	}
	sb.WriteString("  ipsecgwd↔ipsecgwd runs with the daemon defaults: ESP in UDP 4500 (esp_encapsulation: udp), no NAT;\n" +
		"  the raw ESP rows set esp_encapsulation: auto (IP protocol 50: no UDP GSO/GRO).\n")

	sb.WriteString("\ntargets (ipsecgwd↔ipsecgwd with the product's defaults):\n")
	for _, n := range streamCounts {
		sb.WriteString(target(fmt.Sprintf("ipsecgwd↔ipsecgwd aes/sha1 ≥ 3× strongSwan↔strongSwan, %d stream(s)", n),
			find(kindGwdGwd, &suiteCBC, n), find(kindSwanSwan, &suiteCBC, n), 3))
	}
	for _, n := range streamCounts {
		sb.WriteString(target(fmt.Sprintf("ipsecgwd↔ipsecgwd aes128gcm16 ≥ wireguard-go, %d stream(s)", n),
			find(kindGwdGwd, &suiteGCM, n), find(kindWireGuard, nil, n), 1))
	}
	return sb.String()
}

// target renders one PASS/MISS line: ours ≥ factor × ref.
func target(what string, ours, ref *cell, factor float64) string {
	if ours == nil || ref == nil || len(ours.samples) == 0 || len(ref.samples) == 0 || ref.gbps <= 0 {
		return fmt.Sprintf("  n/a   %s: no figures\n", what)
	}
	verdict := "MISS"
	if ours.gbps >= factor*ref.gbps {
		verdict = "PASS"
	}
	return fmt.Sprintf("  %s  %s: %.2f vs %.2f Gbit/s = %.2f×\n", verdict, what, ours.gbps, ref.gbps, ours.gbps/ref.gbps)
}

func ratio(v float64, ref *cell) string {
	if ref == nil || len(ref.samples) == 0 || ref.gbps <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/ref.gbps)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(data))
}

func commit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
