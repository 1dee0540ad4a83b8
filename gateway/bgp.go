package gateway

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgw/ipsecgw/bgp"
	"github.com/ipsecgw/ipsecgw/config"
)

// BGP through the tunnel (SPEC §1, BGP): one embedded speaker serves every
// connection with BGP enabled; each connection is one neighbor at the peer
// address of its tunnel /30, with its own local ASN. The gateway puts the
// local tunnel address on the TUN device, routes the /30 into the tunnel,
// announces the connection's bgp.announce prefixes, and installs what the
// peer advertises as routes into the tunnel (GoBGP installs nothing itself).

// Addresses manages the addresses of the TUN device (the BGP tunnel /30s).
type Addresses interface {
	AddrAdd(p netip.Prefix) error
	AddrDel(p netip.Prefix) error
}

// bgpOf is the BGP part of a connection's configuration, resolved.
type bgpOf struct {
	local, peer netip.Addr
	tunnel      netip.Prefix // local address with the /30 length
	peerASN     uint32
	localASN    uint32
	announce    []netip.Prefix
}

func bgpConfig(c *config.Connection) (bgpOf, bool) {
	if !c.BGP.Enabled {
		return bgpOf{}, false
	}
	peer, ok := c.PeerBGPAddress()
	local, err := netip.ParseAddr(c.BGP.LocalAddress)
	if !ok || err != nil {
		return bgpOf{}, false
	}
	b := bgpOf{local: local, peer: peer, tunnel: netip.PrefixFrom(local, 30),
		peerASN: uint32(c.BGP.PeerASN), localASN: uint32(c.BGP.EffectiveLocalASN())}
	for _, s := range c.BGP.Announce {
		if p, err := netip.ParsePrefix(s); err == nil {
			b.announce = append(b.announce, p.Masked())
		}
	}
	return b, true
}

// syncBGP makes the speaker's neighbor, announcements and the TUN address
// match c's configuration (old is what was configured before, if anything).
func (g *Gateway) syncBGP(c *conn, old *config.Connection) {
	var was, now bgpOf
	var hadBGP, hasBGP bool
	if old != nil {
		was, hadBGP = bgpConfig(old)
	}
	if c.cfg != nil && !c.removed {
		now, hasBGP = bgpConfig(&c.cfg.Connection)
	}
	if hadBGP && (!hasBGP || was.peer != now.peer || was.local != now.local || was.localASN != now.localASN || was.peerASN != now.peerASN) {
		g.bgpDown(c, was)
		hadBGP = false
	}
	if !hasBGP {
		return
	}
	sp := g.ensureSpeaker(now)
	if sp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !hadBGP {
		if g.cfg.Addresses != nil {
			if err := g.cfg.Addresses.AddrAdd(now.tunnel); err != nil {
				g.log.Warn("bgp: tunnel address", "conn", c.id, "addr", now.tunnel, "err", err)
			}
		}
		if err := sp.AddNeighbor(ctx, bgp.Neighbor{Address: now.peer, PeerASN: now.peerASN,
			LocalASN: now.localASN, LocalAddress: now.local}); err != nil {
			g.log.Warn("bgp: add neighbor", "conn", c.id, "neighbor", now.peer, "err", err)
		}
	}
	for _, p := range was.announce {
		if !slices.Contains(now.announce, p) {
			sp.Withdraw(ctx, p)
		}
	}
	for _, p := range now.announce {
		if err := sp.Announce(ctx, p, now.local); err != nil {
			g.log.Warn("bgp: announce", "conn", c.id, "prefix", p, "err", err)
		}
	}
}

// bgpDown removes c's neighbor, announcements, learned routes and address.
func (g *Gateway) bgpDown(c *conn, b bgpOf) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if g.speaker != nil {
		for _, p := range b.announce {
			g.speaker.Withdraw(ctx, p)
		}
		if err := g.speaker.RemoveNeighbor(ctx, b.peer); err != nil {
			g.log.Debug("bgp: remove neighbor", "conn", c.id, "err", err)
		}
	}
	if g.cfg.Addresses != nil {
		g.cfg.Addresses.AddrDel(b.tunnel)
	}
	clear(c.learned)
}

// ensureSpeaker starts the embedded speaker on first use. Its global ASN
// is the first BGP connection's local ASN; every neighbor sets its own.
func (g *Gateway) ensureSpeaker(b bgpOf) *bgp.Speaker {
	if g.speaker != nil {
		return g.speaker
	}
	if g.cfg.NoBGP {
		return nil
	}
	sp, err := bgp.New(bgp.Config{ASN: b.localASN, RouterID: g.cfg.Address,
		Logger: g.log.With("component", "bgp")})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = sp.Start(ctx)
		cancel()
	}
	if err != nil {
		g.log.Error("bgp: start speaker", "err", err)
		return nil
	}
	sp.OnRoutes(func(ls []bgp.Learned) { g.do(func() { g.learned(ls) }) })
	g.speaker = sp
	return sp
}

// learned applies route changes from the speaker: each prefix belongs to
// the connection whose BGP peer advertised it. The speaker reports the
// best route per prefix, so a prefix whose best route moved to another
// neighbor (the other tunnel of a dual-tunnel connection, say, when this
// one's session died) leaves the connection that had it.
func (g *Gateway) learned(ls []bgp.Learned) {
	touched := map[*conn]bool{}
	for _, l := range ls {
		for _, c := range g.conns {
			b, ok := bgpConfig(&c.cfg.Connection)
			if !ok {
				continue
			}
			if b.peer != l.Neighbor {
				if !l.Withdrawn && c.learned[l.Prefix] {
					delete(c.learned, l.Prefix)
					touched[c] = true
					g.log.Info("bgp: route moved to another neighbor", "conn", c.id, "prefix", l.Prefix, "to", l.Neighbor)
				}
				continue
			}
			if l.Withdrawn {
				delete(c.learned, l.Prefix)
			} else {
				if c.learned == nil {
					c.learned = map[netip.Prefix]bool{}
				}
				c.learned[l.Prefix] = true
			}
			touched[c] = true
			g.log.Info("bgp: route", "conn", c.id, "change", l.String())
		}
	}
	if len(touched) == 0 {
		return
	}
	g.syncPolicies()
	for c := range touched {
		g.syncRoutes(c)
	}
}

// bgpState reports c's BGP session state for status ("" without BGP).
func (g *Gateway) bgpState(c *config.Connection) string {
	b, ok := bgpConfig(c)
	if !ok {
		return ""
	}
	if g.speaker == nil {
		return "idle"
	}
	for _, n := range g.speaker.Neighbors() {
		if n.Address == b.peer {
			return n.State.String()
		}
	}
	return "idle"
}
