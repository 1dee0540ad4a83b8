// Package gateway is the running IPsec gateway: it drives every stored
// connection to the state its configuration asks for. It wires the store
// (what is configured), the IKEv2 negotiator (ike/v2), the ESP data plane
// (esp) and the route reconciler (route) together:
//
//	store change ─► reconcile(conn) ─► ESP tunnel + policies, IKE initiate/terminate, trap routes
//	IKE ChildUp  ─► ESP inbound SA, outbound SA (make-before-break), routes
//	IKE ChildDown/IKEDown ─► SAs removed, routes withdrawn, re-initiate with backoff
//	ESP Acquire  ─► initiate (effective_immediately: false)
//
// A dual-tunnel connection runs as two such connections, one per tunnel,
// each on the gateway address of its zone (dual.go).
//
// One goroutine (run) owns all per-connection state; IKE and ESP callbacks
// and API calls are queued to it as closures, so no handler ever races
// another and callbacks never block the negotiator or the data plane.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/ipsecgw/ipsecgw/bgp"
	"github.com/ipsecgw/ipsecgw/esp"
	v1 "github.com/ipsecgw/ipsecgw/ike/v1"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/route"
	"github.com/ipsecgw/ipsecgw/store"
)

// Negotiator is what the gateway needs of the IKE layer (ike/v2's Manager).
type Negotiator interface {
	HandlePacket(pkt []byte, local, remote netip.AddrPort)
	Initiate(p *v2.Peer) error
	Terminate(name string) int
	SAs() []v2.IKESAStatus
	// FollowESP moves the peer's IKE SA to where authenticated ESP now
	// comes from (a NAT rebinding).
	FollowESP(name string, inSPI uint32, to netip.AddrPort) int
}

// NegotiatorV1 is what the gateway needs of the IKEv1 layer (ike/v1's
// Manager): the same events and status as IKEv2, its own peer type.
type NegotiatorV1 interface {
	HandlePacket(pkt []byte, local, remote netip.AddrPort)
	Initiate(p *v1.Peer) error
	Terminate(name string) int
	SAs() []v2.IKESAStatus
}

// DataPlane is what the gateway needs of the ESP engine.
type DataPlane interface {
	UpsertTunnel(id esp.TunnelID, cfg esp.TunnelConfig) error
	RemoveTunnel(id esp.TunnelID)
	SetPolicies(ps []esp.Policy) error
	AddInbound(cfg esp.SAConfig) error
	RemoveInbound(spi uint32, grace time.Duration)
	SetOutbound(id esp.TunnelID, cfg esp.SAConfig) error
	RemoveOutbound(id esp.TunnelID)
	SetPeer(id esp.TunnelID, remote netip.AddrPort) error
	Stats() esp.Stats
}

// Routes is what the gateway needs of the route reconciler.
type Routes interface {
	Set(owner string, desired []route.Route) error
	Clear(owner string) error
}

// Config wires a Gateway.
type Config struct {
	Store   *store.Store
	Address netip.Addr // the gateway's own (outer) address
	// Zones maps a zone name to the gateway's address in that zone: the
	// tunnels of a dual-tunnel connection terminate on the addresses of
	// their zones (daemon configuration zones).
	Zones  map[string]netip.Addr
	TUN    string // name of the TUN device routes point at
	Routes Routes // nil: no kernel routes (tests)
	// Addresses manages the TUN device's addresses (BGP tunnel /30s);
	// nil: none are added.
	Addresses Addresses
	// ForceEncap carries ESP in UDP 4500 on connections with NAT-T on even
	// without a NAT (daemon esp_encapsulation: udp).
	ForceEncap bool
	// NoBGP and NoHealthChecks disable the BGP speaker and the ICMP
	// probers (unit tests without sockets).
	NoBGP, NoHealthChecks bool
	Logger                *slog.Logger
	Now                   func() time.Time
	// InboundGrace is how long a replaced inbound SA keeps accepting
	// packets after a rekey (make-before-break). Default 10 s.
	InboundGrace time.Duration
	// RetryMin and RetryMax bound the re-initiation backoff after a
	// failure. Defaults 2 s and 60 s.
	RetryMin, RetryMax time.Duration
}

