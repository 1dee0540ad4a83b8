package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/fake"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Addresses of the two-gateway test bed (the lab's numbering).
var (
	addrA   = netip.MustParseAddr("192.0.2.1")
	addrB   = netip.MustParseAddr("192.0.2.2")
	hostA   = netip.MustParseAddr("10.1.0.10")
	hostB   = netip.MustParseAddr("10.2.0.10")
	lanA    = netip.MustParsePrefix("10.1.0.0/24")
	lanB    = netip.MustParsePrefix("10.2.0.0/24")
	spiAtoB = uint32(0x1001)
	spiBtoA = uint32(0x2001)
)

// gw is one side of the test bed.
type gw struct {
	e      *Engine
	tun    *fake.TUN
	udp    *fake.Bind
	raw    *fake.Bind
	events chan Event
	ike    chan []byte
}

type bed struct {
	t     *testing.T
	net   *fake.Network
	clk   *clock
	a, b  *gw
	suite xform.Suite
	encap bool
}

type bedOpts struct {
	suite     xform.Suite
	encap     bool
	pathMTU   int
	clamp     bool
	noSA      bool // install tunnels and policies but no SAs
	esn       bool
	lifetime  Lifetime
	keepalive bool
}

func newGW(t *testing.T, n *fake.Network, clk *clock, addr netip.Addr) *gw {
	g := &gw{tun: fake.NewTUN(1400), udp: n.Bind(netip.AddrPortFrom(addr, 4500)),
		raw: n.Bind(netip.AddrPortFrom(addr, 0)), events: make(chan Event, 1024), ike: make(chan []byte, 16)}
	e, err := New(Config{
		TUN: g.tun, UDP: g.udp, RawESP: g.raw, Now: clk.Now, Tick: -1,
		OnEvent: func(ev Event) { g.events <- ev },
		OnIKE:   func(pkt []byte, _, _ netip.AddrPort) { g.ike <- append([]byte(nil), pkt...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	g.e = e
	t.Cleanup(func() { e.Close() })
	return g
}

// keys returns deterministic key material of the sizes suite needs.
func keys(t testing.TB, s xform.Suite, seed byte) (enc, integ []byte) {
	el, il, err := s.KeyLen()
	if err != nil {
		t.Fatal(err)
	}
	enc, integ = make([]byte, el), make([]byte, il)
	for i := range enc {
		enc[i] = seed + byte(i)
	}
	for i := range integ {
		integ[i] = seed ^ byte(i*7)
	}
	return enc, integ
}

func saCfg(t testing.TB, s xform.Suite, spi uint32, esn bool, life Lifetime) SAConfig {
	enc, integ := keys(t, s, byte(spi))
	return SAConfig{SPI: spi, Suite: s, EncKey: enc, IntegKey: integ, ESN: esn, Tunnel: 1, Lifetime: life}
}

func newBed(t *testing.T, o bedOpts) *bed {
	t.Helper()
	if o.suite == (xform.Suite{}) {
		o.suite = xform.Suite{Encr: xform.EncrAESGCM16, KeyBits: 128}
	}
	bd := &bed{t: t, net: fake.NewNetwork(1), clk: newClock(), suite: o.suite, encap: o.encap}
	bd.a = newGW(t, bd.net, bd.clk, addrA)
	bd.b = newGW(t, bd.net, bd.clk, addrB)
	port := uint16(0)
	if o.encap {
		port = 4500
	}
	for _, side := range []struct {
		g             *gw
		local, remote netip.Addr
		lanL, lanR    netip.Prefix
		outSPI, inSPI uint32
	}{
		{bd.a, addrA, addrB, lanA, lanB, spiAtoB, spiBtoA},
		{bd.b, addrB, addrA, lanB, lanA, spiBtoA, spiAtoB},
	} {
		e := side.g.e
		must(t, e.UpsertTunnel(1, TunnelConfig{Local: netip.AddrPortFrom(side.local, port),
			Remote: netip.AddrPortFrom(side.remote, port), Encap: o.encap, MTU: o.pathMTU,
			ClampMSS: o.clamp, Keepalive: o.keepalive}))
		must(t, e.SetPolicies([]Policy{{Local: side.lanL, Remote: side.lanR, Tunnel: 1}}))
		if o.noSA {
			continue
		}
		must(t, e.AddInbound(saCfg(t, o.suite, side.inSPI, o.esn, o.lifetime)))
		must(t, e.SetOutbound(1, saCfg(t, o.suite, side.outSPI, o.esn, o.lifetime)))
	}
	return bd
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ipv4 builds an IPv4 UDP packet of total length n from src to dst whose
// payload carries id, so deliveries can be matched.
func ipv4(src, dst netip.Addr, n int, id uint32, df bool) []byte {
	p := make([]byte, n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(n))
	binary.BigEndian.PutUint16(p[4:], uint16(id))
	if df {
		p[6] = 0x40
	}
	p[8], p[9] = 64, 17
	copy(p[12:16], src.AsSlice())
	copy(p[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(p[10:], ^fold(checksum(p[:20], 0)))
	binary.BigEndian.PutUint16(p[20:], 1234)
	binary.BigEndian.PutUint16(p[22:], 5678)
	binary.BigEndian.PutUint16(p[24:], uint16(n-20))
	for i := 28; i < n; i++ {
		p[i] = byte(i)
	}
	if n >= 32 {
		binary.BigEndian.PutUint32(p[28:], id)
	}
	return p
}

// collect waits for want packets on g's TUN and returns them by id.
func (g *gw) collect(t *testing.T, want int, wait time.Duration) map[uint32][]byte {
	t.Helper()
	got := map[uint32][]byte{}
	deadline := time.After(wait)
	for len(got) < want {
		select {
		case p := <-g.tun.Delivered():
			if len(p) < 32 {
				t.Fatalf("short delivery %x", p)
			}
			id := binary.BigEndian.Uint32(p[28:])
			if _, dup := got[id]; dup {
				t.Fatalf("packet %d delivered twice", id)
			}
			got[id] = p
		case <-deadline:
			return got
		}
	}
	return got
}

// quiet asserts that nothing more arrives on g's TUN for d.
func (g *gw) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	if p, ok := g.tun.Next(d); ok {
		t.Fatalf("unexpected delivery of %d bytes", len(p))
	}
}

func (g *gw) waitEvent(t *testing.T, kind EventKind, wait time.Duration) Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-g.events:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event", kind)
			return Event{}
		}
	}
}

// waitDrops polls until the engine counted want drops for reason r.
func waitDrops(t *testing.T, e *Engine, r DropReason, want uint64) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if e.Stats().Drops[r] >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("drops[%v] = %d, want ≥ %d", r, e.Stats().Drops[r], want)
}

// send pushes n packets from hostA to hostB through A and checks that B
// delivers them all, byte for byte.
func (bd *bed) pass(t *testing.T, from, to *gw, src, dst netip.Addr, n, size int, base uint32) {
	t.Helper()
	sent := map[uint32][]byte{}
	for i := 0; i < n; i++ {
		p := ipv4(src, dst, size, base+uint32(i), false)
		sent[base+uint32(i)] = p
		from.tun.Inject(p)
	}
	got := to.collect(t, n, 5*time.Second)
	if len(got) != n {
		t.Fatalf("delivered %d of %d packets; stats from %+v to %+v", len(got), n, from.e.Stats().Drops, to.e.Stats().Drops)
	}
	for id, p := range got {
		if !bytes.Equal(p, sent[id]) {
			t.Fatalf("packet %d altered:\n got %x\nwant %x", id, p, sent[id])
		}
	}
}
