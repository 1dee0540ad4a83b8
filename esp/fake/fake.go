// Package fake provides in-memory implementations of netio.Device and
// netio.Bind, so that two engines can run a tunnel back to back inside
// `go test`, without root, with knobs for loss, reordering, duplication and
// corruption on the simulated wire.
package fake

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

// queueLen bounds every in-memory queue; senders block when it is full,
// like a socket buffer would push back (the wire itself drops nothing
// unless told to).
const queueLen = 4096

// TUN is an in-memory netio.Device. The test side injects packets the host
// would route into the tunnel (Inject) and reads what the engine delivers
// (Delivered).
type TUN struct {
	mtu   int
	in    chan []byte // host → engine
	out   chan []byte // engine → host
	done  chan struct{}
	close sync.Once
}

// NewTUN returns a TUN with the given MTU.
func NewTUN(mtu int) *TUN {
	return &TUN{mtu: mtu, in: make(chan []byte, queueLen), out: make(chan []byte, queueLen), done: make(chan struct{})}
}

// Inject queues a copy of pkt as if the host sent it into the TUN device.
func (t *TUN) Inject(pkt []byte) {
	select {
	case t.in <- append([]byte(nil), pkt...):
	case <-t.done:
	}
}

// Delivered returns the channel of packets the engine wrote to the TUN.
func (t *TUN) Delivered() <-chan []byte { return t.out }

// Next waits up to d for the next delivered packet.
func (t *TUN) Next(d time.Duration) ([]byte, bool) {
	select {
	case p := <-t.out:
		return p, true
	case <-time.After(d):
		return nil, false
	}
}

// Read implements netio.Device.
func (t *TUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var p []byte
	select {
	case p = <-t.in:
	case <-t.done:
		return 0, os.ErrClosed
	}
	n := 0
	for {
		if len(p) > len(bufs[n])-offset {
			return n, errors.New("fake: packet larger than the read buffer")
		}
		sizes[n] = copy(bufs[n][offset:], p)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case p = <-t.in:
		default:
			return n, nil
		}
	}
}

// Write implements netio.Device.
func (t *TUN) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 10 {
		return 0, errors.New("fake: write offset below the virtio header size")
	}
	for i, b := range bufs {
		select {
		case t.out <- append([]byte(nil), b[offset:]...):
		case <-t.done:
			return i, os.ErrClosed
		}
	}
	return len(bufs), nil
}

// MTU implements netio.Device.
func (t *TUN) MTU() (int, error) { return t.mtu, nil }

// BatchSize implements netio.Device.
func (t *TUN) BatchSize() int { return 128 }

// Close unblocks Read.
func (t *TUN) Close() error {
	t.close.Do(func() { close(t.done) })
	return nil
}

// Impairment configures the simulated wire. Probabilities are in [0, 1].
type Impairment struct {
	Loss      float64 // drop the datagram
	Duplicate float64 // deliver it twice
	Reorder   float64 // hold it back and deliver it after the next one
	Corrupt   float64 // flip one bit of the payload
}

// Network connects Binds by address. It is safe for concurrent use.
type Network struct {
	mu    sync.Mutex
	binds map[netip.AddrPort]*Bind
	imp   Impairment
	rnd   *rand.Rand
	held  *datagram // the datagram held back for reordering
	// Tap, if set, sees every datagram before impairments; returning false
	// drops it. It may modify pkt. It runs with the network locked.
	tap func(from, to netip.AddrPort, pkt []byte) bool
	// Sent counts datagrams offered to the network.
	sent int
}

type datagram struct {
	from, to netip.AddrPort
	pkt      []byte
}