// Gateway drives connections. Create it with New, attach the negotiator
// and data plane with Start.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	ike     Negotiator
	ike1    NegotiatorV1 // nil: IKEv1 connections are refused
	dp      DataPlane
	metrics *metrics

	ops  chan func() // serialized work for run
	done chan struct{}
	wg   sync.WaitGroup

	// Owned by run.
	conns      map[string]*conn
	byTunnel   map[esp.TunnelID]*conn
	active     map[string]string // dual-tunnel connection → conn ID of its active tunnel
	nextTunnel esp.TunnelID
	unsub      func()
	speaker    *bgp.Speaker // nil until a connection enables BGP
}

// New creates a gateway. Start attaches the IKE and ESP layers.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InboundGrace <= 0 {
		cfg.InboundGrace = 10 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 60 * time.Second
	}
	return &Gateway{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		metrics:  newMetrics(),
		ops:      make(chan func(), 4096),
		done:     make(chan struct{}),
		conns:    map[string]*conn{},
		byTunnel: map[esp.TunnelID]*conn{},
		active:   map[string]string{},
	}
}

// Start attaches the negotiators (ike1 may be nil) and the data plane,
// loads every stored connection and follows store changes until Close.
func (g *Gateway) Start(ike Negotiator, ike1 NegotiatorV1, dp DataPlane) error {
	g.ike, g.ike1, g.dp = ike, ike1, dp
	g.wg.Add(1)
	go g.run()
	g.unsub = g.cfg.Store.Subscribe(func(ch store.Change) {
		g.do(func() { g.reconcile(ch.ID) })
	})
	conns, err := g.cfg.Store.ListConnections()
	if err != nil {
		return err
	}
	for _, c := range conns {
		id := c.ID
		g.do(func() { g.reconcile(id) })
	}
	return nil
}

// Close deletes every SA at its peer (Delete payloads), withdraws the
// routes and stops the control loop.
func (g *Gateway) Close() {
	if g.unsub != nil {
		g.unsub()
	}
	g.call(func() {
		for _, c := range g.conns {
			g.teardown(c, "gateway shutting down")
			c.removed = true
			g.syncHealth(c)
			if g.cfg.Routes != nil {
				g.cfg.Routes.Clear(cmp.Or(c.parent, c.id))
			}
			if b, ok := bgpConfig(&c.cfg.Connection); ok && g.cfg.Addresses != nil {
				g.cfg.Addresses.AddrDel(b.tunnel)
			}
		}
		if g.speaker != nil {
			g.speaker.Close()
		}
	})
	close(g.done)
	g.wg.Wait()
}

// do queues f to run on the control goroutine. It never blocks the caller
// for long: IKE and ESP callbacks must not stall.
func (g *Gateway) do(f func()) {
	select {
	case g.ops <- f:
	case <-g.done:
	}
}

// call runs f on the control goroutine and waits for it.
func (g *Gateway) call(f func()) {
	ch := make(chan struct{})
	g.do(func() { f(); close(ch) })
	select {
	case <-ch:
	case <-g.done:
	}
}

func (g *Gateway) run() {
	defer g.wg.Done()
	for {
		select {
		case f := <-g.ops:
			f()
		case <-g.done:
			return
		}
	}
}

// after runs f on the control goroutine after d, unless the gateway closed.
func (g *Gateway) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { g.do(f) })
}

// OnIKEEvent is the negotiator's event callback (v2.Config.OnEvent).
func (g *Gateway) OnIKEEvent(ev v2.Event) { g.do(func() { g.handleIKE(ev) }) }

// OnESPEvent is the data plane's event callback (esp.Config.OnEvent).
func (g *Gateway) OnESPEvent(ev esp.Event) { g.do(func() { g.handleESP(ev) }) }

// Initiate implements api.Controller.
func (g *Gateway) Initiate(ctx context.Context, id string) error {
	var err error
	g.call(func() {
		fam := g.family(id)
		if len(fam) == 0 {
			err = fmt.Errorf("gateway: no connection %s", id)
			return
		}
		var errs []error
		for _, c := range fam {
			c.wanted = true
			errs = append(errs, g.initiate(c))
		}
		err = errors.Join(errs...)
	})
	return err
}

// Terminate implements api.Controller.
func (g *Gateway) Terminate(ctx context.Context, id string) error {
	var err error
	g.call(func() {
		fam := g.family(id)
		if len(fam) == 0 {
			err = fmt.Errorf("gateway: no connection %s", id)
			return
		}
		for _, c := range fam {
			g.teardown(c, "terminated by operator")
			c.wanted = false
		}
	})
	return err
}

var _ Negotiator = (*v2.Manager)(nil)
var _ NegotiatorV1 = (*v1.Manager)(nil)
var _ DataPlane = (*esp.Engine)(nil)
