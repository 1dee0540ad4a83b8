package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/vishvananda/netlink"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/daemon"
	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/esp/tunio"
	"github.com/ipsecgw/ipsecgw/esp/udpio"
	"github.com/ipsecgw/ipsecgw/ike/spialloc"
	v1 "github.com/ipsecgw/ipsecgw/ike/v1"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/route"
)

// TunMTU is the MTU of the TUN device: room for the largest ESP-in-UDP
// overhead of the supported transforms on a 1500-byte path. Packets an SA
// cannot carry whole get ICMP "fragmentation needed" from the data plane.
const TunMTU = 1400

// Hook is the daemon's gateway hook (daemon.Options.Gateway): it opens the
// TUN device and the IKE/ESP sockets on the gateway address (and on the
// zones' addresses, for dual-tunnel connections), starts the
// data plane, the IKEv2 negotiator and the connection lifecycle, and
// returns the status provider, the controller and the stop function.
func Hook(ctx context.Context, env *daemon.Env) (api.StatusProvider, api.Controller, func(), error) {
	log := env.Logger.With("component", "gateway")
	addr, err := netip.ParseAddr(env.GatewayAddress)
	if err != nil {
		return nil, nil, nil, errors.New("gateway: no gateway address: set `address` in the daemon configuration")
	}
	var closers []func()
	fail := func(err error) (api.StatusProvider, api.Controller, func(), error) {
		for _, c := range slices.Backward(closers) {
			c()
		}
		return nil, nil, nil, err
	}

	// The zones' addresses (dual-tunnel connections) besides address:
	// IKE listens on each; the data plane's sockets are then unbound and
	// send from each tunnel's own address (IP_PKTINFO).
	zones := env.Config.ZoneAddresses()
	locals := []netip.Addr{addr}
	for _, z := range slices.Sorted(maps.Keys(zones)) {
		if a := zones[z]; !slices.Contains(locals, a) {
			locals = append(locals, a)
		}
	}
	espAddr := addr
	if len(locals) > 1 {
		espAddr = netip.IPv4Unspecified()
		if addr.Is6() {
			espAddr = netip.IPv6Unspecified()
		}
		if env.Config.ESPEncapsulation == config.EncapAuto {
			log.Warn("raw ESP on several gateway addresses: the kernel picks the source address of raw ESP; use esp_encapsulation: udp with zones")
		}
	}

	dev, err := tunio.Create(env.Config.TUN, TunMTU)
	if err != nil {
		return fail(err)
	}
	udp, err := udpio.ListenUDP(netip.AddrPortFrom(espAddr, v2.NATTPort), udpio.Options{})
	if err != nil {
		dev.Close()
		return fail(err)
	}
	var raw esp.Bind
	if r, err := udpio.ListenRawESP(espAddr); err != nil {
		log.Warn("raw ESP (IP protocol 50) unavailable; only UDP-encapsulated ESP will work", "err", err)
	} else {
		raw = r
	}
	ike500 := map[netip.Addr]*net.UDPConn{}
	for _, a := range locals {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, v2.IKEPort)))
		if err != nil {
			dev.Close()
			udp.Close()
			if raw != nil {
				raw.Close()
			}
			return fail(fmt.Errorf("gateway: listen IKE on %s: %w", a, err))
		}
		ike500[a] = c
		closers = append(closers, func() { c.Close() })
	}

	nl, err := netlink.NewHandle()
	if err != nil {
		return fail(fmt.Errorf("gateway: netlink: %w", err))
	}
	closers = append(closers, nl.Close)
	routes, err := route.New(route.Config{Netlink: route.NewKernel(nl), Logger: log.With("component", "route")})
	if err != nil {
		return fail(err)
	}
	if err := routes.Flush(); err != nil {
		log.Warn("flush stale routes", "err", err)
	}

	link, err := nl.LinkByName(dev.Name())
	if err != nil {
		return fail(fmt.Errorf("gateway: %s: %w", dev.Name(), err))
	}
	g := New(Config{Store: env.Store, Address: addr, Zones: zones, TUN: dev.Name(), Routes: routes,
		Addresses: tunAddrs{nl, link}, Logger: log,
		ForceEncap: env.Config.ESPEncapsulation != config.EncapAuto})

	// The engine (and its port-4500 socket) starts before the negotiators,
	// which send through it: IKE packets that arrive before they exist
	// are dropped (the peer retransmits).
	var ikev2, ikev1 atomic.Pointer[func(pkt []byte, local, remote netip.AddrPort)]
	handle := func(pkt []byte, local, remote netip.AddrPort) {
		// The IKE header's version octet (RFC 7296 §3.1, RFC 2408 §3.1)
		// tells IKEv1 from IKEv2; both share ports 500 and 4500.
		h := &ikev2
		if len(pkt) > 17 && pkt[17]>>4 == 1 {
			h = &ikev1
		}
		if f := h.Load(); f != nil {
			(*f)(pkt, local, remote)
		}
	}
	eng, err := esp.New(esp.Config{
		TUN: dev, UDP: udp, RawESP: raw,
		OnIKE: func(pkt []byte, local, remote netip.AddrPort) {
			handle(slices.Clone(pkt), local, remote)
		},
		OnEvent: g.OnESPEvent,
		Logger:  env.Logger.With("component", "esp"),
	})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { eng.Close() })

	send := func(pkt []byte, local, remote netip.AddrPort) error {
		if local.Port() == v2.NATTPort || remote.Port() == v2.NATTPort {
			return eng.SendIKE(pkt, local, remote)
		}
		c := ike500[local.Addr()]
		if c == nil {
			c = ike500[addr]
		}
		_, err := c.WriteToUDPAddrPort(pkt, remote)
		return err
	}
	// Both negotiators feed the one ESP engine, whose inbound table is
	// keyed by SPI: they draw inbound SPIs from one allocator.
	spis := spialloc.New(nil)
	mgr, err := v2.New(v2.Config{Send: send, Lookup: g.Lookup, OnEvent: g.OnIKEEvent,
		Logger: env.Logger.With("component", "ike"), SPIs: spis})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, mgr.Close)
	mgr1, err := v1.New(v1.Config{Send: send, Lookup: g.LookupV1, OnEvent: g.OnIKEEvent,
		Logger: env.Logger.With("component", "ikev1"), SPIs: spis})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, mgr1.Close)
	h2, h1 := mgr.HandlePacket, mgr1.HandlePacket
	ikev2.Store(&h2)
	ikev1.Store(&h1)

	for a, c := range ike500 {
		go readIKE(c, a, handle)
	}
	if err := g.Start(mgr, mgr1, eng); err != nil {
		return fail(err)
	}
	if err := g.Register(env.Registry); err != nil {
		log.Warn("register metrics", "err", err)
	}
	log.Info("gateway running", "address", addr, "zones", zones, "tun", dev.Name(), "raw_esp", raw != nil)
	stop := func() {
		g.Close()
		routes.Flush()
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	return g, g, stop, nil
}

