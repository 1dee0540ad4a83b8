package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/bgp"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/esp"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

var (
	zoneA = netip.MustParseAddr("192.0.2.2")
	zoneB = netip.MustParseAddr("192.0.2.3")
)

func newDualBed(t *testing.T) *bed {
	return newBedWith(t, func(c *Config) { c.Zones = map[string]netip.Addr{"zone-a": zoneA, "zone-b": zoneB} })
}

// createDual stores a dual-tunnel connection with tunnels in zones za and
// zb, both to customer gateway 192.0.2.1.
func (b *bed) createDual(za, zb string) string {
	b.t.Helper()
	c := config.Connection{Name: "dual", CustomerGateway: "192.0.2.1", TunnelMode: config.TunnelDual,
		RoutingMode: config.RoutingProtectedSubnets, LocalSubnets: []string{"10.2.0.0/24"},
		RemoteSubnets: []string{"10.1.0.0/24"},
		Tunnels:       []config.Tunnel{{Zone: za, PSK: "secret-1"}, {Zone: zb, PSK: "secret-2"}}}
	c.ApplyDefaults("192.0.2.2")
	sc, err := b.st.CreateConnection(c)
	if err != nil {
		b.t.Fatal(err)
	}
	return sc.ID
}

// tunnelOf returns the data-plane tunnel of conn id.
func (b *bed) tunnelOf(id string) esp.TunnelID {
	var t esp.TunnelID
	b.g.call(func() {
		if c := b.g.conns[id]; c != nil {
			t = c.tunnel
		}
	})
	return t
}

// policyTunnels returns the tunnel of every policy, in order.
func (b *bed) policyTunnels() []esp.TunnelID {
	b.g.call(func() {})
	b.dp.mu.Lock()
	defer b.dp.mu.Unlock()
	var ts []esp.TunnelID
	for _, p := range b.dp.policies {
		ts = append(ts, p.Tunnel)
	}
	return ts
}

func dualChildUp(id string, local netip.Addr, in, out uint32) v2.ChildUp {
	ev := childUp(id, in, out, false, 0)
	ev.Local = netip.AddrPortFrom(local, 4500)
	return ev
}

