package esp

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TunnelConfig describes the outer side of a tunnel.
type TunnelConfig struct {
	// Local is our outer address (informational for raw ESP; the source of
	// UDP datagrams when the bind supports choosing it).
	Local netip.AddrPort
	// Remote is the peer's outer address; with Encap its port is normally
	// 4500 or whatever the NAT mapped it to.
	Remote netip.AddrPort
	// Encap selects ESP-in-UDP on the UDP bind (RFC 3948) instead of raw
	// IP protocol 50.
	Encap bool
	// Keepalive sends a one-byte 0xFF NAT keepalive every 20 s in which
	// nothing else was sent (RFC 3948 §2.3, §4). Only with Encap, when we
	// are the side behind the NAT.
	Keepalive bool
	// MTU is the outer path MTU; 0 means 1500. Inner packets larger than
	// what fits are refused with ICMP fragmentation-needed when they carry DF.
	MTU int
	// ClampMSS rewrites the MSS option of TCP SYNs in both directions to fit
	// the tunnel, for hosts whose PMTUD is broken.
	ClampMSS bool
	// QueueLimit bounds the acquire queue; 0 means 64 packets.
	QueueLimit int
	// AnyInbound skips the inbound selector check (RFC 4301 §5.2) for
	// route-based tunnels whose SAs carry 0.0.0.0/0 ⇄ 0.0.0.0/0: their
	// outbound policies come from routes, which say nothing about which
	// sources the peer may send from. Otherwise a decrypted packet must
	// match one of the tunnel's policies, mirrored.
	AnyInbound bool
}

// keepaliveEvery is RFC 3948 §4's default NAT keepalive interval.
const keepaliveEvery = 20 * time.Second

// tunnel is the engine's state for one TunnelID. The pointer stays the same
// across UpsertTunnel, so SAs can hold it.
type tunnel struct {
	id     TunnelID
	cfg    atomic.Pointer[TunnelConfig]
	remote atomic.Pointer[netip.AddrPort] // follows NAT changes (SetPeer, PeerMoved)
	out    atomic.Pointer[outboundSA]
	c      counters

	lastKeepalive atomic.Int64 // unix ns
	keepalives    atomic.Uint64

	mu          sync.Mutex    // guards the fields below (slow path only)
	queue       [][]byte      // acquire queue: buffers with the packet at headroom
	queueLen    []int         // inner length of each queued packet
	queueFree   [][]byte      // recycled queue buffers
	lastAcquire time.Time     // rate limit for Acquire events
	retired     []*outboundSA // replaced outbound SAs, newest last, for Stats
}

func (t *tunnel) config() *TunnelConfig { return t.cfg.Load() }

func (c *TunnelConfig) pathMTU() int {
	if c.MTU > 0 {
		return c.MTU
	}
	return 1500
}

func (c *TunnelConfig) queueLimit() int {
	if c.QueueLimit > 0 {
		return c.QueueLimit
	}
	return 64
}

// computeInnerMTU derives an outbound SA's inner MTU from the tunnel.
func computeInnerMTU(c *TunnelConfig, sa *outboundSA) int {
	room := c.pathMTU() - outerLen(c.Remote.Addr().Is6(), c.Encap)
	return innerMTU(room, sa.x.IVLen(), sa.x.BlockSize(), sa.x.ICVLen())
}

