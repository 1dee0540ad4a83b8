package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Daemon defaults (SPEC §4).
const (
	DefaultConfigPath = "/etc/ipsecgw/ipsecgwd.yaml"
	DefaultStateDir   = "/var/lib/ipsecgw"
	DefaultAPI        = "unix:///run/ipsecgw/api.sock"
	DefaultTUN        = "ipsecgw0"
	DefaultMetrics    = "127.0.0.1:9810"
	DefaultLogLevel   = "info"
)

// LogLevels returns the accepted log_level values, which map onto slog
// levels.
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }

// Daemon is the ipsecgwd configuration (SPEC §4). Every key is optional;
// [DefaultDaemon] holds the defaults and [ParseDaemon] decodes over them, so
// an explicit empty value (metrics: "") is kept and means "disabled".
type Daemon struct {
	// Address is the gateway's own IP address: IKE/ESP source and default
	// LocalId. Empty means: pick the first global unicast IPv4 address of
	// the host at start-up ([Daemon.GatewayAddress]).
	Address string `yaml:"address" json:"address"`
	// StateDir holds the embedded persistent store; an absolute path.
	StateDir string `yaml:"state_dir" json:"state_dir"`
	// API is the management API's Unix socket as unix:///absolute/path.
	// Empty disables it (then api_tcp must be set).
	API string `yaml:"api" json:"api"`
	// APITCP is an ipsecgw addition: an optional host:port on which the API
	// is also served over HTTP. Empty (the default) disables it. A listener
	// on a non-loopback address requires APIToken.
	APITCP string `yaml:"api_tcp" json:"api_tcp"`
	// APIToken, when set, is the bearer token every TCP API request must
	// carry (the Unix socket is protected by file permissions). At least 16
	// characters.
	APIToken string `yaml:"api_token" json:"api_token"`
	// TUN is the TUN device carrying the tunnels' inner traffic.
	TUN string `yaml:"tun" json:"tun"`
	// Metrics is the Prometheus /metrics listen address; empty disables.
	Metrics string `yaml:"metrics" json:"metrics"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" json:"log_level"`
	// ESPEncapsulation is an ipsecgw addition: "udp" (default) carries ESP
	// in UDP 4500 on every connection with nat_traversal on, NAT or not —
	// the gateway then announces itself as behind a NAT (RFC 7296 §2.23
	// allows it; strongSwan's userspace data plane does the same), because
	// only UDP lets a userspace data plane batch packets through the
	// kernel (UDP GSO/GRO): several times the throughput of raw ESP.
	// "auto" encapsulates only when a NAT is detected and otherwise sends
	// raw ESP (IP protocol 50). nat_traversal off always means raw ESP.
	ESPEncapsulation string `yaml:"esp_encapsulation" json:"esp_encapsulation"`
	// Zones is an ipsecgw addition: zone name → the gateway's own address
	// in that zone. Tunnel i of a dual-tunnel connection (SPEC §2)
	// terminates on the address of its zone; IKE and ESP then listen on
	// every configured address. Single-tunnel connections keep using
	// Address.
	Zones map[string]string `yaml:"zones" json:"zones,omitempty"`
}

// ESP encapsulation modes (Daemon.ESPEncapsulation).
const (
	EncapUDP  = "udp"
	EncapAuto = "auto"
)

// DefaultDaemon returns the built-in configuration used when there is no
// file (SPEC §4).
func DefaultDaemon() *Daemon {
	return &Daemon{
		StateDir: DefaultStateDir,
		API:      DefaultAPI,
		TUN:      DefaultTUN,
		Metrics:  DefaultMetrics,
		LogLevel: DefaultLogLevel,

		ESPEncapsulation: EncapUDP,
	}
}

// SocketPath returns the filesystem path of the API Unix socket, "" when the
// socket is disabled or API is malformed.
func (d *Daemon) SocketPath() string {
	p, err := unixSocketPath(d.API)
	if err != nil {
		return ""
	}
	return p
}

// unixSocketPath parses unix:///absolute/path.
func unixSocketPath(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "unix" || u.Host != "" || !path.IsAbs(u.Path) || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be unix:///absolute/path/to/socket")
	}
	return u.Path, nil
}

