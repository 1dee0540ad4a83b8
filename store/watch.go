package store

import (
	"sync"
)

// Kind names the type of record a Change refers to.
type Kind int

// Record kinds.
const (
	KindConnection Kind = iota + 1
	KindTransitRouter
	KindAttachment
	KindAuthorization
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case KindConnection:
		return "connection"
	case KindTransitRouter:
		return "transit-router"
	case KindAttachment:
		return "attachment"
	case KindAuthorization:
		return "authorization"
	}
	return "unknown"
}

// Op is what happened to a record.
type Op int

// Change operations.
const (
	OpCreate Op = iota + 1
	OpUpdate
	OpDelete
)

// String returns the operation's lowercase name.
func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Change announces a committed change. ID is the record's ID; attachments
// and authorizations carry the connection's ID (the gateway re-reads the
// connection either way).
type Change struct {
	Kind Kind
	Op   Op
	ID   string
}

// changes collects what one transaction changed, announced after commit.
type changes []Change

func (c *changes) add(k Kind, op Op, id string) { *c = append(*c, Change{Kind: k, Op: op, ID: id}) }

// Subscribe registers fn to be called, from a goroutine owned by the
// subscription, after each committed change. Writers never block on a slow
// subscriber: pending changes are coalesced per (kind, id) keeping the latest
// operation, so the queue is bounded by the number of records and a
// subscriber that falls behind still sees the final state of every record it
// missed (it should re-read the record rather than trust Op alone). The
// returned function cancels the subscription.
func (s *Store) Subscribe(fn func(Change)) (cancel func()) {
	sub := &subscriber{
		fn:      fn,
		pending: make(map[key]Op),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.mu.Lock()
	id := s.next
	s.next++
	s.subs[id] = sub
	s.mu.Unlock()
	go sub.run()
	return func() {
		s.mu.Lock()
		if _, ok := s.subs[id]; ok {
			delete(s.subs, id)
			sub.stop()
		}
		s.mu.Unlock()
	}
}

func (s *Store) notify(ch changes) {
	if len(ch) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		sub.push(ch)
	}
}

type key struct {
	kind Kind
	id   string
}

// subscriber is one Subscribe registration.
type subscriber struct {
	fn   func(Change)
	wake chan struct{}
	done chan struct{}
	once sync.Once

	// mu guards pending and order.
	mu      sync.Mutex
	pending map[key]Op
	order   []key
}

func (sub *subscriber) push(ch changes) {
	sub.mu.Lock()
	for _, c := range ch {
		k := key{c.Kind, c.ID}
		if _, ok := sub.pending[k]; !ok {
			sub.order = append(sub.order, k)
		}
		sub.pending[k] = c.Op
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *subscriber) stop() { sub.once.Do(func() { close(sub.done) }) }

func (sub *subscriber) run() {
	for {
		select {
		case <-sub.done:
			return
		case <-sub.wake:
		}
		sub.mu.Lock()
		batch := make([]Change, 0, len(sub.order))
		for _, k := range sub.order {
			batch = append(batch, Change{Kind: k.kind, Op: sub.pending[k], ID: k.id})
		}
		sub.order = sub.order[:0]
		clear(sub.pending)
		sub.mu.Unlock()
		for _, c := range batch {
			select {
			case <-sub.done:
				return
			default:
			}
			sub.fn(c)
		}
	}
}
