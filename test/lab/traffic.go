package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// IperfPort is the port of the iperf3 servers the bed starts.
const IperfPort = "5201"

// roleOf maps a bed address to the role that owns it.
func (b *Bed) roleOf(ip string) (string, error) {
	switch ip {
	case ClientIP:
		return Client, nil
	case ServerIP:
		return Server, nil
	case GwALanIP, GwAWanNATIP:
		return GwA, nil
	case GwBLanIP, GwBWanIP:
		return GwB, nil
	case GwAWanIP:
		if b.opt.NAT {
			return NATBox, nil
		}
		return GwA, nil
	case NATInIP:
		return NATBox, nil
	}
	return "", fmt.Errorf("lab: %s is not an address of the bed", ip)
}

// Ping sends count ICMP echo requests from role's namespace to the address
// to (0.2 s apart, 2 s wait each) and fails unless every one is answered.
func (b *Bed) Ping(from, to string, count int) error {
	if count <= 0 {
		count = 1
	}
	out, err := b.ExecTimeout(from, time.Duration(count)*time.Second+10*time.Second,
		"ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2", to)
	if err != nil {
		return fmt.Errorf("lab: ping %s -> %s: %w", from, to, err)
	}
	if !strings.Contains(out, fmt.Sprintf("%d received", count)) {
		return fmt.Errorf("lab: ping %s -> %s: lost replies: %s", from, to, strings.TrimSpace(out))
	}
	return nil
}

// PingOnce sends one echo request with a 1 s wait: for polling loops.
func (b *Bed) PingOnce(from, to string) bool {
	_, err := b.ExecTimeout(from, 5*time.Second, "ping", "-n", "-q", "-c", "1", "-W", "1", to)
	return err == nil
}

// WaitPing polls with single pings until one is answered or timeout passes.
func (b *Bed) WaitPing(from, to string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !b.PingOnce(from, to) {
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: no ping reply %s -> %s within %v", from, to, timeout)
		}
	}
	return nil
}

// Result is an iperf3 (TCP) measurement.
type Result struct {
	BitsPerSecond        float64 // received by the server
	SentBitsPerSecond    float64 // sent by the client
	Retransmits          int
	Bytes                uint64 // received
	Seconds              float64
	SenderCPU, ServerCPU float64 // host total CPU percent at each end

	// UDP only (IperfUDP).
	LostPercent float64
	JitterMs    float64
	Packets     int
}

// String renders the result in Mbit/s.
func (r Result) String() string {
	return fmt.Sprintf("%.1f Mbit/s (%d retransmits, %.1fs)", r.BitsPerSecond/1e6, r.Retransmits, r.Seconds)
}

// Iperf runs an iperf3 TCP test from client's namespace to serverIP for dur
// with streams parallel streams. The iperf3 server in the namespace owning
// serverIP is started on first use and kept until cleanup.
func (b *Bed) Iperf(client, serverIP string, dur time.Duration, streams int) (Result, error) {
	srole, err := b.roleOf(serverIP)
	if err != nil {
		return Result{}, err
	}
	if err := b.iperfServer(srole); err != nil {
		return Result{}, err
	}
	if streams <= 0 {
		streams = 1
	}
	secs := int(dur / time.Second)
	if secs < 1 {
		secs = 1
	}
	out, err := b.ExecTimeout(client, time.Duration(secs)*time.Second+30*time.Second,
		"iperf3", "-c", serverIP, "-p", IperfPort, "-t", fmt.Sprint(secs), "-P", fmt.Sprint(streams),
		"-J", "--connect-timeout", "5000")
	var j struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
				Retransmits   int     `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Seconds       float64 `json:"seconds"`
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			CPU struct {
				HostTotal   float64 `json:"host_total"`
				RemoteTotal float64 `json:"remote_total"`
			} `json:"cpu_utilization_percent"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal(jsonPart(out), &j); jerr != nil {
		if err != nil {
			return Result{}, fmt.Errorf("lab: iperf3: %w", err)
		}
		return Result{}, fmt.Errorf("lab: iperf3 output: %w", jerr)
	}
	if j.Error != "" {
		return Result{}, fmt.Errorf("lab: iperf3 %s -> %s: %s", client, serverIP, j.Error)
	}
	if err != nil {
		return Result{}, fmt.Errorf("lab: iperf3: %w", err)
	}
	e := j.End
	return Result{
		BitsPerSecond:     e.SumReceived.BitsPerSecond,
		SentBitsPerSecond: e.SumSent.BitsPerSecond,
		Retransmits:       e.SumSent.Retransmits,
		Bytes:             e.SumReceived.Bytes,
		Seconds:           e.SumReceived.Seconds,
		SenderCPU:         e.CPU.HostTotal,
		ServerCPU:         e.CPU.RemoteTotal,
	}, nil
}

