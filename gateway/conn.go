package gateway

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v1 "github.com/ipsecgw/ipsecgw/ike/v1"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/route"
	"github.com/ipsecgw/ipsecgw/store"
)

// conn is the gateway's state for one stored connection. Owned by run.
type conn struct {
	id     string
	cfg    *store.Connection
	peer   *v2.Peer
	tunnel esp.TunnelID
	// local is the gateway address the tunnel terminates on.
	local netip.Addr
	// parent is the stored connection of a dual-tunnel conn ("" for a
	// single-tunnel one, whose id is the stored ID); id is then
	// parent/1 or parent/2 and cfg that tunnel's settings as a
	// single-tunnel configuration (tunnelConn).
	parent string
	// unrunnable says why the conn cannot run (a zone the daemon does
	// not know); "" normally.
	unrunnable string

	state   string // api.State*
	message string // why, when down
	// wanted: the tunnel should be up (effective immediately, or traffic
	// or the operator asked for it); failures then re-initiate.
	wanted     bool
	connecting bool
	ikeUp      bool
	children   map[uint32]*child // by inbound SPI
	retry      *time.Timer
	backoff    time.Duration
	// removed: the connection was deleted from the store.
	removed bool
	// learned holds the prefixes the peer advertised over BGP.
	learned map[netip.Prefix]bool
	// health is the running health check, nil when off or the tunnel is down.
	health *health
}

// child is one installed CHILD_SA pair.
type child struct {
	in, out           uint32
	suite             ikecrypto.ChildSuite
	localTS, remoteTS []netip.Prefix
	installed         time.Time
	encap             bool
}

// reconcile brings stored connection id in line with the store: create,
// update (renegotiating when anything that IKE or ESP use changed) or
// delete. A dual-tunnel connection runs as two conns, one per tunnel
// (see dual.go).
func (g *Gateway) reconcile(id string) {
	sc, err := g.cfg.Store.GetConnection(id)
	if errors.Is(err, store.ErrNotFound) {
		for _, c := range g.family(id) {
			g.remove(c)
		}
		return
	}
	if err != nil {
		g.log.Error("read connection", "conn", id, "err", err)
		return
	}
	if sc.TunnelMode == config.TunnelDual {
		if c := g.conns[id]; c != nil {
			g.remove(c) // was single-tunnel
		}
		g.reconcileDual(sc)
		return
	}
	for _, c := range g.family(id) {
		if c.parent != "" {
			g.remove(c) // was dual-tunnel
		}
	}
	g.reconcileConn(sc, g.cfg.Address, "", "")
}

// reconcileConn brings one conn (a single-tunnel connection, or one tunnel
// of a dual-tunnel connection: parent set) in line with sc, terminating on
// local. A non-empty unrunnable says why it cannot run at all.
func (g *Gateway) reconcileConn(sc *store.Connection, local netip.Addr, parent, unrunnable string) {
	id := sc.ID
	c := g.conns[id]
	var old *config.Connection
	if c != nil {
		old = &c.cfg.Connection
	}
	if c != nil && c.local == local && c.unrunnable == unrunnable && !materialChange(c.cfg, sc, local) {
		c.cfg = sc // name, attachment: routes may move to another table
		g.syncRoutes(c)
		return
	}
	if c == nil {
		g.nextTunnel++
		c = &conn{id: id, parent: parent, tunnel: g.nextTunnel, children: map[uint32]*child{}}
		g.conns[id] = c
		g.byTunnel[c.tunnel] = c
		g.metrics.tunnel(c.tunnel, id)
		g.log.Info("connection added", "conn", id, "name", sc.Name, "local", local)
	} else {
		g.log.Info("connection changed: renegotiating", "conn", id)
		g.teardown(c, "configuration changed")
	}
	c.cfg, c.local, c.unrunnable = sc, local, unrunnable
	g.syncBGP(c, old)
	if unrunnable != "" {
		c.peer = nil
		g.setState(c, api.StateDown, unrunnable)
		return
	}
	if c.v1() && g.ike1 == nil {
		c.peer = nil
		g.setState(c, api.StateDown, "IKEv1 is not available in this gateway: use ike.version ikev2")
		return
	}
	peer, err := peerFor(sc, local)
	if err != nil {
		c.peer = nil
		g.setState(c, api.StateDown, err.Error())
		return
	}
	peer.ForceEncap = g.cfg.ForceEncap && peer.NATT
	c.peer = peer
	remote := netip.AddrPortFrom(peer.Remote, v2.NATTPort)
	if err := g.dp.UpsertTunnel(c.tunnel, esp.TunnelConfig{
		Local: netip.AddrPortFrom(local, v2.NATTPort), Remote: remote, Encap: sc.NATTEnabled(),
		AnyInbound: sc.Mode() == config.RoutingDestination,
	}); err != nil {
		g.log.Error("data plane tunnel", "conn", id, "err", err)
	}
	g.syncPolicies()
	c.backoff = 0
	if sc.Immediate() {
		c.wanted = true
		g.initiate(c)
	} else {
		c.wanted = false
		g.setState(c, api.StateIdle, "waiting for traffic")
	}
	g.syncRoutes(c)
}

