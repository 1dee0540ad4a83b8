package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/fake"
)

func ipv6(src, dst netip.Addr, n int, df bool) []byte {
	p := make([]byte, n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(n-ipv6HeaderLen))
	p[6], p[7] = 17, 64
	copy(p[8:24], src.AsSlice())
	copy(p[24:40], dst.AsSlice())
	for i := ipv6HeaderLen; i < n; i++ {
		p[i] = byte(i * 3)
	}
	return p
}

// TestIPv6Inner: IPv6 inner packets travel with next header 41 over an
// IPv4 outer, and an oversize one gets ICMPv6 Packet Too Big (RFC 4443
// §3.2) with the inner MTU.
func TestIPv6Inner(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true, pathMTU: 1400})
	h6a, h6b := netip.MustParseAddr("fd00:a::10"), netip.MustParseAddr("fd00:b::10")
	la, lb := netip.MustParsePrefix("fd00:a::/64"), netip.MustParsePrefix("fd00:b::/64")
	must(t, bd.a.e.SetPolicies([]Policy{{Local: lanA, Remote: lanB, Tunnel: 1}, {Local: la, Remote: lb, Tunnel: 1}}))
	must(t, bd.b.e.SetPolicies([]Policy{{Local: lanB, Remote: lanA, Tunnel: 1}, {Local: lb, Remote: la, Tunnel: 1}}))
	p := ipv6(h6a, h6b, 300, false)
	bd.a.tun.Inject(p)
	got, ok := bd.b.tun.Next(2 * time.Second)
	if !ok || !bytes.Equal(got, p) {
		t.Fatalf("IPv6 packet not delivered intact (ok=%v)", ok)
	}
	mtu := InnerMTU(1400, bd.suite, true)
	bd.a.tun.Inject(ipv6(h6a, h6b, mtu+1, false))
	icmp, ok := bd.a.tun.Next(2 * time.Second)
	if !ok {
		t.Fatal("no ICMPv6 written back")
	}
	if icmp[0]>>4 != 6 || icmp[6] != 58 || icmp[40] != 2 || icmp[41] != 0 {
		t.Fatalf("not a packet-too-big: %x", icmp[:48])
	}
	if got := binary.BigEndian.Uint32(icmp[44:]); int(got) != mtu {
		t.Fatalf("MTU %d, want %d", got, mtu)
	}
	sum := checksum(icmp[8:40], 0) + uint32(len(icmp)-40) + 58
	if fold(checksum(icmp[40:], sum)) != 0xffff {
		t.Fatal("bad ICMPv6 checksum")
	}
}

// TestPolicyLookup: longest prefix wins, and the source must lie in Local.
func TestPolicyLookup(t *testing.T) {
	pt, err := newPolicyTable([]Policy{
		{Local: netip.MustParsePrefix("0.0.0.0/0"), Remote: netip.MustParsePrefix("10.0.0.0/8"), Tunnel: 1},
		{Local: netip.MustParsePrefix("192.168.1.0/24"), Remote: netip.MustParsePrefix("10.2.0.0/16"), Tunnel: 2},
		{Local: netip.MustParsePrefix("192.168.2.0/24"), Remote: netip.MustParsePrefix("10.2.0.0/16"), Tunnel: 3},
		{Local: netip.MustParsePrefix("0.0.0.0/0"), Remote: netip.MustParsePrefix("10.2.3.4/32"), Tunnel: 4},
	})
	must(t, err)
	for _, c := range []struct {
		src, dst string
		want     TunnelID
		ok       bool
	}{
		{"192.168.1.5", "10.2.9.9", 2, true},
		{"192.168.2.5", "10.2.9.9", 3, true},
		{"192.168.3.5", "10.2.9.9", 1, true}, // falls back to the /8
		{"192.168.3.5", "10.2.3.4", 4, true},
		{"192.168.1.5", "11.0.0.1", 0, false},
		{"192.168.1.5", "fd00::1", 0, false},
	} {
		id, ok := pt.lookup(netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst))
		if id != c.want || ok != c.ok {
			t.Errorf("%s→%s: got %d %v, want %d %v", c.src, c.dst, id, ok, c.want, c.ok)
		}
	}
	if _, err := newPolicyTable([]Policy{{Local: netip.MustParsePrefix("0.0.0.0/0"), Remote: netip.MustParsePrefix("::/0")}}); err == nil {
		t.Fatal("mixed families accepted")
	}
}

// TestAnyInbound: a route-based tunnel accepts any inner source.
func TestAnyInbound(t *testing.T) {
	bd := newBed(t, bedOpts{})
	must(t, bd.b.e.UpsertTunnel(1, TunnelConfig{Remote: netip.AddrPortFrom(addrA, 0), AnyInbound: true}))
	other := netip.MustParseAddr("172.16.0.1") // outside every policy of B
	must(t, bd.a.e.SetPolicies([]Policy{{Local: netip.MustParsePrefix("0.0.0.0/0"), Remote: lanB, Tunnel: 1}}))
	bd.pass(t, bd.a, bd.b, other, hostB, 3, 100, 0)
	if d := bd.b.e.Stats().Drops[DropSelector]; d != 0 {
		t.Fatalf("%d selector drops", d)
	}
}

