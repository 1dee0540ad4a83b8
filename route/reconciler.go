package route

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// ErrConflict reports a desired route whose table, destination and metric
// another owner already claimed. The kernel holds one such route, so the
// first owner keeps it and the second owner's copy is skipped.
var ErrConflict = errors.New("route: claimed by another owner")

// Config configures a Reconciler.
type Config struct {
	// Netlink reaches the kernel; required (NewKernel(nil) for the current
	// network namespace, NewFake() in tests).
	Netlink Netlink
	// Protos are the rtnetlink protocols the Reconciler owns: Set only
	// installs routes tagged with one of them and Flush removes every route
	// tagged with one of them. Default: ProtoIpsecgw only.
	Protos []Proto
	// Logger receives one line per kernel change; default slog.Default().
	Logger *slog.Logger
}

// Reconciler makes the kernel's routes match, per owner, the set last passed
// to Set. It is safe for concurrent use; calls are serialised.
type Reconciler struct {
	nl     Netlink
	protos []Proto
	log    *slog.Logger

	// mu serialises Set, Clear and Flush: each reads the kernel and then
	// changes it, which must not interleave.
	mu sync.Mutex
	// owned maps an owner to the routes it last asked for (normalised),
	// including those the kernel refused, so that the next Set retries
	// them and Clear knows what to remove. Guarded by mu.
	owned map[string]map[key]Route
}

// New returns a Reconciler. It does not touch the kernel; call Flush at
// startup to remove what a previous run left behind.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Netlink == nil {
		return nil, errors.New("route: netlink required")
	}
	protos := slices.Clone(cfg.Protos)
	if len(protos) == 0 {
		protos = []Proto{ProtoIpsecgw}
	}
	for _, p := range protos {
		if p == ProtoUnspec || p == ProtoKernel || p == ProtoStatic {
			return nil, fmt.Errorf("route: protocol %v cannot be owned by ipsecgw", p)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{nl: cfg.Netlink, protos: protos, log: log, owned: make(map[string]map[key]Route)}, nil
}

// Set makes the kernel routes owned by owner exactly desired: routes missing
// from the kernel are added, routes that differ (device, gateway, source,
// protocol) are replaced, and routes owner had before but no longer wants are
// deleted. Other owners' routes and routes ipsecgw does not own are never
// touched. With the kernel already in the desired state Set emits no change.
//
// Set applies every route it can and returns the failures joined; a desired
// route that failed stays desired and is retried by the next Set.
func (r *Reconciler) Set(owner string, desired []Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set(owner, desired)
}

// Clear removes every route owned by owner and forgets the owner.
func (r *Reconciler) Clear(owner string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.set(owner, nil)
	if err == nil {
		delete(r.owned, owner)
	}
	return err
}

// Flush removes from all tables every route tagged with one of the
// Reconciler's protocols, whoever asked for it, and forgets all owners. The
// daemon calls it at startup: routes of a previous run are stale until the
// connections that own them are up again.
func (r *Reconciler) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	kernel, err := r.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range sortedKeys(kernel) {
		if err := r.del(kernel[k]); err != nil {
			errs = append(errs, err)
		}
	}
	clear(r.owned)
	return errors.Join(errs...)
}

// Routes returns, sorted, the normalised routes owner last asked for.
func (r *Reconciler) Routes(owner string) []Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.owned[owner]
	out := make([]Route, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// set is Set with mu held.
func (r *Reconciler) set(owner string, desired []Route) error {
	var errs []error
	want := make(map[key]Route, len(desired))
	for _, d := range desired {
		n, err := d.normalize()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(r.protos, n.Proto) {
			errs = append(errs, fmt.Errorf("route: %v: protocol not owned by this reconciler", n))
			continue
		}
		if prev, dup := want[n.key()]; dup && prev != n {
			errs = append(errs, fmt.Errorf("route: %v: same table, destination and metric as %v", n, prev))
			continue
		}
		if other := r.ownerOf(n.key(), owner); other != "" {
			errs = append(errs, fmt.Errorf("%w: %v is owned by %q", ErrConflict, n, other))
			continue
		}
		want[n.key()] = n
	}

	kernel, err := r.list()
	if err != nil {
		// Without the kernel's view no diff is possible; change nothing.
		return errors.Join(append(errs, err)...)
	}

	// Deletions first: a key given up here may be one another route of
	// this Set reuses with different attributes.
	prev := r.owned[owner]
	for _, k := range sortedKeys(prev) {
		if _, keep := want[k]; keep {
			continue
		}
		if kr, ok := kernel[k]; ok {
			if err := r.del(kr); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, k := range sortedKeys(want) {
		w := want[k]
		kr, ok := kernel[k]
		if ok && kr == w {
			continue
		}
		if ok {
			// Same key, other attributes: the kernel keeps one route
			// per key, so the old one goes first.
			if err := r.del(kr); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := r.nl.RouteAdd(w); err != nil {
			errs = append(errs, fmt.Errorf("route: add %v: %w", w, err))
			continue
		}
		r.log.Info("route added", "owner", owner, "route", w.String())
	}

	if len(want) == 0 {
		delete(r.owned, owner)
	} else {
		r.owned[owner] = want
	}
	return errors.Join(errs...)
}

// ownerOf returns the owner other than self that claims k, or "".
func (r *Reconciler) ownerOf(k key, self string) string {
	for o, m := range r.owned {
		if o == self {
			continue
		}
		if _, ok := m[k]; ok {
			return o
		}
	}
	return ""
}

// list returns the kernel's routes tagged with the Reconciler's protocols.
func (r *Reconciler) list() (map[key]Route, error) {
	out := make(map[key]Route)
	for _, p := range r.protos {
		rs, err := r.nl.RouteList(p)
		if err != nil {
			return nil, fmt.Errorf("route: list proto %v: %w", p, err)
		}
		for _, kr := range rs {
			out[kr.key()] = kr
		}
	}
	return out, nil
}

func (r *Reconciler) del(kr Route) error {
	if err := r.nl.RouteDel(kr); err != nil {
		return fmt.Errorf("route: delete %v: %w", kr, err)
	}
	r.log.Info("route deleted", "route", kr.String())
	return nil
}

// sortedKeys orders keys by table, address family, destination and metric,
// so the operations Set emits are deterministic.
func sortedKeys[M ~map[key]V, V any](m M) []key {
	ks := make([]key, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b key) int {
		return cmp.Or(
			cmp.Compare(a.table, b.table),
			a.dst.Addr().Compare(b.dst.Addr()),
			cmp.Compare(a.dst.Bits(), b.dst.Bits()),
			cmp.Compare(a.metric, b.metric),
		)
	})
	return ks
}
