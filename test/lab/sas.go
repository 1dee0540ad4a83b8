package lab

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// IKESA is one IKE SA as charon's VICI "list-sas" reports it (strongSwan's
// vici README, "list-sa" event). Strings keep strongSwan's spelling
// ("ESTABLISHED", "AES_CBC", "HMAC_SHA1_96", "MODP_1024").
type IKESA struct {
	Name       string // connection name
	UniqueID   string
	Version    int // 1 or 2
	State      string
	LocalHost  string
	LocalPort  int
	LocalID    string
	RemoteHost string
	RemotePort int
	RemoteID   string
	Initiator  bool   // this end initiated the SA
	SPIInit    string // initiator SPI, 16 hex digits
	SPIResp    string // responder SPI, 16 hex digits

	NATLocal  bool // this end is behind NAT
	NATRemote bool // the peer is behind NAT
	NATFake   bool // NAT faked (libipsec forcing UDP encapsulation)
	NATAny    bool // any of the above

	EncrAlg     string
	EncrKeysize int
	IntegAlg    string
	PRFAlg      string
	DHGroup     string

	Established time.Duration // age
	RekeyTime   time.Duration // time to the next rekey (0: none scheduled)
	ReauthTime  time.Duration

	Children []ChildSA
}

// ChildSA is one CHILD_SA of an IKESA.
type ChildSA struct {
	Name        string
	UniqueID    string
	ReqID       string
	State       string // "INSTALLED", "REKEYED", ...
	Mode        string // "TUNNEL"
	Protocol    string // "ESP"
	Encap       bool   // UDP encapsulated
	SPIIn       string // 8 hex digits
	SPIOut      string
	EncrAlg     string
	EncrKeysize int
	IntegAlg    string
	DHGroup     string // PFS group of the last (re)key, "" if none

	BytesIn, PacketsIn   uint64
	BytesOut, PacketsOut uint64

	RekeyTime   time.Duration // time to the next rekey
	LifeTime    time.Duration // time to expiry
	InstallTime time.Duration // age

	LocalTS, RemoteTS []string
}

// ListSAs returns all IKE SAs of the charon with their CHILD_SAs, sorted by
// unique id (oldest first).
func (c *Charon) ListSAs() ([]IKESA, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, err := c.streamLocked("list-sas", "list-sa", nil, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var out []IKESA
	for _, m := range msgs {
		for _, name := range m.Keys() {
			if ike, ok := m.Get(name).(*vici.Message); ok {
				out = append(out, parseIKESA(name, ike))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return numLess(out[i].UniqueID, out[j].UniqueID) })
	return out, nil
}

// Established returns the first IKE SA in state ESTABLISHED, if any.
func Established(sas []IKESA) (IKESA, bool) {
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" {
			return sa, true
		}
	}
	return IKESA{}, false
}

// InstalledChild returns the first INSTALLED child of sa, if any.
func (sa IKESA) InstalledChild() (ChildSA, bool) {
	for _, ch := range sa.Children {
		if ch.State == "INSTALLED" {
			return ch, true
		}
	}
	return ChildSA{}, false
}

