package lab

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"
)

// These tests need no root and run under -short too.

func TestStrongswanConf(t *testing.T) {
	c := SwanConn{InertTable220: true, LogLevels: map[string]int{"knl": 2, "enc": 3}}
	conf := c.strongswanConf("/run/x")
	inc := strings.Index(conf, "include /etc/strongswan.d/charon/*.conf")
	lib := strings.Index(conf, "kernel-libipsec {\n            load = yes")
	if inc < 0 || lib < inc {
		t.Errorf("kernel-libipsec load = yes must follow the include:\n%s", conf)
	}
	for _, want := range []string{
		"path = /run/x/charon.log", "socket = unix:///run/x/charon.vici", "fwmark = 0x7e57",
		"i_dont_care_about_security_and_use_aggressive_mode_psk = yes", "retransmit_tries = 5",
		"retransmit_base = 1.8", "enc = 3\n            knl = 2", "time_format = %H:%M:%S",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(SwanConn{}.strongswanConf("/d"), "fwmark") {
		t.Error("fwmark set without InertTable220")
	}
}

func TestConnMessage(t *testing.T) {
	b := &Bed{opt: Options{NAT: true}}
	c := SwanConn{Version: 1, Aggressive: true, IKEProposal: "aes256-sha256-modp2048, 3des-md5-modp768",
		IKERekeyTime: time.Hour, IKELifeTime: 90 * time.Minute, ChildRekeyTime: 50 * time.Second,
		NoJitter: true, DPDDelay: 10 * time.Second}.fill(b.DefaultConn(GwB))
	m, err := c.connMessage()
	if err != nil {
		t.Fatal(err)
	}
	conn := m.Get("tun").(*vici.Message)
	get := func(m *vici.Message, k string) any { return m.Get(k) }
	if get(conn, "version") != "1" || get(conn, "aggressive") != "yes" || get(conn, "over_time") != "1800s" ||
		get(conn, "rekey_time") != "3600s" || get(conn, "dpd_delay") != "10s" || get(conn, "rand_time") != "0s" {
		t.Errorf("conn: %v", conn)
	}
	if p := get(conn, "proposals").([]string); !slices.Equal(p, []string{"aes256-sha256-modp2048", "3des-md5-modp768"}) {
		t.Errorf("proposals %q", p)
	}
	// With NAT gwB expects gwA's private identity from the public address.
	if get(conn, "remote_addrs").([]string)[0] != NATOutIP || get(conn, "remote").(*vici.Message).Get("id") != GwAWanNATIP {
		t.Errorf("remote: %v %v", get(conn, "remote_addrs"), get(conn, "remote"))
	}
	child := conn.Get("children").(*vici.Message).Get("net").(*vici.Message)
	if child.Get("rekey_time") != "50s" || !slices.Equal(child.Get("local_ts").([]string), []string{ServerNet}) ||
		child.Get("start_action") != "none" {
		t.Errorf("child: %v", child)
	}
	sh, err := c.sharedMessage()
	if err != nil {
		t.Fatal(err)
	}
	if sh.Get("data") != DefaultPSK || !slices.Equal(sh.Get("owners").([]string), []string{GwBWanIP, GwAWanNATIP}) {
		t.Errorf("shared: %v", sh)
	}
}

func TestParseIKESA(t *testing.T) {
	child := vici.NewMessage()
	for k, v := range map[string]any{
		"name": "net", "uniqueid": "7", "state": "INSTALLED", "protocol": "ESP", "encap": "yes",
		"spi-in": "c1a2b3d4", "spi-out": "0badf00d", "encr-alg": "AES_CBC", "encr-keysize": "128",
		"integ-alg": "HMAC_SHA1_96", "dh-group": "MODP_1024", "bytes-in": "840", "packets-in": "10",
		"bytes-out": "1680", "packets-out": "20", "rekey-time": "3000", "life-time": "3300",
		"install-time": "5", "local-ts": []string{ClientNet}, "remote-ts": []string{ServerNet},
	} {
		if err := child.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	children := vici.NewMessage()
	_ = children.Set("net-7", child)
	ike := vici.NewMessage()
	for k, v := range map[string]any{
		"uniqueid": "3", "version": "2", "state": "ESTABLISHED", "local-host": GwAWanIP, "local-port": "4500",
		"remote-host": GwBWanIP, "remote-port": "4500", "initiator": "yes",
		"initiator-spi": "0123456789abcdef", "responder-spi": "fedcba9876543210", "nat-remote": "yes",
		"nat-fake": "yes", "nat-any": "yes", "encr-alg": "AES_CBC", "encr-keysize": "256",
		"integ-alg": "HMAC_SHA2_256_128", "prf-alg": "PRF_HMAC_SHA2_256", "dh-group": "MODP_2048",
		"established": "12", "rekey-time": "13000", "child-sas": children,
	} {
		if err := ike.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	sa := parseIKESA("tun", ike)
	if sa.Name != "tun" || sa.Version != 2 || !sa.Initiator || sa.LocalPort != 4500 || sa.SPIResp != "fedcba9876543210" ||
		!sa.NATRemote || sa.NATLocal || sa.EncrKeysize != 256 || sa.Established != 12*time.Second {
		t.Errorf("IKE SA: %+v", sa)
	}
	ch, ok := sa.InstalledChild()
	if !ok || ch.SPIOut != "0badf00d" || ch.PacketsOut != 20 || ch.BytesIn != 840 || ch.DHGroup != "MODP_1024" ||
		ch.LifeTime != 3300*time.Second || !ch.Encap || ch.RemoteTS[0] != ServerNet {
		t.Errorf("child: %+v", ch)
	}
	if s := summary([]IKESA{sa}); !strings.Contains(s, "c1a2b3d4_i 0badf00d_o") {
		t.Errorf("summary %q", s)
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("tail = %q", got)
	}
	if got := tail("a", 5); got != "a" {
		t.Errorf("tail = %q", got)
	}
}