// TestDualTunnel: both tunnels of a dual-tunnel connection are initiated
// from their zones' addresses with their own PSKs; the policies follow
// tunnel 1 while it is up, fail over to tunnel 2 when tunnel 1's peer is
// dead and fail back when it returns; the route stays while either is up.
func TestDualTunnel(t *testing.T) {
	b := newDualBed(t)
	id := b.createDual("zone-a", "zone-b")
	t1, t2 := tunnelName(id, 0), tunnelName(id, 1)
	b.waitState(t1, api.StateConnecting)
	b.waitState(t2, api.StateConnecting)
	b.ike.mu.Lock()
	p1, p2 := b.ike.peers[t1], b.ike.peers[t2]
	b.ike.mu.Unlock()
	if p1 == nil || p2 == nil || p1.Local != zoneA || p2.Local != zoneB || string(p1.PSK) != "secret-1" ||
		string(p2.PSK) != "secret-2" || p1.LocalID != "192.0.2.2" || p2.LocalID != "192.0.2.3" {
		t.Fatalf("initiated peers: %+v / %+v", p1, p2)
	}
	tun1, tun2 := b.tunnelOf(t1), b.tunnelOf(t2)
	b.dp.mu.Lock()
	if b.dp.tunnels[tun1].Local != netip.AddrPortFrom(zoneA, 4500) || b.dp.tunnels[tun2].Local != netip.AddrPortFrom(zoneB, 4500) {
		t.Fatalf("data plane tunnels: %+v", b.dp.tunnels)
	}
	b.dp.mu.Unlock()
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{tun1, tun2}) {
		t.Fatalf("policies before any tunnel is up: %v, want tunnel 1 (%d) first", got, tun1)
	}

	// Tunnel 2 up first: it carries the traffic until tunnel 1 is up.
	b.g.OnIKEEvent(v2.IKEUp{Peer: t2})
	b.g.OnIKEEvent(dualChildUp(t2, zoneB, 0x200, 0x201))
	b.waitState(t2, api.StateEstablished)
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{tun2, tun1}) {
		t.Fatalf("policies with only tunnel 2 up: %v, want %d", got, tun2)
	}
	if got := b.kernelRoutes(); !slices.Equal(got, []string{"10.1.0.0/24 dev ipsecgw0"}) {
		t.Fatalf("routes: %v", got)
	}
	b.g.OnIKEEvent(v2.IKEUp{Peer: t1})
	b.g.OnIKEEvent(dualChildUp(t1, zoneA, 0x100, 0x101))
	b.waitState(t1, api.StateEstablished)
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{tun1, tun2}) {
		t.Fatalf("policies with both up: %v, want tunnel 1 (%d)", got, tun1)
	}
	st, err := b.g.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cs := st.Connections[0]; cs.ID != id || cs.State != api.StateEstablished ||
		!strings.Contains(cs.Message, "tunnel 1 (192.0.2.2): established, active") ||
		!strings.Contains(cs.Message, "tunnel 2 (192.0.2.3): established") {
		t.Fatalf("status: %+v", cs)
	}

	// Failover: tunnel 1's peer is dead.
	b.g.OnIKEEvent(v2.IKEDown{Peer: t1, Reason: v2.ReasonDeadPeer})
	b.waitState(t1, api.StateDown)
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{tun2, tun1}) {
		t.Fatalf("policies after tunnel 1 died: %v, want tunnel 2 (%d)", got, tun2)
	}
	if got := b.kernelRoutes(); len(got) != 1 {
		t.Fatalf("route lost although tunnel 2 is up: %v", got)
	}
	b.dp.mu.Lock()
	_, out1 := b.dp.outbound[tun1]
	b.dp.mu.Unlock()
	if out1 {
		t.Fatal("tunnel 1's outbound SA left after its peer died")
	}
	st, _ = b.g.Status(t.Context())
	if cs := st.Connections[0]; cs.State != api.StateEstablished || !strings.Contains(cs.Message, "tunnel 2 (192.0.2.3): established, active") ||
		!strings.Contains(cs.Message, "tunnel 1 (192.0.2.2): down") {
		t.Fatalf("status after failover: %+v", cs)
	}
	// Tunnel 1 re-initiates on its own.
	deadline := time.Now().Add(2 * time.Second)
	for {
		b.ike.mu.Lock()
		n := 0
		for _, name := range b.ike.initiated {
			if name == t1 {
				n++
			}
		}
		b.ike.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tunnel 1 not re-initiated")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Failback once tunnel 1 has a CHILD_SA again.
	b.g.OnIKEEvent(v2.IKEUp{Peer: t1})
	b.g.OnIKEEvent(dualChildUp(t1, zoneA, 0x102, 0x103))
	b.waitState(t1, api.StateEstablished)
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{tun1, tun2}) {
		t.Fatalf("policies after tunnel 1 returned: %v, want %d", got, tun1)
	}

	// Both down: the route goes.
	b.g.OnIKEEvent(v2.IKEDown{Peer: t1, Reason: v2.ReasonDeadPeer})
	b.g.OnIKEEvent(v2.IKEDown{Peer: t2, Reason: v2.ReasonDeadPeer})
	b.waitState(t2, api.StateDown)
	if got := b.kernelRoutes(); len(got) != 0 {
		t.Fatalf("routes with both tunnels down: %v", got)
	}

	// Delete: both tunnels terminated and gone.
	if err := b.st.DeleteConnection(id); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		var n int
		b.g.call(func() { n = len(b.g.conns) + len(b.g.active) })
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dual connection not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.dp.mu.Lock()
	defer b.dp.mu.Unlock()
	if len(b.dp.tunnels) != 0 || len(b.dp.policies) != 0 {
		t.Fatalf("tunnels or policies left: %v %v", b.dp.tunnels, b.dp.policies)
	}
}

// TestDualTunnelLookup: with the same customer gateway and identity on
// both tunnels, a responder exchange finds the tunnel of the gateway
// address it arrived on.
func TestDualTunnelLookup(t *testing.T) {
	b := newDualBed(t)
	id := b.createDual("zone-a", "zone-b")
	b.waitState(tunnelName(id, 1), api.StateConnecting)
	from := netip.MustParseAddrPort("192.0.2.1:500")
	idv := v2.Identity("192.0.2.1")
	for _, tc := range []struct {
		local netip.Addr
		want  string
	}{{zoneA, tunnelName(id, 0)}, {zoneB, tunnelName(id, 1)}} {
		for _, ident := range []*v2.Identity{nil, &idv} {
			if p, ok := b.g.Lookup(netip.AddrPortFrom(tc.local, 500), from, ident); !ok || p.Name != tc.want {
				t.Fatalf("lookup on %s (id %v): %v %v, want %s", tc.local, ident, p, ok, tc.want)
			}
		}
	}
	if p, ok := b.g.Lookup(netip.MustParseAddrPort("192.0.2.9:500"), from, &idv); ok {
		t.Fatalf("lookup on a foreign address found %s", p.Name)
	}
}

