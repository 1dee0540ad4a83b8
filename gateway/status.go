package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// Status implements api.StatusProvider: every connection with its IKE SAs
// (from the negotiator) and child SAs with the data plane's counters, in
// the shape of `swanctl --list-sas`.
func (g *Gateway) Status(ctx context.Context) (*api.Status, error) {
	stored, err := g.cfg.Store.ListConnections()
	if err != nil {
		return nil, err
	}
	sas := g.ike.SAs()
	nv2 := len(sas)
	if g.ike1 != nil {
		sas = append(sas, g.ike1.SAs()...)
	}
	stats := g.dp.Stats()
	saStats := make(map[[2]uint32]esp.SAStats, len(stats.SAs))
	for _, s := range stats.SAs {
		saStats[[2]uint32{s.SPI, uint32(s.Direction)}] = s
	}
	type snap struct{ state, msg, bgp, health string }
	states := map[string]snap{}
	tunnels := map[string][]tunnelSnap{} // dual-tunnel connections
	g.call(func() {
		for id, c := range g.conns {
			states[id] = snap{c.state, c.message, g.bgpState(&c.cfg.Connection), c.healthState()}
		}
		for id := range g.active {
			for _, c := range g.family(id) {
				tunnels[id] = append(tunnels[id], tunnelSnap{n: strings.TrimPrefix(c.id, id+"/"), state: c.state, msg: c.message,
					bgp: g.bgpState(&c.cfg.Connection), health: c.healthState(), local: c.local, active: g.active[id] == c.id})
			}
		}
	})
	out := &api.Status{GatewayAddress: g.cfg.Address.String()}
	for _, sc := range stored {
		cs := api.ConnectionStatus{
			ID: sc.ID, Name: sc.Name, CustomerGateway: sc.CustomerGateway,
			State: api.StateConfigured,
		}
		if sc.Attachment != nil {
			cs.TransitRouterID = sc.Attachment.TransitRouterID
		}
		if s, ok := states[sc.ID]; ok {
			cs.State, cs.Message, cs.BGP, cs.Health = s.state, s.msg, s.bgp, s.health
		}
		if ts, ok := tunnels[sc.ID]; ok {
			dualStatus(&cs, ts)
		}
		for i, sa := range sas {
			// A dual-tunnel connection's tunnels are peers <id>/1 and
			// <id>/2; their IKE SAs differ in local address.
			if sa.Peer != sc.ID && !(strings.HasPrefix(sa.Peer, sc.ID+"/") && len(tunnels[sc.ID]) > 0) {
				continue
			}
			st := ikeStatus(uint32(i+1), sa, saStats, g.now)
			if i >= nv2 {
				st.Version = 1
			}
			cs.IKESAs = append(cs.IKESAs, st)
		}
		out.Connections = append(out.Connections, cs)
	}
	return out, nil
}

func ikeStatus(uid uint32, sa v2.IKESAStatus, saStats map[[2]uint32]esp.SAStats, now func() time.Time) api.IKESA {
	s := api.IKESA{
		UniqueID:      uid,
		Version:       2,
		State:         sa.State.String(),
		Initiator:     sa.Initiator,
		LocalAddress:  sa.Local.Addr().String(),
		LocalPort:     int(sa.Local.Port()),
		LocalID:       sa.LocalID,
		RemoteAddress: sa.Remote.Addr().String(),
		RemotePort:    int(sa.Remote.Port()),
		RemoteID:      sa.RemoteID,
		NATLocal:      sa.NATLocal,
		NATRemote:     sa.NATRemote,
		SPIInitiator:  fmt.Sprintf("%016x", sa.SPIi),
		SPIResponder:  fmt.Sprintf("%016x", sa.SPIr),
		Encryption:    encrName(sa.Suite.Encr, sa.Suite.EncrKey),
		PRF:           strings.ToLower(sa.Suite.PRF.String()),
		DHGroup:       sa.Suite.DH.String(),
		EstablishedAt: sa.Established,
	}
	if sa.Suite.Integ != ikecrypto.IntegNone {
		s.Integrity = strings.ToLower(sa.Suite.Integ.String())
	}
	if sa.RekeyIn > 0 {
		s.RekeyAt = now().Add(sa.RekeyIn)
	}
	for j, ch := range sa.Children {
		c := api.ChildSA{
			Name: "net", UniqueID: uid*100 + uint32(j+1),
			State: ch.State.String(), Mode: "TUNNEL", Protocol: "ESP", UDPEncap: ch.Encap,
			SPIIn: fmt.Sprintf("%08x", ch.InSPI), SPIOut: fmt.Sprintf("%08x", ch.OutSPI),
			Encryption:  encrName(ch.Suite.Encr, ch.Suite.EncrKey),
			InstalledAt: ch.Installed,
		}
		if ch.Suite.Integ != ikecrypto.IntegNone {
			c.Integrity = strings.ToLower(ch.Suite.Integ.String())
		}
		if ch.Suite.DH != 0 {
			c.DHGroup = ch.Suite.DH.String()
		}
		if ch.RekeyIn > 0 {
			c.RekeyAt = now().Add(ch.RekeyIn)
		}
		if in, ok := saStats[[2]uint32{ch.InSPI, uint32(esp.Inbound)}]; ok {
			c.BytesIn, c.PacketsIn, c.LastIn = in.BytesIn, in.PacketsIn, in.LastIn
		}
		if out, ok := saStats[[2]uint32{ch.OutSPI, uint32(esp.Outbound)}]; ok {
			c.BytesOut, c.PacketsOut, c.LastOut = out.BytesOut, out.PacketsOut, out.LastOut
		}
		for _, p := range ch.LocalTS {
			c.LocalTS = append(c.LocalTS, p.String())
		}
		for _, p := range ch.RemoteTS {
			c.RemoteTS = append(c.RemoteTS, p.String())
		}
		s.ChildSAs = append(s.ChildSAs, c)
	}
	slices.SortFunc(s.ChildSAs, func(a, b api.ChildSA) int { return int(a.UniqueID) - int(b.UniqueID) })
	return s
}

// encrName writes an algorithm the way swanctl does: AES_CBC-128.
func encrName(e ikecrypto.EncrID, bits int) string {
	if bits == 0 {
		return e.String()
	}
	return fmt.Sprintf("%s-%d", e.String(), bits)
}
