package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kernel implements Netlink over rtnetlink with github.com/vishvananda/netlink.
type Kernel struct {
	h *netlink.Handle
}

// NewKernel returns a Kernel that talks through h, which fixes the network
// namespace (netlink.NewHandleAt). A nil h opens a socket per request in the
// namespace of the calling thread, normally the daemon's own.
func NewKernel(h *netlink.Handle) *Kernel {
	if h == nil {
		h = &netlink.Handle{}
	}
	return &Kernel{h: h}
}

// RouteAdd implements Netlink.
func (k *Kernel) RouteAdd(r Route) error {
	nr, err := k.toNetlink(r)
	if err != nil {
		return err
	}
	return k.h.RouteAdd(nr)
}

// RouteDel implements Netlink. ESRCH (no such route) counts as success so a
// route the kernel already dropped, e.g. with its device, is not an error.
func (k *Kernel) RouteDel(r Route) error {
	nr, err := k.toNetlink(r)
	if err != nil {
		// The device is gone, and its routes with it; delete by key.
		nr = &netlink.Route{Dst: prefixToIPNet(r.Dst), Table: r.Table, Priority: r.Metric, Protocol: netlink.RouteProtocol(r.Proto)}
	}
	// RT_SCOPE_NOWHERE matches any scope (as `ip route del` sends), so a
	// route someone else added with our protocol but another scope is
	// deleted rather than reported missing.
	nr.Scope = netlink.SCOPE_NOWHERE
	err = k.h.RouteDel(nr)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// RouteList implements Netlink.
func (k *Kernel) RouteList(p Proto) ([]Route, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: netlink.RouteProtocol(p)}
	mask := uint64(netlink.RT_FILTER_TABLE | netlink.RT_FILTER_PROTOCOL)
	var nrs []netlink.Route
	var err error
	// A dump that raced a change is flagged (NLM_F_DUMP_INTR) and may be
	// incomplete: read it again.
	for range 5 {
		nrs, err = k.h.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	names := make(map[int]string)
	out := make([]Route, 0, len(nrs))
	for _, nr := range nrs {
		r, ok := k.fromNetlink(nr, names)
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (k *Kernel) toNetlink(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{
		Dst:      prefixToIPNet(r.Dst),
		Table:    r.Table,
		Priority: r.Metric,
		Protocol: netlink.RouteProtocol(r.Proto),
		Scope:    netlink.SCOPE_UNIVERSE,
		Type:     unix.RTN_UNICAST,
	}
	if r.Dev != "" {
		l, err := k.h.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", r.Dev, err)
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	} else {
		// A device route reaches its destination directly, as
		// `ip route add P dev D` installs it.
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	return nr, nil
}

// fromNetlink converts a listed route. Multipath and non-unicast routes are
// not ours to manage and are skipped (ok false). names caches ifindex→name.
func (k *Kernel) fromNetlink(nr netlink.Route, names map[int]string) (Route, bool) {
	if nr.Type != unix.RTN_UNICAST || len(nr.MultiPath) > 0 {
		return Route{}, false
	}
	r := Route{Table: nr.Table, Metric: nr.Priority, Proto: Proto(nr.Protocol)}
	if nr.Dst != nil {
		a, ok := netip.AddrFromSlice(nr.Dst.IP)
		if !ok {
			return Route{}, false
		}
		ones, _ := nr.Dst.Mask.Size()
		r.Dst = netip.PrefixFrom(a.Unmap(), ones)
		if nr.Family == unix.AF_INET6 {
			r.Dst = netip.PrefixFrom(a, ones)
		}
	} else if nr.Family == unix.AF_INET6 {
		r.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	} else {
		r.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if a, ok := netip.AddrFromSlice(nr.Gw); ok && nr.Gw != nil {
		r.Via = unmapFor(a, r.Dst)
	}
	if a, ok := netip.AddrFromSlice(nr.Src); ok && nr.Src != nil {
		r.Src = unmapFor(a, r.Dst)
	}
	if nr.LinkIndex != 0 {
		name, ok := names[nr.LinkIndex]
		if !ok {
			if l, err := k.h.LinkByIndex(nr.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			names[nr.LinkIndex] = name
		}
		r.Dev = name
	}
	return r, true
}

// unmapFor returns a in the family of dst: net.IP keeps IPv4 addresses in
// 16-byte form, netip does not.
func unmapFor(a netip.Addr, dst netip.Prefix) netip.Addr {
	if dst.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
