package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/test/lab"
)

// suite is one ESP algorithm set, in the connections file's terms and in
// strongSwan's. IKE always runs the product default aes/sha1/group2
// (aes128-sha1-modp1024): the IKE SA carries no data.
type suite struct {
	name            string // table label
	espEnc, espAuth string // connections file
	swESP           string // strongSwan esp_proposals (the DH group is PFS on rekeys only)
}

var (
	suiteCBC = suite{name: "aes/sha1", espEnc: "aes", espAuth: "sha1", swESP: "aes128-sha1-modp1024"}
	suiteGCM = suite{name: "aes128gcm16", espEnc: "aes128gcm16", swESP: "aes128gcm16-modp1024"}
)

// Kinds of path, the table's row groups.
type pathKind int

const (
	kindGwdGwd    pathKind = iota // ipsecgwd ↔ ipsecgwd, no NAT, defaults: ESP in UDP 4500 (esp_encapsulation: udp)
	kindGwdRaw                    // ipsecgwd ↔ ipsecgwd with esp_encapsulation: auto: raw ESP (IP protocol 50)
	kindGwdSwan                   // ipsecgwd (gwB) ↔ strongSwan (gwA)
	kindSwanSwan                  // strongSwan ↔ strongSwan, kernel-libipsec
	kindWireGuard                 // wireguard-go ↔ wireguard-go
	kindPlain                     // routing, no tunnel
)

func (k pathKind) String() string {
	switch k {
	case kindGwdGwd:
		return "ipsecgwd↔ipsecgwd"
	case kindGwdRaw:
		return "ipsecgwd↔ipsecgwd (raw ESP)"
	case kindGwdSwan:
		return "ipsecgwd↔strongSwan"
	case kindSwanSwan:
		return "strongSwan↔strongSwan"
	case kindWireGuard:
		return "wireguard-go↔wireguard-go"
	case kindPlain:
		return "plain routing"
	}
	return fmt.Sprintf("pathKind(%d)", int(k))
}

// path is one set-up test bed carrying client→server traffic through one
// kind of gateway pair with one suite.
type path struct {
	kind  pathKind
	suite *suite // nil for wireguard-go and plain routing
	bed   *lab.Bed
	// cpuA, cpuB read the cumulative CPU time of the gateway process on
	// gwA and gwB; nil where there is none (plain routing).
	cpuA, cpuB func() (time.Duration, error)
	note       string // what the setup found (ESP encapsulation, tunnel MTU)
	err        error  // setup failure: the row reports it instead of figures
}

func (p *path) suiteName() string {
	if p.suite == nil {
		return "-"
	}
	return p.suite.name
}

// setup builds p's bed and brings its tunnel up until a ping crosses it.
// A failure is stored in p.err (the run goes on with the other paths).
func (p *path) setup(t *testing.T) {
	t.Helper()
	p.err = guard(t, func(tb testing.TB) error {
		switch p.kind {
		case kindGwdGwd, kindGwdRaw:
			return p.setupGwdGwd(t, tb)
		case kindGwdSwan:
			return p.setupGwdSwan(t, tb)
		case kindSwanSwan:
			return p.setupSwanSwan(tb)
		case kindWireGuard:
			return p.setupWireGuard(t, tb)
		case kindPlain:
			return p.setupPlain(tb)
		}
		return fmt.Errorf("unknown path kind %v", p.kind)
	})
	if p.err == nil && p.bed != nil {
		if err := p.bed.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
			p.err = err
		}
	}
}