// Validate checks every key and reports all problems at once.
func (d *Daemon) Validate() Errors {
	var es Errors
	if d.Address != "" {
		a, err := netip.ParseAddr(d.Address)
		switch {
		case err != nil:
			es.add("address", RuleIP, fmt.Sprintf("%q is not an IP address", d.Address))
		case a.Zone() != "" || !a.IsGlobalUnicast() && !a.IsLoopback() && !a.IsPrivate():
			es.add("address", RuleIP, fmt.Sprintf("%s cannot be the gateway's address; use a unicast address of this host", d.Address))
		}
	}
	switch {
	case d.StateDir == "":
		es.add("state_dir", RuleRequired, "the state directory is required (default "+DefaultStateDir+")")
	case !path.IsAbs(d.StateDir):
		es.add("state_dir", RuleFormat, "must be an absolute path")
	}
	if _, err := unixSocketPath(d.API); err != nil {
		es.add("api", RuleFormat, fmt.Sprintf("%q %v", d.API, err))
	}
	if d.APITCP != "" {
		host, err := validHostPort(d.APITCP)
		if err != nil {
			es.add("api_tcp", RuleFormat, err.Error())
		} else if d.APIToken == "" && !isLoopbackHost(host) {
			es.add("api_token", RuleRequired, "an API token is required when api_tcp listens beyond loopback")
		}
	}
	if d.API == "" && d.APITCP == "" {
		es.add("api", RuleRequired, "the API needs a Unix socket (api) or a TCP listener (api_tcp)")
	}
	if d.APIToken != "" {
		if len(d.APIToken) < 16 {
			es.add("api_token", RuleLength, "use at least 16 characters")
		}
		if strings.ContainsFunc(d.APIToken, func(r rune) bool { return r <= ' ' || r > '~' }) {
			es.add("api_token", RuleCharset, "use printable ASCII without spaces")
		}
	}
	switch {
	case d.TUN == "":
		es.add("tun", RuleRequired, "the TUN device name is required (default "+DefaultTUN+")")
	case len(d.TUN) > 15:
		es.add("tun", RuleLength, "interface names have at most 15 characters")
	case strings.ContainsAny(d.TUN, "/ \t\n:") || d.TUN == "." || d.TUN == "..":
		es.add("tun", RuleCharset, "not a valid interface name")
	}
	if d.ESPEncapsulation != EncapUDP && d.ESPEncapsulation != EncapAuto {
		es.add("esp_encapsulation", RuleOneOf, "must be udp (ESP in UDP 4500 always, the default) or auto (only behind a NAT)")
	}
	if d.Metrics != "" {
		if _, err := validHostPort(d.Metrics); err != nil {
			es.add("metrics", RuleFormat, err.Error()+" (or empty to disable)")
		}
	}
	for _, z := range slices.Sorted(maps.Keys(d.Zones)) {
		key := "zones." + z
		validID(&es, key, z, true)
		if a, err := netip.ParseAddr(d.Zones[z]); err != nil || a.Zone() != "" || !a.IsGlobalUnicast() && !a.IsLoopback() && !a.IsPrivate() {
			es.add(key, RuleIP, fmt.Sprintf("%q is not a unicast IP address of this host", d.Zones[z]))
		}
	}
	if !oneOfString(d.LogLevel, LogLevels()) {
		es.add("log_level", RuleOneOf, "must be one of "+strings.Join(LogLevels(), ", "))
	}
	return es
}

func oneOfString(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// validHostPort checks host:port with a numeric port 1–65535 and an IP or
// empty host (empty listens on every address).
func validHostPort(s string) (host string, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q must be host:port, e.g. 127.0.0.1:9810", s)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("%q: host must be an IP address, localhost or empty", s)
		}
	}
	n, err := parseDecimal(port, 65535)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%q: port must be 1–65535", s)
	}
	return host, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// GatewayAddress returns the gateway's own address: Address when set,
// otherwise the first global unicast IPv4 address of the host's interfaces
// (in the kernel's interface order).
func (d *Daemon) GatewayAddress() (netip.Addr, error) {
	if d.Address != "" {
		a, err := netip.ParseAddr(d.Address)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("config: address %q: %w", d.Address, err)
		}
		return a, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("config: list interface addresses: %w", err)
	}
	return FirstGlobalIPv4(addrs)
}

// FirstGlobalIPv4 returns the first global unicast IPv4 address in addrs
// (private ranges count as global here; loopback and link-local do not).
func FirstGlobalIPv4(addrs []net.Addr) (netip.Addr, error) {
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		na, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		na = na.Unmap()
		if na.Is4() && na.IsGlobalUnicast() {
			return na, nil
		}
	}
	return netip.Addr{}, errors.New("config: no global IPv4 address on this host; set address in the daemon configuration")
}

// ZoneAddresses parses Zones: zone name → address. Call it on a validated
// configuration; malformed entries are left out.
func (d *Daemon) ZoneAddresses() map[string]netip.Addr {
	out := make(map[string]netip.Addr, len(d.Zones))
	for z, s := range d.Zones {
		if a, err := netip.ParseAddr(s); err == nil {
			out[z] = a
		}
	}
	return out
}