// NewNetwork returns an empty network whose impairments draw from a PRNG
// seeded with seed, so runs are reproducible.
func NewNetwork(seed uint64) *Network {
	return &Network{binds: map[netip.AddrPort]*Bind{}, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetImpairment changes the wire's behaviour from the next datagram on.
func (n *Network) SetImpairment(imp Impairment) {
	n.mu.Lock()
	n.imp = imp
	n.mu.Unlock()
}

// SetTap installs (or with nil removes) the tap function.
func (n *Network) SetTap(f func(from, to netip.AddrPort, pkt []byte) bool) {
	n.mu.Lock()
	n.tap = f
	n.mu.Unlock()
}

// Sent reports how many datagrams were offered to the network.
func (n *Network) Sent() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// Bind returns a new bind listening on addr. Raw ESP binds use port 0.
func (n *Network) Bind(addr netip.AddrPort) *Bind {
	b := &Bind{net: n, addr: addr, in: make(chan datagram, queueLen), done: make(chan struct{})}
	n.mu.Lock()
	n.binds[addr] = b
	n.mu.Unlock()
	return b
}

// Inject delivers pkt to the bind at to as if it came from from, bypassing
// the tap and impairments (for replaying captured packets).
func (n *Network) Inject(from, to netip.AddrPort, pkt []byte) {
	n.mu.Lock()
	b := n.binds[to]
	n.mu.Unlock()
	if b != nil {
		b.deliver(datagram{from: from, to: to, pkt: append([]byte(nil), pkt...)})
	}
}

func (n *Network) send(from, to netip.AddrPort, pkt []byte) {
	d := datagram{from: from, to: to, pkt: append([]byte(nil), pkt...)}
	var out [3]datagram
	k := 0
	n.mu.Lock()
	n.sent++
	b := n.binds[to]
	switch {
	case n.tap != nil && !n.tap(from, to, d.pkt):
	case n.imp.Loss > 0 && n.rnd.Float64() < n.imp.Loss:
	default:
		if n.imp.Corrupt > 0 && n.rnd.Float64() < n.imp.Corrupt && len(d.pkt) > 0 {
			i := n.rnd.IntN(len(d.pkt))
			d.pkt[i] ^= 1 << n.rnd.IntN(8)
		}
		if n.held == nil && n.imp.Reorder > 0 && n.rnd.Float64() < n.imp.Reorder {
			n.held = &d
			break
		}
		out[k] = d
		k++
		if n.imp.Duplicate > 0 && n.rnd.Float64() < n.imp.Duplicate {
			out[k] = datagram{from: from, to: to, pkt: append([]byte(nil), d.pkt...)}
			k++
		}
		if n.held != nil {
			out[k] = *n.held
			k++
			n.held = nil
		}
	}
	n.mu.Unlock()
	for _, d := range out[:k] {
		if d.to == to && b != nil {
			b.deliver(d)
		} else if ob := n.lookup(d.to); ob != nil {
			ob.deliver(d)
		}
	}
}

func (n *Network) lookup(a netip.AddrPort) *Bind {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.binds[a]
}

// Flush delivers a datagram held back for reordering, if any.
func (n *Network) Flush() {
	n.mu.Lock()
	h := n.held
	n.held = nil
	n.mu.Unlock()
	if h != nil {
		if b := n.lookup(h.to); b != nil {
			b.deliver(*h)
		}
	}
}

// Bind is an in-memory netio.Bind attached to a Network.
type Bind struct {
	net   *Network
	addr  netip.AddrPort
	in    chan datagram
	done  chan struct{}
	close sync.Once
}

func (b *Bind) deliver(d datagram) {
	select {
	case b.in <- d:
	case <-b.done:
	}
}

// Addr returns the bind's address.
func (b *Bind) Addr() netip.AddrPort { return b.addr }

// Receive implements netio.Bind.
func (b *Bind) Receive(msgs []netio.Message) (int, error) {
	var d datagram
	select {
	case d = <-b.in:
	case <-b.done:
		return 0, os.ErrClosed
	}
	n := 0
	for {
		m := &msgs[n]
		m.N = copy(m.Buf, d.pkt)
		m.Remote, m.Local = d.from, b.addr
		n++
		if n == len(msgs) {
			return n, nil
		}
		select {
		case d = <-b.in:
		default:
			return n, nil
		}
	}
}

// Send implements netio.Bind.
func (b *Bind) Send(msgs []netio.Message) error {
	select {
	case <-b.done:
		return os.ErrClosed
	default:
	}
	for i := range msgs {
		to := msgs[i].Remote
		if b.addr.Port() == 0 {
			to = netip.AddrPortFrom(to.Addr(), 0)
		}
		b.net.send(b.addr, to, msgs[i].Buf)
	}
	return nil
}

// BatchSize implements netio.Bind.
func (b *Bind) BatchSize() int { return 128 }

// Close implements netio.Bind.
func (b *Bind) Close() error {
	b.close.Do(func() { close(b.done) })
	return nil
}