// setupGwdGwd: ipsecgwd on both gateways, gwA initiating, no NAT. With
// the daemon defaults ESP goes in UDP 4500 (esp_encapsulation: udp); the
// raw row sets esp_encapsulation: auto, so NAT detection finds no NAT and
// ESP goes as IP protocol 50.
func (p *path) setupGwdGwd(t *testing.T, tb testing.TB) error {
	raw := p.kind == kindGwdRaw
	extra := ""
	if raw {
		extra = "esp_encapsulation: auto\n"
	}
	b := lab.New(tb, lab.Options{Charon: []string{}})
	p.bed = b
	gb, err := startGateway(t, b, lab.GwB, lab.GwBWanIP, extra)
	if err != nil {
		return err
	}
	ga, err := startGateway(t, b, lab.GwA, lab.GwAWanIP, extra)
	if err != nil {
		return err
	}
	p.cpuA, p.cpuB = ga.proc.CPU, gb.proc.CPU
	cb := defaultConn("cloud")
	cb.Immediate = false
	cb.ESPEnc, cb.ESPAuth = p.suite.espEnc, p.suite.espAuth
	ca := mirror(cb)
	ca.Name, ca.Immediate = "onprem", true
	if err := gb.apply(yamlOf(cb)); err != nil {
		return err
	}
	if err := ga.apply(yamlOf(ca)); err != nil {
		return err
	}
	ch, err := ga.waitChild("onprem", 30*time.Second)
	if err != nil {
		return err
	}
	if ch.UDPEncap == raw {
		return fmt.Errorf("ESP UDP encapsulation %v, want %v", ch.UDPEncap, !raw)
	}
	p.note = fmt.Sprintf("ESP %s%s", ch.Encryption, encapNote(ch.UDPEncap))
	return nil
}

func encapNote(udp bool) string {
	if udp {
		return " in UDP 4500"
	}
	return " raw (IP proto 50)"
}

// setupGwdSwan: ipsecgwd on gwB waits, strongSwan on gwA initiates (the
// product's main use). libipsec forces UDP encapsulation.
func (p *path) setupGwdSwan(t *testing.T, tb testing.TB) error {
	b := lab.New(tb, lab.Options{Charon: []string{}})
	p.bed = b
	gb, err := startGateway(t, b, lab.GwB, lab.GwBWanIP, "")
	if err != nil {
		return err
	}
	c := defaultConn("hq")
	c.Immediate = false
	c.ESPEnc, c.ESPAuth = p.suite.espEnc, p.suite.espAuth
	if err := gb.apply(yamlOf(c)); err != nil {
		return err
	}
	sc := b.DefaultConn(lab.GwA)
	sc.ESPProposal = p.suite.swESP
	sw := b.StartCharon(lab.GwA, sc)
	p.cpuA, p.cpuB = sw.CPU, gb.proc.CPU
	if err := sw.Initiate("", 30*time.Second); err != nil {
		return err
	}
	ch, err := gb.waitChild("hq", 15*time.Second)
	if err != nil {
		return err
	}
	p.note = fmt.Sprintf("ESP %s%s", ch.Encryption, encapNote(ch.UDPEncap))
	return nil
}

// setupSwanSwan: the lab's default pair of charons with kernel-libipsec.
func (p *path) setupSwanSwan(tb testing.TB) error {
	b := lab.New(tb, lab.Options{Charon: []string{}})
	p.bed = b
	var ch [2]*lab.Charon
	for i, role := range []string{lab.GwA, lab.GwB} {
		c := b.DefaultConn(role)
		c.ESPProposal = p.suite.swESP
		ch[i] = b.StartCharon(role, c)
	}
	p.cpuA, p.cpuB = ch[0].CPU, ch[1].CPU
	if err := ch[0].Initiate("", 30*time.Second); err != nil {
		return err
	}
	p.note = "ESP " + p.suite.swESP + " in UDP 4500 (libipsec)"
	return nil
}

// WireGuard tunnel addresses (only the interfaces need them; routing goes
// by the LAN prefixes).
const (
	wgPort = "51820"
	wgAIP  = "169.254.99.1/30"
	wgBIP  = "169.254.99.2/30"
)

