package lab

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// DefaultPSK is the pre-shared key of DefaultConn (sent raw over VICI).
const DefaultPSK = "test-psk-ipsecgw-lab"

// Default proposal of the lab (the product's seed algorithms).
const DefaultProposal = "aes128-sha1-modp1024"

// Default names of the connection and its child.
const (
	DefaultConnName  = "tun"
	DefaultChildName = "net"
)

// SwanConn describes one strongSwan connection (swanctl.conf "connections"
// entry with one child) plus the daemon-wide knobs that StartCharon writes
// into that charon's strongswan.conf. Zero fields take the defaults of
// Bed.DefaultConn for the role, so SwanConn{Version: 1} is a complete
// IKEv1 Main Mode config.
type SwanConn struct {
	Name  string // connection name [tun]
	Child string // child name [net]

	Version    int  // 1 or 2 [2]
	Aggressive bool // IKEv1 Aggressive Mode

	LocalAddr, RemoteAddr string // swanctl local_addrs / remote_addrs
	// LocalID, RemoteID as swanctl takes them: "192.0.2.1",
	// "fqdn:gwa.example.org", "%any"...
	LocalID, RemoteID string
	PSK               string // raw secret [DefaultPSK]

	IKEProposal string // "aes128-sha1-modp1024"; comma-separate several
	ESPProposal string // a DH group here means PFS (IKEv2: rekeys only)

	LocalTS, RemoteTS []string // child selectors [the two LANs]
	Mode              string   // child mode [tunnel]

	DPDDelay   time.Duration // 0: no DPD
	DPDTimeout time.Duration // IKEv1 only (IKEv2 uses the retransmit schedule)
	DPDAction  string        // clear | restart | trap | none [clear]

	StartAction string // none | start | trap [none]
	CloseAction string // none | start | trap [none]

	// Lifetimes; zero keeps strongSwan's defaults. IKELifeTime and
	// ChildLifeTime are hard limits (IKE: rekey/reauth + over_time).
	IKERekeyTime, IKEReauthTime, IKELifeTime time.Duration
	ChildRekeyTime, ChildLifeTime            time.Duration
	// NoJitter sets rand_time = 0 so rekeys happen exactly at the rekey time.
	NoJitter bool

	Encap  bool // force UDP encapsulation (libipsec does it anyway)
	Mobike *bool
	// Fragmentation: yes | no | force | accept [strongSwan's default].
	Fragmentation string
	// Unique: swanctl "unique" policy: no | never | keep | replace [no].
	Unique string

	// Daemon-wide (strongswan.conf), applied at StartCharon/Restart only.

	// InertTable220 sets charon.plugins.kernel-netlink.fwmark so charon's
	// "lookup 220" rule only matches a mark nothing carries: for 0/0
	// selectors (route-based mode) whose "default dev ipsec0" would
	// otherwise swallow all traffic. Routing is then up to the main table.
	InertTable220 bool
	// TunAddr ("169.254.10.2/30") is put on ipsec0 after every (re)start,
	// and TunRoutes (prefixes) are routed via ipsec0 in the main table:
	// route-based mode without BGP. charon re-creates ipsec0 when it
	// restarts, so both are re-applied by Restart.
	TunAddr   string
	TunRoutes []string
	// RetransmitTries/Timeout/Base: IKE retransmission [5 / 4.0 / 1.8].
	RetransmitTries   int
	RetransmitTimeout float64
	RetransmitBase    float64
	LogLevel          int // charon filelog default level [1]
	// LogLevels sets subsystem levels, e.g. {"enc": 2, "ike": 2, "knl": 2}
	// (strongSwan's logger subsystems: dmn mgr ike chd job cfg knl net asn
	// enc tnc imc imv pts tls esp lib).
	LogLevels map[string]int
	ExtraConf []string // raw lines appended inside charon { }
}