// v1 reports whether c negotiates IKEv1.
func (c *conn) v1() bool { return c.cfg.IKE.EffectiveVersion() == config.IKEv1 }

// v1Peer is c's IKEv1 configuration: the common peer plus the phase-1 mode.
func (c *conn) v1Peer() *v1.Peer {
	return &v1.Peer{Peer: *c.peer, Aggressive: c.cfg.IKE.Mode == config.ModeAggressive}
}

// materialChange reports whether b differs from a in anything but the
// name and the attachment/authorizations (which touch no SA).
func materialChange(a, b *store.Connection, local netip.Addr) bool {
	x, y := a.Connection.Clone(), b.Connection.Clone()
	x.Name, y.Name = "", ""
	return !config.Equivalent(x, y, local.String())
}

// remove forgets a deleted connection: SAs deleted at the peer, routes
// withdrawn, tunnel and policies gone.
func (g *Gateway) remove(c *conn) {
	g.log.Info("connection deleted", "conn", c.id)
	g.teardown(c, "deleted")
	c.removed = true
	g.syncBGP(c, &c.cfg.Connection)
	g.syncHealth(c)
	if c.parent != "" {
		g.syncRoutes(c) // the sibling's routes stay
	} else if g.cfg.Routes != nil {
		if err := g.cfg.Routes.Clear(c.id); err != nil {
			g.log.Warn("clear routes", "conn", c.id, "err", err)
		}
	}
	g.dp.RemoveTunnel(c.tunnel)
	delete(g.conns, c.id)
	delete(g.byTunnel, c.tunnel)
	if c.parent != "" {
		if len(g.family(c.parent)) == 0 {
			delete(g.active, c.parent)
		} else {
			g.active[c.parent] = "" // recomputed just below
			g.syncActive(g.family(c.parent)[0])
		}
	}
	g.syncPolicies()
	g.metrics.forget(c.id)
}

// initiate starts IKE for c unless it is already up or on its way.
func (g *Gateway) initiate(c *conn) error {
	if c.peer == nil || c.connecting || c.ikeUp {
		return nil
	}
	if c.retry != nil {
		c.retry.Stop()
		c.retry = nil
	}
	var err error
	if c.v1() {
		err = g.ike1.Initiate(c.v1Peer())
	} else {
		err = g.ike.Initiate(c.peer)
	}
	if err != nil {
		g.setState(c, api.StateDown, err.Error())
		g.scheduleRetry(c)
		return err
	}
	c.connecting = true
	g.setState(c, api.StateConnecting, "")
	return nil
}

// teardown deletes c's SAs (IKE sends the Delete payloads) and removes
// them from the data plane.
func (g *Gateway) teardown(c *conn, why string) {
	if c.retry != nil {
		c.retry.Stop()
		c.retry = nil
	}
	if c.connecting || c.ikeUp {
		if c.v1() {
			g.ike1.Terminate(c.id)
		} else {
			g.ike.Terminate(c.id)
		}
	}
	g.dropChildren(c)
	c.connecting, c.ikeUp = false, false
	g.setState(c, api.StateDown, why)
	g.syncRoutes(c)
}

// dropChildren removes every CHILD_SA of c from the data plane at once.
func (g *Gateway) dropChildren(c *conn) {
	for spi := range c.children {
		g.dp.RemoveInbound(spi, 0)
	}
	clear(c.children)
	g.dp.RemoveOutbound(c.tunnel)
	g.syncActive(c)
}