// IperfUDP runs an iperf3 UDP test at rate bits/s with len-byte datagrams
// (1400 when 0: the size the lab's anchors use) and reports throughput,
// loss and jitter as the server saw them.
func (b *Bed) IperfUDP(client, serverIP string, dur time.Duration, rate int64, length int) (Result, error) {
	srole, err := b.roleOf(serverIP)
	if err != nil {
		return Result{}, err
	}
	if err := b.iperfServer(srole); err != nil {
		return Result{}, err
	}
	if length <= 0 {
		length = 1400
	}
	secs := max(int(dur/time.Second), 1)
	out, err := b.ExecTimeout(client, time.Duration(secs)*time.Second+30*time.Second,
		"iperf3", "-c", serverIP, "-p", IperfPort, "-u", "-b", fmt.Sprint(rate), "-l", fmt.Sprint(length),
		"-t", fmt.Sprint(secs), "-J", "--connect-timeout", "5000")
	var j struct {
		Error string `json:"error"`
		End   struct {
			Sum struct {
				Seconds       float64 `json:"seconds"`
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
				JitterMs      float64 `json:"jitter_ms"`
				LostPercent   float64 `json:"lost_percent"`
				Packets       int     `json:"packets"`
			} `json:"sum"`
			SumReceived *struct {
				Seconds       float64 `json:"seconds"`
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal(jsonPart(out), &j); jerr != nil {
		if err != nil {
			return Result{}, fmt.Errorf("lab: iperf3 -u: %w", err)
		}
		return Result{}, fmt.Errorf("lab: iperf3 -u output: %w", jerr)
	}
	if j.Error != "" {
		return Result{}, fmt.Errorf("lab: iperf3 -u %s -> %s: %s", client, serverIP, j.Error)
	}
	if err != nil {
		return Result{}, fmt.Errorf("lab: iperf3 -u: %w", err)
	}
	s := j.End.Sum
	r := Result{
		BitsPerSecond: s.BitsPerSecond * (1 - s.LostPercent/100), SentBitsPerSecond: s.BitsPerSecond,
		Bytes: s.Bytes, Seconds: s.Seconds, LostPercent: s.LostPercent, JitterMs: s.JitterMs, Packets: s.Packets,
	}
	if sr := j.End.SumReceived; sr != nil && sr.BitsPerSecond > 0 {
		r.BitsPerSecond, r.Bytes = sr.BitsPerSecond, sr.Bytes
	}
	return r, nil
}

// jsonPart cuts iperf3's warnings (on stderr, merged by Exec) off its -J
// output.
func jsonPart(out string) []byte {
	if i := strings.Index(out, "{\n"); i >= 0 {
		out = out[i:]
	}
	return []byte(out)
}

// iperfServer starts "iperf3 -s" in role once and waits until it listens.
func (b *Bed) iperfServer(role string) error {
	b.mu.Lock()
	p := b.iperfs[role]
	b.mu.Unlock()
	if p != nil && !p.Exited() {
		return nil
	}
	p, err := b.StartEnv(role, "iperf3-"+role, nil, "iperf3", "-s", "-p", IperfPort)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.iperfs[role] = p
	b.mu.Unlock()
	for range 100 {
		out, _ := b.Exec(role, "ss", "-ltnH", "sport = :"+IperfPort)
		if strings.TrimSpace(out) != "" {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("lab: iperf3 server in %s exited: %s", role, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("lab: iperf3 server in %s does not listen", role)
}

// dropTable is the nftables table DropBetweenGateways adds in gwA.
const dropTable = "iglab_drop"

// DropBetweenGateways drops (on) or passes again (off) IKE (UDP 500/4500,
// which also carries libipsec's ESP-in-UDP) and raw ESP on gwA's wan, both
// directions: the peer looks dead, for DPD and retransmission tests.
func (b *Bed) DropBetweenGateways(on bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on == b.dropOn {
		return nil
	}
	if on {
		rules := "table inet " + dropTable + " {\n" +
			"  chain drop_in {\n" +
			"    type filter hook input priority -10; policy accept;\n" +
			"    iifname \"wan\" udp sport { 500, 4500 } drop\n" +
			"    iifname \"wan\" udp dport { 500, 4500 } drop\n" +
			"    iifname \"wan\" meta l4proto esp drop\n" +
			"  }\n" +
			"  chain drop_out {\n" +
			"    type filter hook output priority -10; policy accept;\n" +
			"    oifname \"wan\" udp sport { 500, 4500 } drop\n" +
			"    oifname \"wan\" udp dport { 500, 4500 } drop\n" +
			"    oifname \"wan\" meta l4proto esp drop\n" +
			"  }\n" +
			"  chain drop_fwd {\n" +
			"    type filter hook forward priority -10; policy accept;\n" +
			"    iifname \"wan\" meta l4proto esp drop\n" +
			"    oifname \"wan\" meta l4proto esp drop\n" +
			"    iifname \"wan\" udp dport { 500, 4500 } drop\n" +
			"    oifname \"wan\" udp dport { 500, 4500 } drop\n" +
			"  }\n}\n"
		if err := b.nft(GwA, rules); err != nil {
			return err
		}
	} else if _, err := b.Exec(GwA, "nft", "delete", "table", "inet", dropTable); err != nil {
		return err
	}
	b.dropOn = on
	return nil
}

// Capture starts tcpdump on iface in role's namespace, writing every packet
// (--immediate-mode -U: delivered and flushed per packet, so nothing is
// lost when it is stopped) matching the optional pcap filter to
// <state>/<name>.pcap, and waits until it listens. Stop it with
// StopCapture before reading the file; the bed kills it at cleanup anyway.
func (b *Bed) Capture(role, iface, name string, filter ...string) (*Proc, string, error) {
	path := filepath.Join(b.dir, name+".pcap")
	argv := append([]string{"tcpdump", "-i", iface, "-nn", "-U", "--immediate-mode", "-s", "256", "-w", path}, filter...)
	p, err := b.StartEnv(role, "tcpdump-"+name, nil, argv...)
	if err != nil {
		return nil, "", err
	}
	for range 100 {
		if strings.Contains(p.Log(), "listening on") {
			return p, path, nil
		}
		if p.Exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	return nil, "", fmt.Errorf("lab: tcpdump on %s %s did not start: %s", role, iface, p.Log())
}

// StopCapture ends a capture cleanly (SIGINT flushes the file) and returns
// tcpdump's text rendering of it (-nn -v).
func StopCapture(p *Proc, path string) (string, error) {
	_ = p.Signal(syscall.SIGINT)
	if err := p.Wait(5 * time.Second); err != nil && !p.Exited() {
		p.Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	return runCmd(ctx, nil, "tcpdump", "-nn", "-v", "-r", path)
}