// DefaultConn returns the lab's standard connection for a gateway: IKEv2,
// PSK, IP identities, aes128-sha1-modp1024 for IKE and ESP, selectors
// 10.1.0.0/24 <-> 10.2.0.0/24. With NAT, gwA's local address and identity
// is its private 172.16.0.1 and gwB expects that identity from 192.0.2.1.
func (b *Bed) DefaultConn(role string) SwanConn {
	c := SwanConn{
		Name: DefaultConnName, Child: DefaultChildName, Version: 2,
		PSK: DefaultPSK, IKEProposal: DefaultProposal, ESPProposal: DefaultProposal,
		Mode: "tunnel", DPDAction: "clear", StartAction: "none",
	}
	gwAAddr := GwAWanIP
	if b.opt.NAT {
		gwAAddr = GwAWanNATIP
	}
	switch role {
	case GwA:
		c.LocalAddr, c.RemoteAddr = gwAAddr, GwBWanIP
		c.LocalID, c.RemoteID = gwAAddr, GwBWanIP
		c.LocalTS, c.RemoteTS = []string{ClientNet}, []string{ServerNet}
	default: // GwB (or anything else: the responder side)
		c.LocalAddr, c.RemoteAddr = GwBWanIP, GwAWanIP
		c.LocalID, c.RemoteID = GwBWanIP, gwAAddr
		c.LocalTS, c.RemoteTS = []string{ServerNet}, []string{ClientNet}
	}
	return c
}

// Tunnel addresses of the route-based variant (shared/lab/bgp-lab.sh).
const (
	TunAIP  = "169.254.10.2" // gwA's ipsec0
	TunBIP  = "169.254.10.1" // gwB's ipsec0
	TunNet  = "169.254.10.0/30"
	TunPlen = "/30"
)

// RouteBasedConn is DefaultConn with 0.0.0.0/0 selectors on both sides
// (route-based mode): table 220 made inert (InertTable220), the /30 tunnel
// address on ipsec0 and the peer's LAN routed via ipsec0 in the main table.
func (b *Bed) RouteBasedConn(role string) SwanConn {
	c := b.DefaultConn(role)
	c.LocalTS, c.RemoteTS = []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}
	c.InertTable220 = true
	if role == GwA {
		c.TunAddr, c.TunRoutes = TunAIP+TunPlen, []string{ServerNet}
	} else {
		c.TunAddr, c.TunRoutes = TunBIP+TunPlen, []string{ClientNet}
	}
	return c
}

// fill completes zero fields of c from def.
func (c SwanConn) fill(def SwanConn) SwanConn {
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&c.Name, def.Name)
	set(&c.Child, def.Child)
	set(&c.LocalAddr, def.LocalAddr)
	set(&c.RemoteAddr, def.RemoteAddr)
	set(&c.LocalID, def.LocalID)
	set(&c.RemoteID, def.RemoteID)
	set(&c.PSK, def.PSK)
	set(&c.IKEProposal, def.IKEProposal)
	set(&c.ESPProposal, def.ESPProposal)
	set(&c.Mode, def.Mode)
	set(&c.DPDAction, def.DPDAction)
	set(&c.StartAction, def.StartAction)
	if c.Version == 0 {
		c.Version = def.Version
	}
	if c.LocalTS == nil {
		c.LocalTS = def.LocalTS
	}
	if c.RemoteTS == nil {
		c.RemoteTS = def.RemoteTS
	}
	return c
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// connMessage builds the VICI load-conn message for c.
func (c SwanConn) connMessage() (*vici.Message, error) {
	child := vici.NewMessage()
	kv := func(m *vici.Message, k string, v any) error { return m.Set(k, v) }
	var err error
	try := func(m *vici.Message, k string, v any) {
		if err == nil {
			err = kv(m, k, v)
		}
	}
	try(child, "mode", c.Mode)
	try(child, "local_ts", c.LocalTS)
	try(child, "remote_ts", c.RemoteTS)
	try(child, "esp_proposals", split(c.ESPProposal))
	try(child, "dpd_action", c.DPDAction)
	try(child, "start_action", c.StartAction)
	if c.CloseAction != "" {
		try(child, "close_action", c.CloseAction)
	}
	if c.ChildRekeyTime > 0 {
		try(child, "rekey_time", secs(c.ChildRekeyTime))
	}
	if c.ChildLifeTime > 0 {
		try(child, "life_time", secs(c.ChildLifeTime))
	}
	if c.NoJitter {
		try(child, "rand_time", "0s")
	}
	children := vici.NewMessage()
	try(children, c.Child, child)

	local := vici.NewMessage()
	try(local, "auth", "psk")
	try(local, "id", c.LocalID)
	remote := vici.NewMessage()
	try(remote, "auth", "psk")
	try(remote, "id", c.RemoteID)

	conn := vici.NewMessage()
	try(conn, "version", fmt.Sprint(c.Version))
	try(conn, "aggressive", c.Aggressive)
	try(conn, "local_addrs", split(c.LocalAddr))
	try(conn, "remote_addrs", split(c.RemoteAddr))
	try(conn, "proposals", split(c.IKEProposal))
	try(conn, "encap", c.Encap)
	if c.Mobike != nil {
		try(conn, "mobike", *c.Mobike)
	}
	if c.Fragmentation != "" {
		try(conn, "fragmentation", c.Fragmentation)
	}
	if c.Unique != "" {
		try(conn, "unique", c.Unique)
	}
	if c.DPDDelay > 0 {
		try(conn, "dpd_delay", secs(c.DPDDelay))
	}
	if c.DPDTimeout > 0 {
		try(conn, "dpd_timeout", secs(c.DPDTimeout))
	}
	if c.IKERekeyTime > 0 {
		try(conn, "rekey_time", secs(c.IKERekeyTime))
	}
	if c.IKEReauthTime > 0 {
		try(conn, "reauth_time", secs(c.IKEReauthTime))
	}
	if c.IKELifeTime > 0 {
		soft := max(c.IKERekeyTime, c.IKEReauthTime)
		if soft == 0 {
			soft = 4 * time.Hour // strongSwan's default rekey_time
		}
		if over := c.IKELifeTime - soft; over > 0 {
			try(conn, "over_time", secs(over))
		}
	}
	if c.NoJitter {
		try(conn, "rand_time", "0s")
	}
	try(conn, "local", local)
	try(conn, "remote", remote)
	try(conn, "children", children)

	msg := vici.NewMessage()
	try(msg, c.Name, conn)
	if err != nil {
		return nil, fmt.Errorf("lab: conn message: %w", err)
	}
	return msg, nil
}