// TestDualTunnelUnknownZone: a tunnel whose zone the daemon does not know
// stays down with a message naming the zone; the other tunnel runs.
func TestDualTunnelUnknownZone(t *testing.T) {
	b := newDualBed(t)
	id := b.createDual("zone-a", "zone-c")
	b.waitState(tunnelName(id, 0), api.StateConnecting)
	b.waitState(tunnelName(id, 1), api.StateDown)
	_, m := b.state(tunnelName(id, 1))
	if !strings.Contains(m, `"zone-c" is not a zone of this gateway`) || !strings.Contains(m, "zone-a=192.0.2.2, zone-b=192.0.2.3") {
		t.Fatalf("message: %s", m)
	}
	if i, _ := b.ike.counts(); i != 1 {
		t.Fatalf("%d initiations, want 1 (tunnel 1 only)", i)
	}
	st, err := b.g.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cs := st.Connections[0]; cs.State != api.StateConnecting || !strings.Contains(cs.Message, "zone-c") {
		t.Fatalf("status: %+v", cs)
	}

	// Tunnel 1 unrunnable: traffic goes to tunnel 2, which can negotiate.
	b = newDualBed(t)
	id2 := b.createDual("zone-c", "zone-b")
	b.waitState(tunnelName(id2, 1), api.StateConnecting)
	b.waitState(tunnelName(id2, 0), api.StateDown)
	var first esp.TunnelID
	a1, a2 := b.tunnelOf(tunnelName(id2, 0)), b.tunnelOf(tunnelName(id2, 1))
	b.g.call(func() {})
	b.dp.mu.Lock()
	for _, p := range b.dp.policies {
		if p.Tunnel == a1 || p.Tunnel == a2 {
			first = p.Tunnel
			break
		}
	}
	b.dp.mu.Unlock()
	if first != a2 {
		t.Fatalf("first policy of the connection whose tunnel 1 cannot run: tunnel %d, want %d", first, a2)
	}
}

// TestSingleToDual: switching a connection to dual-tunnel mode replaces
// its one tunnel by two; back to single replaces them by one.
func TestSingleToDual(t *testing.T) {
	b := newDualBed(t)
	id := b.create(true)
	b.waitState(id, api.StateConnecting)
	sc, _ := b.st.GetConnection(id)
	c := sc.Connection
	c.TunnelMode, c.PSK, c.IKE, c.IPsec, c.DPD, c.NATTraversal, c.BGP = config.TunnelDual, "", config.IKEConfig{}, config.IPsecConfig{}, nil, nil, config.BGPConfig{}
	c.Tunnels = []config.Tunnel{{Zone: "zone-a", PSK: "secret-1"}, {Zone: "zone-b", PSK: "secret-2"}}
	c.ApplyDefaults("192.0.2.2")
	if _, err := b.st.UpdateConnection(id, c); err != nil {
		t.Fatal(err)
	}
	b.waitState(tunnelName(id, 1), api.StateConnecting)
	var names []string
	b.g.call(func() {
		for n := range b.g.conns {
			names = append(names, n)
		}
	})
	slices.Sort(names)
	if !slices.Equal(names, []string{tunnelName(id, 0), tunnelName(id, 1)}) {
		t.Fatalf("conns after switching to dual: %v", names)
	}
	if got := b.policyTunnels(); !slices.Equal(got, []esp.TunnelID{b.tunnelOf(tunnelName(id, 0)), b.tunnelOf(tunnelName(id, 1))}) {
		t.Fatalf("policies: %v", got)
	}
}

