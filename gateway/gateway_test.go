package gateway

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/route"
	"github.com/ipsecgw/ipsecgw/store"
)

// fakeIKE records what the gateway asks of the negotiator.
type fakeIKE struct {
	mu          sync.Mutex
	initiated   []string
	terminated  []string
	peers       map[string]*v2.Peer // last Initiate per name
	initiateErr error
}

func (f *fakeIKE) HandlePacket([]byte, netip.AddrPort, netip.AddrPort) {}
func (f *fakeIKE) Initiate(p *v2.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.initiated = append(f.initiated, p.Name)
	if f.peers == nil {
		f.peers = map[string]*v2.Peer{}
	}
	f.peers[p.Name] = p
	return f.initiateErr
}
func (f *fakeIKE) Terminate(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.terminated = append(f.terminated, name)
	return 1
}
func (f *fakeIKE) SAs() []v2.IKESAStatus                        { return nil }
func (f *fakeIKE) FollowESP(string, uint32, netip.AddrPort) int { return 0 }
func (f *fakeIKE) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.initiated), len(f.terminated)
}

// fakeESP records the data plane's tables.
type fakeESP struct {
	mu       sync.Mutex
	tunnels  map[esp.TunnelID]esp.TunnelConfig
	policies []esp.Policy
	inbound  map[uint32]time.Duration // SPI → grace when removed (-1 while installed)
	outbound map[esp.TunnelID]uint32
}

func newFakeESP() *fakeESP {
	return &fakeESP{tunnels: map[esp.TunnelID]esp.TunnelConfig{}, inbound: map[uint32]time.Duration{}, outbound: map[esp.TunnelID]uint32{}}
}
func (f *fakeESP) UpsertTunnel(id esp.TunnelID, c esp.TunnelConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tunnels[id] = c
	return nil
}
func (f *fakeESP) RemoveTunnel(id esp.TunnelID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tunnels, id)
}
func (f *fakeESP) SetPolicies(ps []esp.Policy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies = slices.Clone(ps)
	return nil
}
func (f *fakeESP) AddInbound(c esp.SAConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inbound[c.SPI] = -1
	return nil
}
func (f *fakeESP) RemoveInbound(spi uint32, grace time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.inbound[spi]; ok {
		f.inbound[spi] = grace
	}
}
func (f *fakeESP) SetOutbound(id esp.TunnelID, c esp.SAConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outbound[id] = c.SPI
	return nil
}
func (f *fakeESP) RemoveOutbound(id esp.TunnelID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.outbound, id)
}
func (f *fakeESP) SetPeer(esp.TunnelID, netip.AddrPort) error { return nil }
func (f *fakeESP) Stats() esp.Stats                           { return esp.Stats{} }

type bed struct {
	t      *testing.T
	st     *store.Store
	ike    *fakeIKE
	dp     *fakeESP
	routes *route.Fake
	g      *Gateway
}

func newBed(t *testing.T) *bed { return newBedWith(t, nil) }

