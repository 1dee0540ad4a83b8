package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// Dual-tunnel connections (SPEC §2: two tunnels, to two gateway addresses
// in different zones, each with its own IKE/IPsec/BGP/DPD settings).
//
// Each tunnel runs as a conn of its own, named <id>/1 and <id>/2: its own
// IKE peer (that name), ESP tunnel, SAs, retries and BGP session, on the
// gateway address of its zone (Config.Zones). Everything per tunnel —
// negotiation, DPD, rekeying — is then exactly the single-tunnel code.
// What the two share:
//
//   - policies: the data plane sends a packet through the first policy
//     that matches, so the active tunnel's policies come first: tunnel 1
//     while it has a CHILD_SA, else tunnel 2 while it has one, else
//     tunnel 1 (where an on-demand connection's first packet then lands).
//     The order is switched the moment a tunnel's CHILD_SAs come or go
//     (failover on DPD, failback when tunnel 1 returns). The standby
//     tunnel keeps its policies behind, so what the peer sends through it
//     passes the inbound selector check.
//   - routes: the union of both tunnels' routes under the stored
//     connection's ID, so the prefixes stay routed while either is up.
//   - status: one connection whose IKE SAs are both tunnels' (told apart
//     by their local address) and whose message says how each tunnel is.

// tunnelName is the conn ID of tunnel i (0-based) of stored connection id.
func tunnelName(id string, i int) string { return fmt.Sprintf("%s/%d", id, i+1) }

// family returns the conns that run stored connection id: itself when
// single-tunnel, its tunnels (in order) when dual. It also accepts a
// tunnel's own conn ID.
func (g *Gateway) family(id string) []*conn {
	if c := g.conns[id]; c != nil {
		return []*conn{c}
	}
	var out []*conn
	for i := range 2 {
		if c := g.conns[tunnelName(id, i)]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

// reconcileDual runs both tunnels of a dual-tunnel connection.
func (g *Gateway) reconcileDual(sc *store.Connection) {
	for i := range sc.Tunnels {
		if i >= 2 {
			break // validation allows exactly two
		}
		t := &sc.Tunnels[i]
		local, ok := g.cfg.Zones[t.Zone]
		why := ""
		if !ok {
			why = fmt.Sprintf("tunnels[%d].zone %q is not a zone of this gateway (daemon configuration zones: %s)",
				i, t.Zone, g.zoneList())
		}
		g.reconcileConn(tunnelConn(sc, i), local, sc.ID, why)
	}
	for i := len(sc.Tunnels); i < 2; i++ {
		if c := g.conns[tunnelName(sc.ID, i)]; c != nil {
			g.remove(c)
		}
	}
	if fam := g.family(sc.ID); len(fam) > 0 {
		g.syncActive(fam[0])
	}
}

// zoneList names the configured zones for messages.
func (g *Gateway) zoneList() string {
	if len(g.cfg.Zones) == 0 {
		return "none"
	}
	zs := make([]string, 0, len(g.cfg.Zones))
	for z, a := range g.cfg.Zones {
		zs = append(zs, z+"="+a.String())
	}
	slices.Sort(zs)
	return strings.Join(zs, ", ")
}

// tunnelConn is tunnel i of dual-tunnel connection sc as a single-tunnel
// connection: the connection's subnets, routes, health check and
// attachment with the tunnel's peer, PSK, IKE, IPsec, DPD, NAT-T and BGP.
func tunnelConn(sc *store.Connection, i int) *store.Connection {
	n := *sc
	n.Connection = *sc.Connection.Clone()
	t := n.Tunnels[i]
	n.ID = tunnelName(sc.ID, i)
	n.CustomerGateway = t.Peer(&sc.Connection)
	n.PSK, n.IKE, n.IPsec, n.BGP = t.PSK, t.IKE, t.IPsec, t.BGP
	n.DPD, n.NATTraversal = t.DPD, t.NATTraversal
	n.TunnelMode, n.Tunnels = config.TunnelSingle, nil
	return &n
}

// activeConn is the tunnel of dual-tunnel connection parent that carries
// its traffic: the first with a CHILD_SA, else the first that can run
// (an on-demand connection's first packet must reach a tunnel that can
// negotiate), else the first.
func (g *Gateway) activeConn(parent string) *conn {
	fam := g.family(parent)
	for _, c := range fam {
		if len(c.children) > 0 {
			return c
		}
	}
	for _, c := range fam {
		if c.peer != nil {
			return c
		}
	}
	if len(fam) > 0 {
		return fam[0]
	}
	return nil
}

// syncActive re-points a dual-tunnel connection's policies when c's
// CHILD_SAs came or went and that changed the active tunnel.
func (g *Gateway) syncActive(c *conn) {
	if c.parent == "" {
		return
	}
	a := g.activeConn(c.parent)
	id := ""
	if a != nil {
		id = a.id
	}
	if g.active[c.parent] == id {
		return
	}
	if prev := g.active[c.parent]; prev != "" {
		g.log.Warn("dual tunnel: switching traffic", "conn", c.parent, "from", prev, "to", id)
	}
	g.active[c.parent] = id
	g.syncPolicies()
}

// dualStatus folds the tunnels of dual-tunnel connection cs into its
// status: the best tunnel's state, and each tunnel's state in Message.
func dualStatus(cs *api.ConnectionStatus, tunnels []tunnelSnap) {
	rank := map[string]int{api.StateEstablished: 4, api.StateConnecting: 3, api.StateIdle: 2, api.StateDown: 1}
	var parts, bgps, healths []string
	best := ""
	for _, t := range tunnels {
		if best == "" || rank[t.state] > rank[best] {
			best = t.state
		}
		p := fmt.Sprintf("tunnel %s (%s): %s", t.n, t.local, t.state)
		if t.active {
			p += ", active"
		}
		if t.msg != "" {
			p += ": " + t.msg
		}
		parts = append(parts, p)
		if t.bgp != "" {
			bgps = append(bgps, t.n+": "+t.bgp)
		}
		if t.health != "" && t.active {
			healths = append(healths, t.health)
		}
	}
	if best != "" {
		cs.State = best
	}
	cs.Message = strings.Join(parts, "; ")
	cs.BGP = strings.Join(bgps, ", ")
	cs.Health = strings.Join(healths, ", ")
}

// tunnelSnap is one tunnel's state for dualStatus.
type tunnelSnap struct {
	n, state, msg, bgp, health string
	local                      netip.Addr
	active                     bool
}