// UpsertTunnel creates tunnel id or changes its configuration. Existing SAs
// and queued packets stay.
func (e *Engine) UpsertTunnel(id TunnelID, cfg TunnelConfig) error {
	if !cfg.Remote.Addr().IsValid() {
		return fmt.Errorf("esp: tunnel %d: remote address required", id)
	}
	if cfg.Encap && cfg.Remote.Port() == 0 {
		return fmt.Errorf("esp: tunnel %d: UDP encapsulation needs a remote port", id)
	}
	if cfg.Encap && e.cfg.UDP == nil || !cfg.Encap && e.cfg.RawESP == nil {
		return fmt.Errorf("esp: tunnel %d: no bind for encap=%v", id, cfg.Encap)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.tunnels.Load()
	t := old[id]
	if t == nil {
		t = &tunnel{id: id}
		m := maps.Clone(old)
		m[id] = t
		defer e.tunnels.Store(&m)
	}
	c := cfg
	t.cfg.Store(&c)
	r := cfg.Remote
	t.remote.Store(&r)
	if sa := t.out.Load(); sa != nil {
		sa.innerMTU.Store(int32(computeInnerMTU(&c, sa)))
	}
	e.log.Info("esp: tunnel configured", "tunnel", id, "remote", cfg.Remote, "encap", cfg.Encap)
	return nil
}

// RemoveTunnel deletes the tunnel, its SAs and its queued packets. Policies
// that point at it drop their traffic (no_sa) until SetPolicies removes them.
func (e *Engine) RemoveTunnel(id TunnelID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.tunnels.Load()
	t := old[id]
	if t == nil {
		return
	}
	m := maps.Clone(old)
	delete(m, id)
	e.tunnels.Store(&m)
	in := maps.Clone(*e.inbound.Load())
	maps.DeleteFunc(in, func(_ uint32, sa *inboundSA) bool { return sa.tunnel == t })
	e.inbound.Store(&in)
	t.out.Store(nil)
	t.mu.Lock()
	t.queue, t.queueLen = nil, nil
	t.mu.Unlock()
}

// SetPolicies replaces the whole policy table atomically.
func (e *Engine) SetPolicies(ps []Policy) error {
	t, err := newPolicyTable(ps)
	if err != nil {
		return err
	}
	e.policies.Store(t)
	return nil
}

// SetPeer changes the tunnel's remote address, e.g. when IKE sees the peer's
// NAT mapping change (RFC 7296 §2.23).
func (e *Engine) SetPeer(id TunnelID, remote netip.AddrPort) error {
	t := (*e.tunnels.Load())[id]
	if t == nil {
		return fmt.Errorf("esp: tunnel %d does not exist", id)
	}
	t.remote.Store(&remote)
	return nil
}

func (e *Engine) tunnel(id TunnelID) (*tunnel, error) {
	t := (*e.tunnels.Load())[id]
	if t == nil {
		return nil, fmt.Errorf("esp: tunnel %d does not exist", id)
	}
	return t, nil
}

// Stats returns a snapshot of every counter.
func (e *Engine) Stats() Stats {
	var s Stats
	for i := range e.drops {
		s.Drops[i] = e.drops[i].Load()
	}
	s.KeepalivesIn = e.keepalivesIn.Load()
	s.IKEIn = e.ikeIn.Load()
	s.EventsDropped = e.eventsDropped.Load()
	s.AcquireQueued = e.acquireQueued.Load()
	s.ICMPTooBigSent = e.icmpTooBigSent.Load()
	tunnels := *e.tunnels.Load()
	for _, id := range slices.Sorted(maps.Keys(tunnels)) {
		t := tunnels[id]
		ts := TunnelStats{ID: id, Remote: *t.remote.Load(), Encap: t.config().Encap,
			Keepalives: t.keepalives.Load(), Counters: t.c.snapshot()}
		out := t.out.Load()
		if out != nil {
			ts.OutboundSPI = out.spi
		}
		t.mu.Lock()
		ts.Queued = len(t.queue)
		sas := append(slices.Clone(t.retired), out)
		t.mu.Unlock()
		for _, sa := range sas {
			if sa != nil {
				s.SAs = append(s.SAs, sa.stats(Outbound, sa.seq.Load()))
			}
		}
		s.Tunnels = append(s.Tunnels, ts)
	}
	in := *e.inbound.Load()
	for _, spi := range slices.Sorted(maps.Keys(in)) {
		sa := in[spi]
		s.SAs = append(s.SAs, sa.stats(Inbound, sa.top.Load()))
	}
	return s
}

func (s *saState) stats(d Direction, seq uint64) SAStats {
	return SAStats{SPI: s.spi, Tunnel: s.tunnel.id, Direction: d, Seq: seq, Added: s.added,
		Retired: s.retired.Load(), Expired: s.expired.Load(), Counters: s.c.snapshot()}
}
