package e2e

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipsecgw/ipsecgw/test/lab"
)

// cpuSample is the host-wide CPU time counters of /proc/stat's "cpu" line,
// in USER_HZ ticks.
type cpuSample struct{ total, idle uint64 }

func readCPU() (cpuSample, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return cpuSample{}, errors.New("bench: unexpected /proc/stat")
	}
	var s cpuSample
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("bench: /proc/stat: %w", err)
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		s.total += n
		if i == 3 || i == 4 { // idle, iowait
			s.idle += n
		}
	}
	return s, nil
}

// busyPct is the share of all CPUs that was busy between a and b.
func busyPct(a, b cpuSample) float64 {
	dt := float64(b.total - a.total)
	if dt <= 0 {
		return 0
	}
	return 100 * (1 - float64(b.idle-a.idle)/dt)
}

// quiet waits for the machine to be quiet-ish before a run: it samples the
// host's busy share over 1 s windows until one is below pct, at most
// maxWait per call and at most the remaining budget over the whole
// benchmark (the host is shared; a run that waits forever is worse than a
// noisy figure). It returns the last sample, reported next to the figures.
type quiet struct {
	pct     float64
	maxWait time.Duration
	budget  time.Duration // left for all remaining calls
}

func (q *quiet) wait() float64 {
	start := time.Now()
	busy := 0.0
	for {
		a, err := readCPU()
		if err != nil {
			return math.NaN()
		}
		time.Sleep(time.Second)
		b, err := readCPU()
		if err != nil {
			return math.NaN()
		}
		busy = busyPct(a, b)
		waited := time.Since(start)
		if busy < q.pct || waited >= q.maxWait || waited >= q.budget {
			q.budget -= waited - time.Second // the first second is the sample every run pays
			if q.budget < 0 {
				q.budget = 0
			}
			return busy
		}
	}
}

// sample is one iperf3 run through a path.
type sample struct {
	gbps        float64
	cpuA, cpuB  float64 // % of one CPU, NaN where there is no process
	preBusy     float64 // host busy % in the second before the run
	retransmits int
}

// measure runs one iperf3 TCP test client→server through p and reads the
// gateway processes' CPU time around it.
func measure(p *path, dur time.Duration, streams int, preBusy float64) (sample, error) {
	s := sample{cpuA: math.NaN(), cpuB: math.NaN(), preBusy: preBusy}
	a0, b0 := cpuOf(p.cpuA), cpuOf(p.cpuB)
	start := time.Now()
	r, err := p.bed.Iperf(lab.Client, lab.ServerIP, dur, streams)
	wall := time.Since(start)
	if err != nil {
		return s, err
	}
	a1, b1 := cpuOf(p.cpuA), cpuOf(p.cpuB)
	s.gbps = r.BitsPerSecond / 1e9
	s.retransmits = r.Retransmits
	s.cpuA = 100 * float64(a1-a0) / float64(wall)
	s.cpuB = 100 * float64(b1-b0) / float64(wall)
	if p.cpuA == nil {
		s.cpuA = math.NaN()
	}
	if p.cpuB == nil {
		s.cpuB = math.NaN()
	}
	return s, nil
}

func cpuOf(f func() (time.Duration, error)) time.Duration {
	if f == nil {
		return 0
	}
	d, err := f()
	if err != nil {
		return 0
	}
	return d
}

// median of the non-NaN values; NaN when there are none.
func median(vs []float64) float64 {
	xs := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// cell is the table's summary of one (path, streams): medians over the
// repetitions.
type cell struct {
	p          *path
	streams    int
	samples    []sample
	errs       []error
	gbps       float64
	cpuA, cpuB float64
	preBusy    float64
}

func (c *cell) summarize() {
	pick := func(f func(sample) float64) float64 {
		vs := make([]float64, len(c.samples))
		for i, s := range c.samples {
			vs[i] = f(s)
		}
		return median(vs)
	}
	c.gbps = pick(func(s sample) float64 { return s.gbps })
	c.cpuA = pick(func(s sample) float64 { return s.cpuA })
	c.cpuB = pick(func(s sample) float64 { return s.cpuB })
	c.preBusy = pick(func(s sample) float64 { return s.preBusy })
}

// envDuration reads a duration knob: "5s", or a plain number of seconds.
func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	return d, nil
}

// envInt reads an integer knob.
func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", key, v)
	}
	return n, nil
}
