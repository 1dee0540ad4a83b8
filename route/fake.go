package route

import (
	"fmt"
	"sync"
	"syscall"
)

// OpKind is the kind of a recorded kernel change.
type OpKind uint8

// Recorded operation kinds.
const (
	// OpAdd is a RouteAdd.
	OpAdd OpKind = iota + 1
	// OpDel is a RouteDel.
	OpDel
)

// String returns "add" or "del".
func (k OpKind) String() string {
	switch k {
	case OpAdd:
		return "add"
	case OpDel:
		return "del"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one change a Fake received.
type Op struct {
	// Kind says whether the route was added or deleted.
	Kind OpKind
	// Route is the route as passed to the Netlink method.
	Route Route
}

// String formats the operation like an `ip route` command line.
func (o Op) String() string { return o.Kind.String() + " " + o.Route.String() }

// Fake is an in-memory routing table implementing Netlink. It behaves like
// the kernel where the Reconciler depends on it (one route per table,
// destination and metric; EEXIST on a duplicate add; RouteList filters by
// protocol) and records every add and delete so table tests can assert the
// exact operations Set emits. It is safe for concurrent use.
type Fake struct {
	mu sync.Mutex
	// routes is the simulated kernel state. Guarded by mu.
	routes map[key]Route
	// ops are the changes received since the last TakeOps. Guarded by mu.
	ops []Op
	// FailAdd, when non-nil, is consulted before each add; a non-nil
	// result is returned and nothing is installed. Set it before use.
	FailAdd func(Route) error
}

// NewFake returns an empty Fake.
func NewFake() *Fake { return &Fake{routes: make(map[key]Route)} }

// RouteAdd implements Netlink.
func (f *Fake) RouteAdd(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, Op{OpAdd, r})
	if f.FailAdd != nil {
		if err := f.FailAdd(r); err != nil {
			return err
		}
	}
	if _, ok := f.routes[r.key()]; ok {
		return syscall.EEXIST
	}
	f.routes[r.key()] = r
	return nil
}

// RouteDel implements Netlink.
func (f *Fake) RouteDel(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, Op{OpDel, r})
	delete(f.routes, r.key())
	return nil
}

// RouteList implements Netlink.
func (f *Fake) RouteList(p Proto) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Route
	for _, k := range sortedKeys(f.routes) {
		if r := f.routes[k]; r.Proto == p {
			out = append(out, r)
		}
	}
	return out, nil
}

// Inject installs r without recording it, as another routing daemon or the
// operator would. r must be normalised (table and protocol set).
func (f *Fake) Inject(r Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[r.key()] = r
}

// Vanish removes the route with r's key without recording it, as the kernel
// does when the route's device goes down.
func (f *Fake) Vanish(r Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, r.key())
}

// TakeOps returns the operations recorded since the previous call and
// resets the record.
func (f *Fake) TakeOps() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

// Routes returns every route in the simulated kernel, sorted.
func (f *Fake) Routes() []Route {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Route, 0, len(f.routes))
	for _, k := range sortedKeys(f.routes) {
		out = append(out, f.routes[k])
	}
	return out
}