func parseIKESA(name string, m *vici.Message) IKESA {
	s := func(k string) string { v, _ := m.Get(k).(string); return v }
	sa := IKESA{
		Name:        name,
		UniqueID:    s("uniqueid"),
		Version:     atoi(s("version")),
		State:       s("state"),
		LocalHost:   s("local-host"),
		LocalPort:   atoi(s("local-port")),
		LocalID:     s("local-id"),
		RemoteHost:  s("remote-host"),
		RemotePort:  atoi(s("remote-port")),
		RemoteID:    s("remote-id"),
		Initiator:   s("initiator") == "yes",
		SPIInit:     s("initiator-spi"),
		SPIResp:     s("responder-spi"),
		NATLocal:    s("nat-local") == "yes",
		NATRemote:   s("nat-remote") == "yes",
		NATFake:     s("nat-fake") == "yes",
		NATAny:      s("nat-any") == "yes",
		EncrAlg:     s("encr-alg"),
		EncrKeysize: atoi(s("encr-keysize")),
		IntegAlg:    s("integ-alg"),
		PRFAlg:      s("prf-alg"),
		DHGroup:     s("dh-group"),
		Established: seconds(s("established")),
		RekeyTime:   seconds(s("rekey-time")),
		ReauthTime:  seconds(s("reauth-time")),
	}
	if children, ok := m.Get("child-sas").(*vici.Message); ok {
		for _, k := range children.Keys() {
			if cm, ok := children.Get(k).(*vici.Message); ok {
				sa.Children = append(sa.Children, parseChildSA(cm))
			}
		}
	}
	sort.SliceStable(sa.Children, func(i, j int) bool { return numLess(sa.Children[i].UniqueID, sa.Children[j].UniqueID) })
	return sa
}

func parseChildSA(m *vici.Message) ChildSA {
	s := func(k string) string { v, _ := m.Get(k).(string); return v }
	l := func(k string) []string { v, _ := m.Get(k).([]string); return v }
	return ChildSA{
		Name:        s("name"),
		UniqueID:    s("uniqueid"),
		ReqID:       s("reqid"),
		State:       s("state"),
		Mode:        s("mode"),
		Protocol:    s("protocol"),
		Encap:       s("encap") == "yes",
		SPIIn:       s("spi-in"),
		SPIOut:      s("spi-out"),
		EncrAlg:     s("encr-alg"),
		EncrKeysize: atoi(s("encr-keysize")),
		IntegAlg:    s("integ-alg"),
		DHGroup:     s("dh-group"),
		BytesIn:     atou(s("bytes-in")),
		PacketsIn:   atou(s("packets-in")),
		BytesOut:    atou(s("bytes-out")),
		PacketsOut:  atou(s("packets-out")),
		RekeyTime:   seconds(s("rekey-time")),
		LifeTime:    seconds(s("life-time")),
		InstallTime: seconds(s("install-time")),
		LocalTS:     l("local-ts"),
		RemoteTS:    l("remote-ts"),
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func seconds(s string) time.Duration { return time.Duration(atoi(s)) * time.Second }

func numLess(a, b string) bool {
	x, y := atoi(a), atoi(b)
	if x != y {
		return x < y
	}
	return a < b
}

// WaitSAs polls ListSAs every 200 ms until ok accepts the list, and returns
// that list; after timeout it returns the last list with an error.
func (c *Charon) WaitSAs(timeout time.Duration, ok func([]IKESA) bool) ([]IKESA, error) {
	deadline := time.Now().Add(timeout)
	for {
		sas, err := c.ListSAs()
		if err == nil && ok(sas) {
			return sas, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("lab: %s: condition not met after %v; SAs: %s", c.role, timeout, summary(sas))
			}
			return sas, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitNoSA waits until the charon has no IKE SA left (a dead peer cleared,
// a DELETE processed).
func (c *Charon) WaitNoSA(timeout time.Duration) error {
	_, err := c.WaitSAs(timeout, func(sas []IKESA) bool { return len(sas) == 0 })
	return err
}

// summary renders SAs in one line each, for error messages.
func summary(sas []IKESA) string {
	var sb strings.Builder
	for _, sa := range sas {
		fmt.Fprintf(&sb, "\n  %s[%s] v%d %s %s:%d %s_i %s_r", sa.Name, sa.UniqueID, sa.Version, sa.State,
			sa.RemoteHost, sa.RemotePort, sa.SPIInit, sa.SPIResp)
		for _, ch := range sa.Children {
			fmt.Fprintf(&sb, "\n    %s{%s} %s %s_i %s_o %v === %v", ch.Name, ch.UniqueID, ch.State,
				ch.SPIIn, ch.SPIOut, ch.LocalTS, ch.RemoteTS)
		}
	}
	if sb.Len() == 0 {
		return "none"
	}
	return sb.String()
}