// setupWireGuard runs wireguard-go on both gateways: an interface per
// gateway named after the bed (the UAPI socket /var/run/wireguard/<if>.sock
// is global to the host), keys from `wg genkey`, each LAN routed into the
// tunnel.
func (p *path) setupWireGuard(t *testing.T, tb testing.TB) error {
	_, _, wgGo := binaries(t)
	if _, err := exec.LookPath("wg"); err != nil {
		return fmt.Errorf("wg (wireguard-tools) not installed: %w", err)
	}
	b := lab.New(tb, lab.Options{Charon: []string{}})
	p.bed = b
	type end struct {
		role, ifname, addr, peerWan, peerNet string
		key, pub                             string
		proc                                 *lab.Proc
	}
	ends := []*end{
		{role: lab.GwA, ifname: b.ID() + "-wgA", addr: wgAIP, peerWan: lab.GwBWanIP, peerNet: lab.ServerNet},
		{role: lab.GwB, ifname: b.ID() + "-wgB", addr: wgBIP, peerWan: lab.GwAWanIP, peerNet: lab.ClientNet},
	}
	for _, e := range ends {
		sock := filepath.Join("/var/run/wireguard", e.ifname+".sock")
		tb.Cleanup(func() { _ = os.Remove(sock) })
		proc, err := b.StartEnv(e.role, "wireguard-go-"+e.role, []string{"LOG_LEVEL=error"}, wgGo, "-f", e.ifname)
		if err != nil {
			return err
		}
		e.proc = proc
		if err := waitFile(sock, 10*time.Second, proc); err != nil {
			return err
		}
		key, err := exec.Command("wg", "genkey").Output()
		if err != nil {
			return fmt.Errorf("wg genkey: %w", err)
		}
		e.key = strings.TrimSpace(string(key))
		pubCmd := exec.Command("wg", "pubkey")
		pubCmd.Stdin = strings.NewReader(e.key + "\n")
		pub, err := pubCmd.Output()
		if err != nil {
			return fmt.Errorf("wg pubkey: %w", err)
		}
		e.pub = strings.TrimSpace(string(pub))
	}
	p.cpuA, p.cpuB = ends[0].proc.CPU, ends[1].proc.CPU
	for i, e := range ends {
		peer := ends[1-i]
		keyFile := filepath.Join(b.Dir(), e.ifname+".key")
		if err := os.WriteFile(keyFile, []byte(e.key+"\n"), 0o600); err != nil {
			return err
		}
		for _, argv := range [][]string{
			{"wg", "set", e.ifname, "private-key", keyFile, "listen-port", wgPort,
				"peer", peer.pub, "endpoint", e.peerWan + ":" + wgPort, "allowed-ips", e.peerNet},
			{"ip", "addr", "add", e.addr, "dev", e.ifname},
			{"ip", "link", "set", e.ifname, "up"},
			{"ip", "route", "add", e.peerNet, "dev", e.ifname},
		} {
			if _, err := b.Exec(e.role, argv...); err != nil {
				return err
			}
		}
	}
	out, _ := b.Exec(lab.GwA, "ip", "-o", "link", "show", ends[0].ifname)
	if f := strings.Fields(out); len(f) > 0 {
		for i := range f[:len(f)-1] {
			if f[i] == "mtu" {
				p.note = "tunnel MTU " + f[i+1]
			}
		}
	}
	return nil
}

// setupPlain routes the LANs over the wan link: the ceiling of the
// topology.
func (p *path) setupPlain(tb testing.TB) error {
	b := lab.New(tb, lab.Options{Charon: []string{}})
	p.bed = b
	if _, err := b.Exec(lab.GwA, "ip", "route", "add", lab.ServerNet, "via", lab.GwBWanIP); err != nil {
		return err
	}
	_, err := b.Exec(lab.GwB, "ip", "route", "add", lab.ClientNet, "via", lab.GwAWanIP)
	return err
}

// waitFile waits until path exists, failing early if proc exits.
func waitFile(path string, timeout time.Duration, proc *lab.Proc) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if proc.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear:\n%s", path, tailLines(proc.Log(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// softTB is the testing.TB handed to test/lab during a path's setup: its
// Fatal family panics with a setupAbort that guard recovers, so a path that
// cannot be built fails alone. Cleanups still register with the real test,
// so every bed is removed at the end.
type softTB struct{ testing.TB }

type setupAbort struct{ msg string }

func (s softTB) Fatal(args ...any) { panic(setupAbort{fmt.Sprint(args...)}) }
func (s softTB) Fatalf(format string, args ...any) {
	panic(setupAbort{fmt.Sprintf(format, args...)})
}
func (s softTB) FailNow() { panic(setupAbort{"FailNow"}) }

// guard runs fn with a softTB and turns its aborts into errors.
func guard(t *testing.T, fn func(testing.TB) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(setupAbort)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", a.msg)
		}
	}()
	return fn(softTB{t})
}