// sharedMessage builds the VICI load-shared message for c's PSK.
func (c SwanConn) sharedMessage() (*vici.Message, error) {
	m := vici.NewMessage()
	owners := []string{}
	for _, id := range []string{c.LocalID, c.RemoteID} {
		if id != "" && id != "%any" {
			owners = append(owners, id)
		}
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"id", "ike-" + c.Name}, {"type", "IKE"}, {"data", c.PSK}, {"owners", owners}} {
		if err := m.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("lab: shared message: %w", err)
		}
	}
	return m, nil
}

// strongswanConf renders the per-instance strongswan.conf. Pitfalls it
// handles (shared/lab/README.md): kernel-libipsec is "load = no" in
// Debian's include, so the override must come after the include;
// charon-systemd writes no log without filelog (no journald here).
func (c SwanConn) strongswanConf(dir string) string {
	tries, timeout, base := c.RetransmitTries, c.RetransmitTimeout, c.RetransmitBase
	if tries == 0 {
		tries = 5
	}
	if timeout == 0 {
		timeout = 4.0
	}
	if base == 0 {
		base = 1.8
	}
	level := c.LogLevel
	if level == 0 {
		level = 1
	}
	fw := ""
	if c.InertTable220 {
		fw = "fwmark = 0x7e57"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `# written by test/lab for one charon; STRONGSWAN_CONF=%[1]s/strongswan.conf
charon-systemd {
    journal {
        default = -1
    }
}
charon {
    load_modular = yes
    i_dont_care_about_security_and_use_aggressive_mode_psk = yes
    retransmit_tries = %[2]d
    retransmit_timeout = %[3]g
    retransmit_base = %[4]g
    filelog {
        file {
            path = %[1]s/charon.log
            time_format = %%H:%%M:%%S
            ike_name = yes
            append = yes
            flush_line = yes
            default = %[5]d
`, dir, tries, timeout, base, level)
	subsystems := make([]string, 0, len(c.LogLevels))
	for k := range c.LogLevels {
		subsystems = append(subsystems, k)
	}
	sort.Strings(subsystems)
	for _, k := range subsystems {
		fmt.Fprintf(&sb, "            %s = %d\n", k, c.LogLevels[k])
	}
	sb.WriteString("        }\n    }\n")
	for _, l := range c.ExtraConf {
		fmt.Fprintf(&sb, "    %s\n", l)
	}
	fmt.Fprintf(&sb, `    plugins {
        include /etc/strongswan.d/charon/*.conf
        # --- overrides: must come after the include ---
        kernel-libipsec {
            load = yes
        }
        kernel-netlink {
            %[2]s
        }
        vici {
            socket = unix://%[1]s/charon.vici
        }
        af-alg {
            load = no
        }
        resolve {
            load = no
        }
        # noise or side effects in a namespace: multicast joins, TPM, HA
        forecast {
            load = no
        }
        tpm {
            load = no
        }
        ha {
            load = no
        }
    }
}
swanctl {
    socket = unix://%[1]s/charon.vici
}
`, dir, fw)
	return sb.String()
}