// scheduleRetry re-initiates a wanted connection after an exponential
// backoff (RetryMin doubling up to RetryMax).
func (g *Gateway) scheduleRetry(c *conn) {
	if !c.wanted || c.retry != nil {
		return
	}
	switch {
	case c.backoff == 0:
		c.backoff = g.cfg.RetryMin
	case c.backoff < g.cfg.RetryMax:
		c.backoff = min(2*c.backoff, g.cfg.RetryMax)
	}
	g.log.Info("re-initiating later", "conn", c.id, "in", c.backoff)
	c.retry = g.after(c.backoff, func() {
		c.retry = nil
		if g.conns[c.id] == c && c.wanted {
			g.initiate(c)
		}
	})
}

func (g *Gateway) setState(c *conn, state, msg string) {
	c.state, c.message = state, msg
	g.metrics.state(c.id, state)
	g.syncHealth(c)
}

// handleIKE applies one negotiator event.
func (g *Gateway) handleIKE(ev v2.Event) {
	switch ev := ev.(type) {
	case v2.IKEUp:
		c := g.conns[ev.Peer]
		if c == nil {
			return
		}
		c.ikeUp, c.connecting = true, false
		if ev.Rekeyed {
			g.metrics.rekey(c.id, "ike")
		}
		g.log.Info("IKE SA established", "conn", c.id, "remote", ev.Remote, "initiator", ev.Initiator,
			"suite", ev.Suite.String(), "rekeyed", ev.Rekeyed)
	case v2.IKEDown:
		c := g.conns[ev.Peer]
		// Rekeyed: the children moved to the new IKE SA. Deleted: we
		// terminated it ourselves and teardown already cleaned up (a new
		// SA of the same connection may be on its way).
		if c == nil || ev.Reason == v2.ReasonRekeyed || ev.Reason == v2.ReasonDeleted {
			return
		}
		msg := ev.Reason.String()
		if ev.Err != nil {
			msg += ": " + ev.Err.Error()
		}
		g.log.Warn("IKE SA down", "conn", c.id, "reason", ev.Reason.String(), "err", ev.Err)
		g.metrics.down(c.id, ev.Reason.String())
		c.ikeUp, c.connecting = false, false
		g.dropChildren(c)
		g.setState(c, api.StateDown, msg)
		if !c.cfg.Immediate() && ev.Reason != v2.ReasonAuthFailed && ev.Reason != v2.ReasonNoProposal {
			// On-demand connection: go back to waiting for traffic.
			c.wanted = false
			g.setState(c, api.StateIdle, "waiting for traffic (last: "+msg+")")
		}
		g.syncRoutes(c)
		g.scheduleRetry(c)
	case v2.ChildUp:
		g.childUp(ev)
	case v2.ChildDown:
		c := g.conns[ev.Peer]
		if c == nil || c.children[ev.InSPI] == nil {
			return // already removed by teardown
		}
		grace := time.Duration(0)
		if ev.Reason == v2.ReasonRekeyed {
			grace = g.cfg.InboundGrace
		}
		g.dp.RemoveInbound(ev.InSPI, grace)
		delete(c.children, ev.InSPI)
		if len(c.children) == 0 && ev.Reason != v2.ReasonRekeyed {
			g.dp.RemoveOutbound(c.tunnel)
			g.syncActive(c)
			if c.ikeUp {
				g.setState(c, api.StateConnecting, "no CHILD_SA: "+ev.Reason.String())
			}
			g.syncRoutes(c)
		}
	case v2.PeerMoved:
		c := g.conns[ev.Peer]
		if c == nil {
			return
		}
		g.log.Info("peer moved", "conn", c.id, "from", ev.From, "to", ev.To)
		if err := g.dp.SetPeer(c.tunnel, ev.To); err != nil {
			g.log.Warn("data plane peer move", "conn", c.id, "err", err)
		}
	}
}

