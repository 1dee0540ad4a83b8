// Package route keeps the kernel routing tables in line with what each IPsec
// connection wants to be reachable through the gateway.
//
// The model is tailscale's wgengine/router: callers hand the Reconciler the
// complete desired set for one owner (a connection) and Set emits only the
// difference against the kernel, so calling it again with the same input is
// free and correct after anything changed underneath (a TUN device that went
// down takes its routes with it; the next Set puts them back).
//
// Ownership lives in two places. In memory, the Reconciler remembers which
// owner asked for which route, so one connection's Set never touches another
// connection's routes. In the kernel, every route carries a dedicated rtnetlink
// protocol number (ProtoIpsecgw, 0xB5; rtnetlink(7) "rtm_protocol"), so after a
// crash or restart Flush finds the routes a previous run left behind without
// touching routes installed by the operator, BIRD, FRR or the kernel itself.
//
// Netlink sits behind the small Netlink interface: Kernel implements it with
// github.com/vishvananda/netlink, Fake records the operations for table tests.
package route

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Proto is an rtnetlink route protocol number (RTPROT_*, the "proto" column
// of `ip route`). Values above RTPROT_STATIC (4) are free for routing daemons;
// /etc/iproute2/rt_protos reserves 8–18, 42, 99, 186–192 for known ones.
type Proto uint8

// Protocol numbers.
const (
	// ProtoUnspec means "not set"; in a desired Route it selects ProtoIpsecgw.
	ProtoUnspec Proto = 0
	// ProtoKernel marks routes the kernel adds for connected addresses.
	ProtoKernel Proto = 2
	// ProtoStatic marks routes added by an administrator (`ip route add`).
	ProtoStatic Proto = 4
	// ProtoIpsecgw marks every route ipsecgw installs. 0xB5 (181) is not in
	// iproute2's rt_protos, so `ip route` prints the number unless the
	// operator adds "181 ipsecgw" to /etc/iproute2/rt_protos.d/.
	ProtoIpsecgw Proto = 0xB5
)

// String returns the iproute2 name of the protocol, or its number.
func (p Proto) String() string {
	switch p {
	case ProtoUnspec:
		return "unspec"
	case ProtoKernel:
		return "kernel"
	case ProtoStatic:
		return "static"
	case ProtoIpsecgw:
		return "ipsecgw"
	}
	return strconv.Itoa(int(p))
}

// Routing table numbers (rtnetlink(7) RT_TABLE_*).
const (
	// TableMain is the table `ip route` shows; Table 0 in a Route means main.
	TableMain = 254
	// TableLocal holds the kernel's local and broadcast routes; never ours.
	TableLocal = 255
)

// ipv6DefaultMetric is the metric the kernel assigns to an IPv6 route added
// with metric 0 (IP6_RT_PRIO_USER). Normalising to it keeps Set idempotent:
// otherwise the listed route (1024) never matches the desired one (0).
const ipv6DefaultMetric = 1024

// Route is one kernel route the gateway wants. Dst and at least one of Dev
// or Via are required; everything else is optional.
type Route struct {
	// Dst is the destination prefix; host bits are cleared.
	Dst netip.Prefix
	// Dev is the outgoing interface name (the TUN device for tunnel routes).
	// Empty means the kernel picks it from Via.
	Dev string
	// Via is an optional gateway (e.g. the BGP next hop). The zero value
	// installs a device route (scope link), as `ip route add P dev D` does.
	Via netip.Addr
	// Table is the routing table id; 0 means TableMain.
	Table int
	// Src is the optional preferred source address (RTA_PREFSRC). It must
	// be a local address, or the kernel rejects the route with EINVAL.
	Src netip.Addr
	// Metric is the route priority (RTA_PRIORITY); lower wins. Together
	// with Table and Dst it identifies the route in the kernel.
	Metric int
	// Proto is the rtnetlink protocol the route is tagged with; ProtoUnspec
	// means ProtoIpsecgw. It must be one the Reconciler owns.
	Proto Proto
}

// String formats the route like `ip route` does.
func (r Route) String() string {
	s := r.Dst.String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != 0 && r.Table != TableMain {
		s += " table " + strconv.Itoa(r.Table)
	}
	s += " proto " + r.Proto.String()
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	if r.Metric != 0 {
		s += " metric " + strconv.Itoa(r.Metric)
	}
	return s
}

// key identifies a route in the kernel: for both IPv4 and IPv6 a second
// route with the same table, destination and priority is a duplicate
// (EEXIST), whatever its device or gateway.
type key struct {
	table  int
	dst    netip.Prefix
	metric int
}

func (r Route) key() key { return key{table: r.Table, dst: r.Dst, metric: r.Metric} }

// normalize fills in the defaults the kernel would report back, so that a
// desired route compares equal to the route RouteList returns for it.
func (r Route) normalize() (Route, error) {
	if !r.Dst.IsValid() {
		return r, fmt.Errorf("route: %v: destination required", r)
	}
	r.Dst = r.Dst.Masked()
	if r.Dev == "" && !r.Via.IsValid() {
		return r, fmt.Errorf("route: %v: device or gateway required", r)
	}
	if r.Via.IsValid() && r.Via.Is4() != r.Dst.Addr().Is4() {
		return r, fmt.Errorf("route: %v: gateway family differs from destination", r)
	}
	if r.Src.IsValid() && r.Src.Is4() != r.Dst.Addr().Is4() {
		return r, fmt.Errorf("route: %v: source family differs from destination", r)
	}
	if r.Table == 0 {
		r.Table = TableMain
	}
	if r.Table < 0 || r.Table == TableLocal {
		return r, fmt.Errorf("route: %v: table %d not allowed", r, r.Table)
	}
	if r.Metric < 0 {
		return r, fmt.Errorf("route: %v: negative metric", r)
	}
	if r.Metric == 0 && r.Dst.Addr().Is6() {
		r.Metric = ipv6DefaultMetric
	}
	if r.Proto == ProtoUnspec {
		r.Proto = ProtoIpsecgw
	}
	return r, nil
}

// Netlink is the slice of rtnetlink the Reconciler needs. Kernel implements
// it for a network namespace; Fake records calls for tests.
type Netlink interface {
	// RouteAdd installs r; it fails (EEXIST) if a route with the same
	// table, destination and metric exists.
	RouteAdd(r Route) error
	// RouteDel removes the route with r's table, destination and metric.
	// A route that is already gone is not an error.
	RouteDel(r Route) error
	// RouteList returns the routes of all tables and both families tagged
	// with protocol p.
	RouteList(p Proto) ([]Route, error)
}