// TestDualTunnelBGP: in destination mode with BGP on both tunnels, each
// tunnel's /30 goes through that tunnel only, the connection's routes
// through the active tunnel first; both /30s are TUN addresses, so neither
// is a route.
func TestDualTunnelBGP(t *testing.T) {
	b := newDualBed(t)
	c := config.Connection{Name: "dual-bgp", CustomerGateway: "192.0.2.1", TunnelMode: config.TunnelDual,
		RoutingMode: config.RoutingDestination, Routes: []string{"10.1.0.0/24"},
		Tunnels: []config.Tunnel{
			{Zone: "zone-a", PSK: "secret-1", BGP: config.BGPConfig{Enabled: true, TunnelCIDR: "169.254.10.0/30", LocalAddress: "169.254.10.1", PeerASN: 65001}},
			{Zone: "zone-b", PSK: "secret-2", BGP: config.BGPConfig{Enabled: true, TunnelCIDR: "169.254.11.0/30", LocalAddress: "169.254.11.1", PeerASN: 65001}},
		}}
	c.ApplyDefaults("192.0.2.2")
	sc, err := b.st.CreateConnection(c)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := tunnelName(sc.ID, 0), tunnelName(sc.ID, 1)
	b.waitState(t2, api.StateConnecting)
	tun1, tun2 := b.tunnelOf(t1), b.tunnelOf(t2)
	policies := func() []string {
		b.g.call(func() {})
		b.dp.mu.Lock()
		defer b.dp.mu.Unlock()
		var out []string
		for _, p := range b.dp.policies {
			out = append(out, fmt.Sprintf("%s@%d", p.Remote, p.Tunnel))
		}
		return out
	}
	want := func(first, second esp.TunnelID, firstNet, secondNet string) []string {
		return []string{fmt.Sprintf("10.1.0.0/24@%d", first), fmt.Sprintf("%s@%d", firstNet, first),
			fmt.Sprintf("10.1.0.0/24@%d", second), fmt.Sprintf("%s@%d", secondNet, second)}
	}
	if got := policies(); !slices.Equal(got, want(tun1, tun2, "169.254.10.0/30", "169.254.11.0/30")) {
		t.Fatalf("policies: %v", got)
	}
	b.g.OnIKEEvent(v2.IKEUp{Peer: t2})
	b.g.OnIKEEvent(dualChildUp(t2, zoneB, 0x200, 0x201))
	b.waitState(t2, api.StateEstablished)
	if got := policies(); !slices.Equal(got, want(tun2, tun1, "169.254.11.0/30", "169.254.10.0/30")) {
		t.Fatalf("policies with tunnel 2 active: %v", got)
	}
	if got := b.kernelRoutes(); !slices.Equal(got, []string{"10.1.0.0/24 dev ipsecgw0"}) {
		t.Fatalf("routes: %v", got)
	}

	// A prefix learned over tunnel 1's session goes through tunnel 1 even
	// while tunnel 2 is active; when its best route moves to tunnel 2's
	// session (tunnel 1's session died), it leaves tunnel 1.
	b.g.OnIKEEvent(v2.IKEUp{Peer: t1})
	b.g.OnIKEEvent(dualChildUp(t1, zoneA, 0x100, 0x101))
	b.waitState(t1, api.StateEstablished)
	lan := netip.MustParsePrefix("10.9.0.0/24")
	b.g.do(func() {
		b.g.learned([]bgp.Learned{{Prefix: lan, NextHop: netip.MustParseAddr("169.254.10.2"), Neighbor: netip.MustParseAddr("169.254.10.2")}})
	})
	if got := policies(); !slices.Contains(got, fmt.Sprintf("10.9.0.0/24@%d", tun1)) || slices.Contains(got, fmt.Sprintf("10.9.0.0/24@%d", tun2)) {
		t.Fatalf("policies with 10.9.0.0/24 learned over tunnel 1: %v", got)
	}
	b.g.do(func() {
		b.g.learned([]bgp.Learned{{Prefix: lan, NextHop: netip.MustParseAddr("169.254.11.2"), Neighbor: netip.MustParseAddr("169.254.11.2")}})
	})
	if got := policies(); slices.Contains(got, fmt.Sprintf("10.9.0.0/24@%d", tun1)) || !slices.Contains(got, fmt.Sprintf("10.9.0.0/24@%d", tun2)) {
		t.Fatalf("policies after 10.9.0.0/24 moved to tunnel 2's session: %v", got)
	}
	if got := b.kernelRoutes(); !slices.Equal(got, []string{"10.1.0.0/24 dev ipsecgw0", "10.9.0.0/24 dev ipsecgw0"}) {
		t.Fatalf("routes: %v", got)
	}
}

// TestDualTunnelOnDemand: an on-demand dual-tunnel connection waits with
// its route installed; the first packet (an Acquire on the active tunnel)
// brings both tunnels up.
func TestDualTunnelOnDemand(t *testing.T) {
	b := newDualBed(t)
	off := false
	c := config.Connection{Name: "lazy", CustomerGateway: "192.0.2.1", TunnelMode: config.TunnelDual,
		RoutingMode: config.RoutingProtectedSubnets, LocalSubnets: []string{"10.2.0.0/24"},
		RemoteSubnets: []string{"10.1.0.0/24"}, EffectiveImmediately: &off,
		Tunnels: []config.Tunnel{{Zone: "zone-a", PSK: "secret-1"}, {Zone: "zone-b", PSK: "secret-2"}}}
	c.ApplyDefaults("192.0.2.2")
	sc, err := b.st.CreateConnection(c)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := tunnelName(sc.ID, 0), tunnelName(sc.ID, 1)
	b.waitState(t1, api.StateIdle)
	b.waitState(t2, api.StateIdle)
	if got := b.kernelRoutes(); !slices.Equal(got, []string{"10.1.0.0/24 dev ipsecgw0"}) {
		t.Fatalf("on-demand route: %v", got)
	}
	if i, _ := b.ike.counts(); i != 0 {
		t.Fatal("initiated without traffic")
	}
	b.g.OnESPEvent(esp.Event{Kind: esp.Acquire, Tunnel: b.tunnelOf(t1)})
	b.waitState(t1, api.StateConnecting)
	b.waitState(t2, api.StateConnecting)
	if i, _ := b.ike.counts(); i != 2 {
		t.Fatalf("%d initiations after the acquire, want 2", i)
	}
}