// childUp installs a CHILD_SA: inbound first, then outbound, so the peer's
// first packets under the new SA are accepted before we switch
// (make-before-break). The replaced inbound SA goes on its ChildDown.
func (g *Gateway) childUp(ev v2.ChildUp) {
	c := g.conns[ev.Peer]
	if c == nil {
		return
	}
	local, remote := ev.Local, ev.Remote
	if ev.Encap {
		// ESP-in-UDP goes to the NAT-T port (RFC 3948 §2.1) even when the
		// IKE SA itself never floated off port 500 (strongSwan's faked NAT
		// as initiator does that).
		local, remote = natt(local), natt(remote)
	}
	if err := g.dp.UpsertTunnel(c.tunnel, esp.TunnelConfig{
		Local: local, Remote: remote, Encap: ev.Encap, Keepalive: ev.Encap,
		AnyInbound: c.cfg.Mode() == config.RoutingDestination,
	}); err != nil {
		g.log.Error("data plane tunnel", "conn", c.id, "err", err)
		return
	}
	suite := espSuite(ev.Suite)
	in := esp.SAConfig{SPI: ev.InSPI, Suite: suite, EncKey: ev.EncKeyIn, IntegKey: ev.IntegKeyIn, Tunnel: c.tunnel}
	out := esp.SAConfig{SPI: ev.OutSPI, Suite: suite, EncKey: ev.EncKeyOut, IntegKey: ev.IntegKeyOut, Tunnel: c.tunnel}
	if err := g.dp.AddInbound(in); err != nil {
		g.log.Error("install inbound SA", "conn", c.id, "spi", in.String(), "err", err)
		return
	}
	if err := g.dp.SetOutbound(c.tunnel, out); err != nil {
		g.log.Error("install outbound SA", "conn", c.id, "spi", out.String(), "err", err)
		g.dp.RemoveInbound(ev.InSPI, 0)
		return
	}
	c.children[ev.InSPI] = &child{in: ev.InSPI, out: ev.OutSPI, suite: ev.Suite,
		localTS: slices.Clone(ev.LocalTS), remoteTS: slices.Clone(ev.RemoteTS), installed: g.now(), encap: ev.Encap}
	c.connecting = false
	c.backoff = 0 // success: the next failure starts the backoff afresh
	if ev.Rekeyed {
		g.metrics.rekey(c.id, "child")
	}
	g.log.Info("CHILD_SA installed", "conn", c.id, "spi_in", in.String(), "spi_out", out.String(),
		"suite", ev.Suite.String(), "local_ts", ev.LocalTS, "remote_ts", ev.RemoteTS, "encap", ev.Encap, "rekeyed", ev.Rekeyed)
	g.setState(c, api.StateEstablished, "")
	g.syncActive(c)
	g.syncRoutes(c)
}

// natt moves an IKE endpoint on port 500 to the NAT-T port 4500.
func natt(ap netip.AddrPort) netip.AddrPort {
	if ap.Port() == v2.IKEPort {
		return netip.AddrPortFrom(ap.Addr(), v2.NATTPort)
	}
	return ap
}

// handleESP applies one data-plane event.
func (g *Gateway) handleESP(ev esp.Event) {
	c := g.byTunnel[ev.Tunnel]
	if c == nil {
		return
	}
	switch ev.Kind {
	case esp.Acquire:
		// Both tunnels of a dual-tunnel connection come up on traffic.
		for _, c := range g.family(cmp.Or(c.parent, c.id)) {
			if !c.ikeUp && !c.connecting {
				g.log.Info("traffic for the tunnel: negotiating", "conn", c.id)
				c.wanted = true
				g.initiate(c)
			}
		}
	case esp.HardExpire, esp.SeqExhausted:
		g.log.Warn("SA limit reached", "conn", c.id, "event", ev.Kind.String(), "spi", ev.SPI)
	case esp.PeerMoved:
		g.log.Info("peer address changed", "conn", c.id, "remote", ev.Remote)
		if !c.v1() {
			// IKE follows, or its next DPD goes to the dead NAT mapping.
			g.ike.FollowESP(c.id, ev.SPI, ev.Remote)
		}
	}
}

