package config

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestParseDaemonDefaults(t *testing.T) {
	for _, doc := range []string{"", "# defaults\n"} {
		d, err := ParseDaemon([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		want := Daemon{StateDir: "/var/lib/ipsecgw", API: "unix:///run/ipsecgw/api.sock", TUN: "ipsecgw0",
			Metrics: "127.0.0.1:9810", LogLevel: "info", ESPEncapsulation: "udp"}
		if !reflect.DeepEqual(*d, want) {
			t.Fatalf("defaults = %+v", d)
		}
		if es := d.Validate(); len(es) != 0 {
			t.Fatalf("defaults invalid: %v", es)
		}
		if d.SocketPath() != "/run/ipsecgw/api.sock" {
			t.Fatalf("SocketPath = %q", d.SocketPath())
		}
	}
	d, err := ParseDaemon([]byte("address: 192.0.2.2\nmetrics: \"\"\nlog_level: debug\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Address != "192.0.2.2" || d.Metrics != "" || d.LogLevel != "debug" || d.TUN != "ipsecgw0" {
		t.Fatalf("overrides = %+v", d)
	}
	d, err = ParseDaemon([]byte("zones:\n  zone-a: 192.0.2.2\n  zone-b: 192.0.2.3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if z := d.ZoneAddresses(); len(z) != 2 || z["zone-b"] != netip.MustParseAddr("192.0.2.3") {
		t.Fatalf("zones = %v", z)
	}
	if _, err := ParseDaemon([]byte("zones:\n  zone-a: 192.0.2.2\n  zone-a: 192.0.2.3\n")); err == nil {
		t.Fatal("duplicate zone accepted")
	} else if es := err.(Errors); !es.Has("zones.zone-a", RuleDuplicateKey) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseDaemon([]byte("adress: 1.2.3.4\n")); err == nil {
		t.Fatal("unknown key accepted")
	} else if es := err.(Errors); !es.Has("adress", RuleUnknownKey) || es[0].Line != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestDaemonValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(d *Daemon)
		want []fr
	}{
		{"defaults", func(d *Daemon) {}, nil},
		{"address v4", func(d *Daemon) { d.Address = "192.0.2.2" }, nil},
		{"esp encapsulation auto", func(d *Daemon) { d.ESPEncapsulation = "auto" }, nil},
		{"esp encapsulation bad", func(d *Daemon) { d.ESPEncapsulation = "raw" }, []fr{{"esp_encapsulation", RuleOneOf}}},
		{"address v6", func(d *Daemon) { d.Address = "2001:db8::2" }, nil},
		{"address bad", func(d *Daemon) { d.Address = "gw" }, []fr{{"address", RuleIP}}},
		{"zones", func(d *Daemon) { d.Zones = map[string]string{"zone-a": "192.0.2.2", "zone-b": "192.0.2.3"} }, nil},
		{"zones bad", func(d *Daemon) {
			d.Zones = map[string]string{"zone a": "192.0.2.2", "zone-b": "x", "zone-c": "224.0.0.1"}
		},
			[]fr{{"zones.zone a", RuleCharset}, {"zones.zone-b", RuleIP}, {"zones.zone-c", RuleIP}}},
		{"address multicast", func(d *Daemon) { d.Address = "239.1.1.1" }, []fr{{"address", RuleIP}}},
		{"state dir relative", func(d *Daemon) { d.StateDir = "state" }, []fr{{"state_dir", RuleFormat}}},
		{"state dir empty", func(d *Daemon) { d.StateDir = "" }, []fr{{"state_dir", RuleRequired}}},
		{"api http", func(d *Daemon) { d.API = "http://127.0.0.1:80" }, []fr{{"api", RuleFormat}}},
		{"api relative", func(d *Daemon) { d.API = "unix://run/x.sock" }, []fr{{"api", RuleFormat}}},
		{"api disabled with tcp", func(d *Daemon) { d.API, d.APITCP = "", "127.0.0.1:9811" }, nil},
		{"no api at all", func(d *Daemon) { d.API = "" }, []fr{{"api", RuleRequired}}},
		{"api tcp bad", func(d *Daemon) { d.APITCP = "9811" }, []fr{{"api_tcp", RuleFormat}}},
		{"api tcp port 0", func(d *Daemon) { d.APITCP = "127.0.0.1:0" }, []fr{{"api_tcp", RuleFormat}}},
		{"api tcp public needs token", func(d *Daemon) { d.APITCP = "0.0.0.0:9811" }, []fr{{"api_token", RuleRequired}}},
		{"api tcp public with token", func(d *Daemon) { d.APITCP, d.APIToken = ":9811", "0123456789abcdef" }, nil},
		{"api token short", func(d *Daemon) { d.APIToken = "short" }, []fr{{"api_token", RuleLength}}},
		{"api token space", func(d *Daemon) { d.APIToken = "0123456789 abcdef" }, []fr{{"api_token", RuleCharset}}},
		{"tun long", func(d *Daemon) { d.TUN = "ipsecgw-too-long-name" }, []fr{{"tun", RuleLength}}},
		{"tun slash", func(d *Daemon) { d.TUN = "a/b" }, []fr{{"tun", RuleCharset}}},
		{"tun empty", func(d *Daemon) { d.TUN = "" }, []fr{{"tun", RuleRequired}}},
		{"metrics disabled", func(d *Daemon) { d.Metrics = "" }, nil},
		{"metrics bad", func(d *Daemon) { d.Metrics = "localhost" }, []fr{{"metrics", RuleFormat}}},
		{"log level bad", func(d *Daemon) { d.LogLevel = "verbose" }, []fr{{"log_level", RuleOneOf}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DefaultDaemon()
			tc.mut(d)
			var got []fr
			for _, e := range d.Validate() {
				got = append(got, fr{e.Field, e.Rule})
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("errors = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFirstGlobalIPv4(t *testing.T) {
	mk := func(s string) net.Addr {
		ip, n, _ := net.ParseCIDR(s)
		return &net.IPNet{IP: ip, Mask: n.Mask}
	}
	addrs := []net.Addr{mk("127.0.0.1/8"), mk("fe80::1/64"), mk("169.254.1.1/16"), mk("2001:db8::1/64"),
		mk("10.0.0.5/24"), mk("192.0.2.2/24")}
	got, err := FirstGlobalIPv4(addrs)
	if err != nil || got != netip.MustParseAddr("10.0.0.5") {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := FirstGlobalIPv4(addrs[:4]); err == nil {
		t.Fatal("no global IPv4 must be an error")
	}
	d := &Daemon{Address: "192.0.2.2"}
	if a, err := d.GatewayAddress(); err != nil || a != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("GatewayAddress = %v %v", a, err)
	}
}

func TestLoadDaemonFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDaemon(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(dir, "ipsecgwd.yaml")
	if err := os.WriteFile(p, []byte("tun: ig0\nlog_level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDaemon(p)
	if err != nil || d.TUN != "ig0" || d.LogLevel != "warn" || d.StateDir != DefaultStateDir {
		t.Fatalf("LoadDaemon = %+v, %v", d, err)
	}
}