// readIKE feeds datagrams from the port-500 socket to the negotiators.
func readIKE(c *net.UDPConn, local netip.Addr, handle func(pkt []byte, local, remote netip.AddrPort)) {
	buf := make([]byte, 65536)
	lp := netip.AddrPortFrom(local, v2.IKEPort)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		handle(slices.Clone(buf[:n]), lp, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// Lookup is the IKEv2 negotiator's responder lookup (v2.Config.Lookup):
// the connection whose customer gateway is the peer's address and, once
// the peer's identity is known, whose remote ID matches it. Behind a NAT
// the address may be anything: then the identity alone decides.
func (g *Gateway) Lookup(local, remote netip.AddrPort, id *v2.Identity) (*v2.Peer, bool) {
	c := g.lookup(local, remote, id, false)
	if c == nil {
		return nil, false
	}
	return c.peer, true
}

// LookupV1 is the IKEv1 negotiator's responder lookup (v1.Config.Lookup).
func (g *Gateway) LookupV1(local, remote netip.AddrPort, id *v2.Identity) (*v1.Peer, bool) {
	var p *v1.Peer
	g.call(func() {
		if c := g.lookupLocked(local, remote, id, true); c != nil {
			p = c.v1Peer()
		}
	})
	return p, p != nil
}

func (g *Gateway) lookup(local, remote netip.AddrPort, id *v2.Identity, ikev1 bool) *conn {
	var found *conn
	g.call(func() { found = g.lookupLocked(local, remote, id, ikev1) })
	return found
}

// lookupLocked runs on the control goroutine. A tunnel of a dual-tunnel
// connection answers only on its own gateway address: both tunnels may
// have the same customer gateway and identity.
func (g *Gateway) lookupLocked(local, remote netip.AddrPort, id *v2.Identity, ikev1 bool) *conn {
	var byID, byName *conn
	for _, c := range g.conns {
		if c.peer == nil || c.v1() != ikev1 || c.parent != "" && c.local != local.Addr().Unmap() {
			continue
		}
		idOK := id == nil || c.peer.RemoteID == *id
		if c.peer.Remote == remote.Addr().Unmap() && idOK {
			return c
		}
		if byID == nil && id != nil && idOK {
			byID = c
		}
		if byName == nil && c.peer.RemoteID != v2.Identity(c.peer.Remote.String()) {
			byName = c
		}
	}
	if byID != nil {
		return byID
	}
	if id == nil {
		// IKE_SA_INIT from an unknown address: possibly a NATed peer
		// whose identity IKE_AUTH will reveal. Go on with a connection
		// that identifies its peer by name.
		return byName
	}
	return nil
}

// tunAddrs adds and removes addresses of the TUN device over netlink.
type tunAddrs struct {
	nl   *netlink.Handle
	link netlink.Link
}

func (a tunAddrs) AddrAdd(p netip.Prefix) error {
	return a.nl.AddrReplace(a.link, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}})
}

func (a tunAddrs) AddrDel(p netip.Prefix) error {
	return a.nl.AddrDel(a.link, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}})
}