// syncPolicies rebuilds the data plane's selector table from every
// connection: protected-subnets mode uses its local×remote subnets,
// destination mode its routes with any source. Both tunnels of a
// dual-tunnel connection get the connection's policies, the active tunnel
// first: outbound lookup takes the first match (so traffic leaves through
// the active tunnel), and the inbound selector check (RFC 4301 §5.2)
// accepts the peer's traffic on either tunnel, whichever its side sends on.
func (g *Gateway) syncPolicies() {
	var ps []esp.Policy
	ids := make([]string, 0, len(g.conns))
	for id := range g.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	done := map[string]bool{}
	for _, id := range ids {
		c := g.conns[id]
		if c.parent == "" {
			ps = c.appendPolicies(ps)
			continue
		}
		if done[c.parent] {
			continue
		}
		done[c.parent] = true
		a := g.activeConn(c.parent)
		ps = a.appendPolicies(ps)
		for _, s := range g.family(c.parent) {
			if s != a {
				ps = s.appendPolicies(ps)
			}
		}
	}
	if err := g.dp.SetPolicies(ps); err != nil {
		g.log.Error("data plane policies", "err", err)
	}
}

// appendPolicies appends c's policies to ps.
func (c *conn) appendPolicies(ps []esp.Policy) []esp.Policy {
	if c.cfg.Mode() == config.RoutingProtectedSubnets {
		lts, rts := c.cfg.TrafficSelectors()
		for _, l := range lts {
			for _, r := range rts {
				ps = append(ps, esp.Policy{Local: l, Remote: r, Tunnel: c.tunnel})
			}
		}
		return ps
	}
	any4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	for _, r := range c.routedPrefixes() {
		ps = append(ps, esp.Policy{Local: any4, Remote: r, Tunnel: c.tunnel})
	}
	return ps
}

// syncRoutes installs c's routes into the TUN while the tunnel carries
// traffic, or while it waits for traffic (on-demand: the route is what
// brings the first packet to us), and withdraws them otherwise. An attached
// connection also publishes them into its transit router's table. A failed
// health check with switch_route withdraws them too, except a host route
// to the probe target so that the probes notice the recovery. The two
// tunnels of a dual-tunnel connection publish the union of their routes
// under the stored connection's ID: the prefixes stay routed while either
// tunnel is up.
func (g *Gateway) syncRoutes(c *conn) {
	if g.cfg.Routes == nil {
		return
	}
	rs := g.routesOf(c)
	owner := c.id
	if c.parent != "" {
		owner, rs = c.parent, nil
		for _, s := range g.family(c.parent) {
			for _, r := range g.routesOf(s) {
				if !slices.Contains(rs, r) {
					rs = append(rs, r)
				}
			}
		}
	}
	if err := g.cfg.Routes.Set(owner, rs); err != nil {
		g.log.Warn("routes", "conn", owner, "err", err)
	}
}

// routesOf is what c alone wants routed into the TUN now.
func (g *Gateway) routesOf(c *conn) []route.Route {
	up := !c.removed && (c.state == api.StateEstablished || c.state == api.StateIdle ||
		(!c.cfg.Immediate() && c.state == api.StateConnecting))
	var rs []route.Route
	add := func(p netip.Prefix, tables ...int) {
		for _, t := range tables {
			rs = append(rs, route.Route{Dst: p, Dev: g.cfg.TUN, Table: t})
		}
	}
	if up && c.healthy() {
		tables := []int{route.TableMain}
		if t := g.transitTable(c); t != 0 {
			tables = append(tables, t)
		}
		for _, p := range c.routedPrefixes() {
			if b, ok := bgpConfig(&c.cfg.Connection); ok && p == b.tunnel.Masked() {
				continue // the /30 is the TUN address's connected route
			}
			add(p, tables...)
		}
	} else if up && c.health != nil {
		add(netip.PrefixFrom(c.health.dst, c.health.dst.BitLen()), route.TableMain)
	}
	return rs
}

// routedPrefixes is what c routes into the tunnel: its configured routes
// (the remote subnets in protected-subnets mode), the BGP tunnel /30 and
// the prefixes learned over BGP.
func (c *conn) routedPrefixes() []netip.Prefix {
	ps := c.cfg.TunnelRoutes()
	if b, ok := bgpConfig(&c.cfg.Connection); ok {
		ps = append(ps, b.tunnel.Masked())
	}
	for p := range c.learned {
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits()) })
	return ps
}

// transitTable returns the kernel table of the transit router c is
// attached to, 0 when unattached.
func (g *Gateway) transitTable(c *conn) int {
	if c.cfg.Attachment == nil {
		return 0
	}
	tr, err := g.cfg.Store.GetTransitRouter(c.cfg.Attachment.TransitRouterID)
	if err != nil {
		return 0
	}
	return tr.RouteTable
}