// TestRemoveOutboundAndTunnel: without an outbound SA traffic queues and
// asks for one again; a removed tunnel takes its SAs along.
func TestRemoveOutboundAndTunnel(t *testing.T) {
	bd := newBed(t, bedOpts{})
	bd.a.e.RemoveOutbound(1)
	bd.a.tun.Inject(ipv4(hostA, hostB, 100, 1, false))
	bd.a.waitEvent(t, Acquire, time.Second)
	bd.a.e.RemoveTunnel(1)
	st := bd.a.e.Stats()
	if len(st.Tunnels) != 0 || len(st.SAs) != 0 {
		t.Fatalf("tunnel or SAs left: %+v", st)
	}
	bd.a.tun.Inject(ipv4(hostA, hostB, 100, 2, false))
	waitDrops(t, bd.a.e, DropNoSA, 1) // the policy still points at tunnel 1
	if err := bd.a.e.SetOutbound(1, saCfg(t, bd.suite, 0x5000, false, Lifetime{})); err == nil {
		t.Fatal("SA installed on a removed tunnel")
	}
}

// TestCloseLeaksNoGoroutines: Close stops every goroutine the engine started.
func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	bd := newBed(t, bedOpts{})
	bd.pass(t, bd.a, bd.b, hostA, hostB, 10, 100, 0)
	must(t, bd.a.e.Close())
	must(t, bd.b.e.Close())
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestConfigErrors: invalid configurations are refused with an error.
func TestConfigErrors(t *testing.T) {
	bd := newBed(t, bedOpts{})
	e := bd.a.e
	if err := e.AddInbound(saCfg(t, bd.suite, spiBtoA, false, Lifetime{})); err == nil {
		t.Error("duplicate inbound SPI accepted")
	}
	if err := e.AddInbound(saCfg(t, bd.suite, 200, false, Lifetime{})); err == nil {
		t.Error("reserved SPI accepted")
	}
	c := saCfg(t, bd.suite, 0x3000, false, Lifetime{})
	c.Tunnel = 9
	if err := e.AddInbound(c); err == nil {
		t.Error("SA for a missing tunnel accepted")
	}
	c = saCfg(t, bd.suite, 0x3000, false, Lifetime{})
	c.EncKey = c.EncKey[:3]
	if err := e.SetOutbound(1, c); err == nil {
		t.Error("short key accepted")
	}
	if err := e.UpsertTunnel(2, TunnelConfig{}); err == nil {
		t.Error("tunnel without remote accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("config without TUN accepted")
	}
	if SAConfig.String(c) != "spi=0x00003000" {
		t.Errorf("SAConfig.String = %q", c.String())
	}
}

// TestLossyWire: with 5% loss everything that arrives is delivered, and
// loss shows up as nothing but missing packets (no ICV or replay drops).
func TestLossyWire(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	bd.net.SetImpairment(fake.Impairment{Loss: 0.05})
	const n = 2000
	for i := 0; i < n; i++ {
		bd.a.tun.Inject(ipv4(hostA, hostB, 300, uint32(i), false))
	}
	got := bd.b.collect(t, n, time.Second) // times out: some are lost
	if len(got) < n*85/100 || len(got) == n {
		t.Fatalf("delivered %d of %d with 5%% loss", len(got), n)
	}
	st := bd.b.e.Stats()
	if st.Tunnels[0].PacketsIn != uint64(len(got)) || st.Drops[DropICV] != 0 || st.Drops[DropReplay] != 0 {
		t.Fatalf("in=%d delivered=%d drops=%v", st.Tunnels[0].PacketsIn, len(got), st.Drops)
	}
}

// TestSetPeer: the control plane moves the peer (e.g. IKE saw a new NAT
// mapping) and traffic follows at once.
func TestSetPeer(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	moved := netip.AddrPortFrom(addrB, 4501)
	nb := bd.net.Bind(moved)
	must(t, bd.a.e.SetPeer(1, moved))
	bd.a.tun.Inject(ipv4(hostA, hostB, 100, 1, false))
	msgs := []Message{{Buf: make([]byte, 2048)}}
	n, err := nb.Receive(msgs)
	if err != nil || n != 1 || binary.BigEndian.Uint32(msgs[0].Buf) != spiAtoB {
		t.Fatalf("ESP did not go to the new peer address: n=%d err=%v", n, err)
	}
	if err := bd.a.e.SetPeer(7, moved); err == nil {
		t.Fatal("SetPeer on a missing tunnel succeeded")
	}
}
