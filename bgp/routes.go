package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Announce originates prefix with the given next hop (ORIGIN IGP). An
// invalid nexthop means 0.0.0.0 (or ::), which GoBGP rewrites to the session's
// local address towards eBGP peers. Announcing a prefix again replaces the
// previous announcement (e.g. a new next hop).
func (s *Speaker) Announce(ctx context.Context, prefix netip.Prefix, nexthop netip.Addr) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	p, err := newPath(prefix, nexthop, s.cfg)
	if err != nil {
		return err
	}
	if _, err := srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p}); err != nil {
		return fmt.Errorf("bgp: announce %v: %w", prefix, err)
	}
	s.mu.Lock()
	s.announced[prefix] = p
	s.mu.Unlock()
	s.log.Info("bgp: announced", "prefix", prefix, "nexthop", nexthop)
	return nil
}

// Withdraw stops announcing prefix; the peers receive a withdrawal.
func (s *Speaker) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	s.mu.Lock()
	p, ok := s.announced[prefix]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("bgp: withdraw %v: not announced", prefix)
	}
	if err := srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p}); err != nil {
		return fmt.Errorf("bgp: withdraw %v: %w", prefix, err)
	}
	s.mu.Lock()
	if s.announced[prefix] == p {
		delete(s.announced, prefix)
	}
	s.mu.Unlock()
	s.log.Info("bgp: withdrawn", "prefix", prefix)
	return nil
}

// Announced returns the prefixes currently announced, sorted.
func (s *Speaker) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Prefix, 0, len(s.announced))
	for p := range s.announced {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// newPath builds GoBGP's path message for a locally originated prefix.
func newPath(prefix netip.Prefix, nexthop netip.Addr, cfg Config) (*api.Path, error) {
	if !prefix.IsValid() {
		return nil, fmt.Errorf("bgp: prefix %v invalid", prefix)
	}
	v4 := prefix.Addr().Is4()
	if !nexthop.IsValid() {
		nexthop = netip.IPv4Unspecified()
		if !v4 {
			nexthop = netip.IPv6Unspecified()
		}
	}
	if nexthop.Is4() != v4 {
		return nil, fmt.Errorf("bgp: next hop %v for %v: families differ", nexthop, prefix)
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	var nlri bgp.AddrPrefixInterface
	if v4 {
		nlri = bgp.NewIPAddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop(nexthop.String()))
	} else {
		// RFC 4760: IPv6 reachability travels in MP_REACH_NLRI.
		nlri = bgp.NewIPv6AddrPrefix(uint8(prefix.Bits()), prefix.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nexthop.String(), []bgp.AddrPrefixInterface{nlri}))
	}
	p, err := apiutil.NewPath(nlri, false, attrs, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("bgp: path for %v: %w", prefix, err)
	}
	return p, nil
}

// OnRoutes registers fn to receive changes of the best routes learned from
// neighbors: new or changed routes, and Withdrawn ones. It replaces any
// earlier fn and is first called with every route currently learned, so a
// late registration misses nothing. fn runs on one goroutine, one call at a
// time, in event order; it may call the Speaker's methods.
func (s *Speaker) OnRoutes(fn func(learned []Learned)) { s.rib.setHandler(fn) }

// Learned returns the best routes currently learned from neighbors, sorted.
func (s *Speaker) Learned() []Learned { return s.rib.snapshot() }

// learnedRIB follows GoBGP's best-path events and keeps, per prefix, the
// best route when it comes from a neighbor.
type learnedRIB struct {
	log *slog.Logger

	// cbMu serialises calls of fn, so a registration's initial snapshot
	// and the events after it arrive in order. Taken before mu.
	cbMu sync.Mutex
	// mu guards routes and fn.
	mu sync.Mutex
	// routes is the current best learned route per prefix.
	routes map[netip.Prefix]Learned
	// fn is the OnRoutes callback, or nil.
	fn func([]Learned)
}

func (r *learnedRIB) init(log *slog.Logger) {
	r.log = log
	r.routes = make(map[netip.Prefix]Learned)
}

func (r *learnedRIB) setHandler(fn func([]Learned)) {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.mu.Lock()
	r.fn = fn
	snap := r.sortedLocked()
	r.mu.Unlock()
	if fn != nil && len(snap) > 0 {
		fn(snap)
	}
}

func (r *learnedRIB) snapshot() []Learned {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sortedLocked()
}

func (r *learnedRIB) sortedLocked() []Learned {
	out := make([]Learned, 0, len(r.routes))
	for _, l := range r.routes {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Learned) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

// reset reports every learned route withdrawn: a closed speaker has none.
func (r *learnedRIB) reset() {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.mu.Lock()
	gone := r.sortedLocked()
	clear(r.routes)
	fn := r.fn
	r.mu.Unlock()
	for i := range gone {
		gone[i].Withdrawn = true
	}
	if fn != nil && len(gone) > 0 {
		fn(gone)
	}
}

// update applies one best-path event. A best path from a neighbor adds or
// replaces the prefix's route; a withdrawal, or a local path becoming best,
// removes it.
func (r *learnedRIB) update(paths []*api.Path) {
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	var changes []Learned
	r.mu.Lock()
	for _, p := range paths {
		l, ok := r.fromPath(p)
		if !ok {
			continue
		}
		prev, had := r.routes[l.Prefix]
		if p.IsWithdraw || !l.Neighbor.IsValid() {
			if had {
				delete(r.routes, l.Prefix)
				prev.Withdrawn = true
				changes = append(changes, prev)
			}
			continue
		}
		if had && prev == l {
			continue
		}
		r.routes[l.Prefix] = l
		changes = append(changes, l)
	}
	fn := r.fn
	r.mu.Unlock()
	for _, c := range changes {
		r.log.Debug("bgp: learned route", "change", c.String())
	}
	if fn != nil && len(changes) > 0 {
		fn(changes)
	}
}

// fromPath extracts prefix, next hop and source neighbor of a unicast path.
// Neighbor stays invalid for locally originated paths. ok is false for
// families the gateway does not route (and for End-of-RIB markers).
func (r *learnedRIB) fromPath(p *api.Path) (Learned, bool) {
	if p.GetNlri() == nil {
		return Learned{}, false
	}
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		r.log.Warn("bgp: undecodable path", "err", err)
		return Learned{}, false
	}
	var l Learned
	switch n := nlri.(type) {
	case *bgp.IPAddrPrefix, *bgp.IPv6AddrPrefix:
		pfx, err := netip.ParsePrefix(n.String())
		if err != nil {
			return Learned{}, false
		}
		l.Prefix = pfx
	default:
		return Learned{}, false
	}
	if a, err := netip.ParseAddr(p.NeighborIp); err == nil && !a.IsUnspecified() {
		l.Neighbor = a
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		r.log.Warn("bgp: undecodable path attributes", "prefix", l.Prefix, "err", err)
		return Learned{}, false
	}
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			if nh, ok := netip.AddrFromSlice(a.Value); ok {
				l.NextHop = nh.Unmap()
			}
		case *bgp.PathAttributeMpReachNLRI:
			if nh, ok := netip.AddrFromSlice(a.Nexthop); ok {
				l.NextHop = nh
				if l.Prefix.Addr().Is4() {
					l.NextHop = nh.Unmap()
				}
			}
		}
	}
	return l, true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sortNeighbors(ns []NeighborState) {
	slices.SortFunc(ns, func(a, b NeighborState) int { return a.Address.Compare(b.Address) })
}