// newBedWith is newBed with mod applied to the gateway's configuration.
func newBedWith(t *testing.T, mod func(*Config)) *bed {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rf := route.NewFake()
	rec, err := route.New(route.Config{Netlink: rf})
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{t: t, st: st, ike: &fakeIKE{}, dp: newFakeESP(), routes: rf}
	b.g = New(Config{Store: st, Address: netip.MustParseAddr("192.0.2.2"), TUN: "ipsecgw0", Routes: rec,
		NoBGP: true, NoHealthChecks: true, RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	if mod != nil {
		mod(&b.g.cfg)
	}
	if err := b.g.Start(b.ike, nil, b.dp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.g.Close)
	return b
}

func (b *bed) create(immediate bool) string {
	b.t.Helper()
	c := config.Connection{Name: "hq", CustomerGateway: "192.0.2.1", PSK: "secret",
		RoutingMode: config.RoutingProtectedSubnets, LocalSubnets: []string{"10.2.0.0/24"},
		RemoteSubnets: []string{"10.1.0.0/24"}, EffectiveImmediately: &immediate}
	c.ApplyDefaults("192.0.2.2")
	sc, err := b.st.CreateConnection(c)
	if err != nil {
		b.t.Fatal(err)
	}
	return sc.ID
}

// state waits for the control loop to settle and returns c's state.
func (b *bed) state(id string) (string, string) {
	var s, m string
	b.g.call(func() {
		if c := b.g.conns[id]; c != nil {
			s, m = c.state, c.message
		}
	})
	return s, m
}

func (b *bed) waitState(id, want string) {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if s, _ := b.state(id); s == want {
			return
		}
		if time.Now().After(deadline) {
			s, m := b.state(id)
			b.t.Fatalf("state %s (%s), want %s", s, m, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bed) kernelRoutes() []string {
	var out []string
	for _, r := range b.routes.Routes() {
		out = append(out, r.Dst.String()+" dev "+r.Dev)
	}
	slices.Sort(out)
	return out
}

func childUp(id string, in, out uint32, rekeyed bool, replaces uint32) v2.ChildUp {
	return v2.ChildUp{Peer: id, InSPI: in, OutSPI: out,
		Suite: ikecrypto.ChildSuite{Encr: ikecrypto.EncrAESCBC, EncrKey: 128, Integ: ikecrypto.IntegHMACSHA196},
		Local: netip.MustParseAddrPort("192.0.2.2:4500"), Remote: netip.MustParseAddrPort("192.0.2.1:4500"),
		Encap: true, Rekeyed: rekeyed, ReplacesSPI: replaces,
		LocalTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}
}

// TestLifecycle walks one connection through establish, rekey, dead peer
// (routes withdrawn, re-initiation) and delete.
func TestLifecycle(t *testing.T) {
	b := newBed(t)
	id := b.create(true)
	b.waitState(id, api.StateConnecting)
	if n, _ := b.ike.counts(); n != 1 {
		t.Fatalf("initiated %d times, want 1", n)
	}
	if len(b.kernelRoutes()) != 0 {
		t.Fatalf("routes before the tunnel is up: %v", b.kernelRoutes())
	}
	b.g.OnIKEEvent(v2.IKEUp{Peer: id})
	b.g.OnIKEEvent(childUp(id, 0x100, 0x200, false, 0))
	b.waitState(id, api.StateEstablished)
	if got := b.kernelRoutes(); !slices.Equal(got, []string{"10.1.0.0/24 dev ipsecgw0"}) {
		t.Fatalf("routes %v", got)
	}
	b.g.call(func() {})
	b.dp.mu.Lock()
	if b.dp.inbound[0x100] != -1 || b.dp.outbound[1] != 0x200 || len(b.dp.policies) != 1 {
		t.Fatalf("data plane: in %v out %v policies %v", b.dp.inbound, b.dp.outbound, b.dp.policies)
	}
	b.dp.mu.Unlock()

	// Rekey: the new pair goes in, the old inbound SA leaves with a grace
	// period (make-before-break), the route stays.
	b.g.OnIKEEvent(childUp(id, 0x101, 0x201, true, 0x100))
	b.g.OnIKEEvent(v2.ChildDown{Peer: id, InSPI: 0x100, OutSPI: 0x200, Reason: v2.ReasonRekeyed})
	b.g.call(func() {})
	b.dp.mu.Lock()
	if b.dp.inbound[0x100] != b.g.cfg.InboundGrace || b.dp.outbound[1] != 0x201 {
		t.Fatalf("after rekey: in %v out %v", b.dp.inbound, b.dp.outbound)
	}
	b.dp.mu.Unlock()
	if len(b.kernelRoutes()) != 1 {
		t.Fatalf("route lost in rekey: %v", b.kernelRoutes())
	}

	// Dead peer: SAs and routes go, and the connection re-initiates.
	b.g.OnIKEEvent(v2.IKEDown{Peer: id, Reason: v2.ReasonDeadPeer})
	b.waitState(id, api.StateDown)
	if len(b.kernelRoutes()) != 0 {
		t.Fatalf("routes after dead peer: %v", b.kernelRoutes())
	}
	b.g.call(func() {})
	b.dp.mu.Lock()
	if _, ok := b.dp.outbound[1]; ok {
		t.Fatal("outbound SA left after dead peer")
	}
	b.dp.mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for n, _ := b.ike.counts(); n < 2; n, _ = b.ike.counts() {
		if time.Now().After(deadline) {
			t.Fatal("no re-initiation after dead peer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, m := b.state(id)
	t.Logf("after dead peer: %s", m)

	// Delete: IKE terminated, tunnel gone.
	if err := b.st.DeleteConnection(id); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		var gone bool
		b.g.call(func() { gone = b.g.conns[id] == nil })
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, n := b.ike.counts(); n == 0 {
		t.Fatal("delete did not terminate the IKE SA")
	}
	b.dp.mu.Lock()
	defer b.dp.mu.Unlock()
	if len(b.dp.tunnels) != 0 || len(b.dp.policies) != 0 {
		t.Fatalf("tunnel or policies left: %v %v", b.dp.tunnels, b.dp.policies)
	}
}

// TestOnDemandAcquire: a connection that is not effective immediately
// waits with its route installed (so traffic reaches the TUN) and
// negotiates on the first Acquire from the data plane.
func TestOnDemandAcquire(t *testing.T) {
	b := newBed(t)
	id := b.create(false)
	b.waitState(id, api.StateIdle)
	if n, _ := b.ike.counts(); n != 0 {
		t.Fatal("on-demand connection initiated without traffic")
	}
	if got := b.kernelRoutes(); len(got) != 1 {
		t.Fatalf("on-demand connection needs its route while idle: %v", got)
	}
	var tunnel esp.TunnelID
	b.g.call(func() { tunnel = b.g.conns[id].tunnel })
	b.g.OnESPEvent(esp.Event{Kind: esp.Acquire, Tunnel: tunnel})
	b.waitState(id, api.StateConnecting)
	if n, _ := b.ike.counts(); n != 1 {
		t.Fatalf("initiated %d times after acquire, want 1", n)
	}
	// A second acquire while negotiating does not start another exchange.
	b.g.OnESPEvent(esp.Event{Kind: esp.Acquire, Tunnel: tunnel})
	b.g.call(func() {})
	if n, _ := b.ike.counts(); n != 1 {
		t.Fatalf("initiated %d times after two acquires, want 1", n)
	}
}

// TestModifyRenegotiates: a material change tears the SAs down and starts
// again; a rename does not.
func TestModifyRenegotiates(t *testing.T) {
	b := newBed(t)
	id := b.create(true)
	b.waitState(id, api.StateConnecting)
	b.g.OnIKEEvent(v2.IKEUp{Peer: id})
	b.g.OnIKEEvent(childUp(id, 0x100, 0x200, false, 0))
	b.waitState(id, api.StateEstablished)

	sc, _ := b.st.GetConnection(id)
	renamed := sc.Connection
	renamed.Name = "head-office"
	if _, err := b.st.UpdateConnection(id, renamed); err != nil {
		t.Fatal(err)
	}
	b.g.call(func() {})
	time.Sleep(20 * time.Millisecond)
	b.g.call(func() {})
	if _, n := b.ike.counts(); n != 0 {
		t.Fatal("a rename renegotiated")
	}
	changed := renamed
	changed.PSK = "another-secret"
	if _, err := b.st.UpdateConnection(id, changed); err != nil {
		t.Fatal(err)
	}
	b.waitState(id, api.StateConnecting)
	if i, n := b.ike.counts(); n != 1 || i != 2 {
		t.Fatalf("after a PSK change: %d initiations, %d terminations; want 2, 1", i, n)
	}
}

// TestLookup: a responder exchange finds its connection by the peer's
// address, or behind a NAT by its identity.
func TestLookup(t *testing.T) {
	b := newBed(t)
	id := b.create(false)
	b.waitState(id, api.StateIdle)
	local := netip.MustParseAddrPort("192.0.2.2:500")
	if p, ok := b.g.Lookup(local, netip.MustParseAddrPort("192.0.2.1:500"), nil); !ok || p.Name != id {
		t.Fatalf("lookup by address: %v %v", p, ok)
	}
	if _, ok := b.g.Lookup(local, netip.MustParseAddrPort("198.51.100.9:500"), nil); ok {
		t.Fatal("unknown peer with an IP identity accepted")
	}
	idv := v2.Identity("192.0.2.1")
	if p, ok := b.g.Lookup(local, netip.MustParseAddrPort("198.51.100.9:4500"), &idv); !ok || p.Name != id {
		t.Fatalf("lookup by identity behind NAT: %v %v", p, ok)
	}
	wrong := v2.Identity("other.example.org")
	if _, ok := b.g.Lookup(local, netip.MustParseAddrPort("192.0.2.1:500"), &wrong); ok {
		t.Fatal("wrong identity accepted")
	}
}

// TestTransitRouterRoutes: an attached connection publishes its routes
// into the transit router's table as well as the main table; detaching
// withdraws them from the transit router without renegotiating.
func TestTransitRouterRoutes(t *testing.T) {
	b := newBed(t)
	id := b.create(true)
	b.waitState(id, api.StateConnecting)
	b.g.OnIKEEvent(v2.IKEUp{Peer: id})
	b.g.OnIKEEvent(childUp(id, 0x100, 0x200, false, 0))
	b.waitState(id, api.StateEstablished)
	tr, err := b.st.CreateTransitRouter(config.TransitRouter{Name: "tr1", RouteTable: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.Attach(config.Attachment{ConnectionID: id, TransitRouterID: tr.ID, Zone: "zone-a"}); err != nil {
		t.Fatal(err)
	}
	tables := func() []int {
		var ts []int
		for _, r := range b.routes.Routes() {
			ts = append(ts, r.Table)
		}
		slices.Sort(ts)
		return ts
	}
	deadline := time.Now().Add(2 * time.Second)
	for !slices.Equal(tables(), []int{100, route.TableMain}) {
		if time.Now().After(deadline) {
			t.Fatalf("route tables after attach: %v, want [100 %d]", tables(), route.TableMain)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := b.st.Detach(id); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for !slices.Equal(tables(), []int{route.TableMain}) {
		if time.Now().After(deadline) {
			t.Fatalf("route tables after detach: %v", tables())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if i, n := b.ike.counts(); i != 1 || n != 0 {
		t.Fatalf("attach/detach renegotiated: %d initiations, %d terminations", i, n)
	}
}
