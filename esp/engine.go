// Package esp is ipsecgw's userspace ESP data plane: tunnel-mode ESP
// (RFC 4303) between a TUN device carrying cleartext inner packets and
// datagram sockets carrying ESP, either raw IP protocol 50 or UDP port 4500
// encapsulated (RFC 3948) for NAT traversal. The control plane (IKE) installs
// tunnels, policies and SAs; the engine moves packets.
//
// The pipeline, after wireguard-go's device/send.go and device/receive.go.
// Packets travel in batches of up to 128 fixed-size buffers taken from a
// bounded pool, so a full pipeline pushes back on the reader instead of
// allocating:
//
//	outbound
//	  TUN Read(batch, headroom) ─► policy lookup ─► SA, sequence number  ─┬─► crypto workers (all cores): encap + Seal
//	  (reader goroutine)            (LPM, no lock)   (atomic add, in order) │              │ unlock batch
//	                                 └► no SA: acquire queue + Acquire event └─► in order ─► wait batch ─► Bind.Send
//	                                 └► DF and too big: ICMP 3/4 to TUN                       (sendmmsg, UDP GSO)
//	inbound
//	  Bind.Receive(batch) ─► IKE (non-ESP marker) → OnIKE; 0xFF keepalive
//	  (one goroutine per bind) ─► SPI lookup ─► replay check ─┬─► crypto workers: Open (ICV first) + unpad
//	                                                          └─► in order ─► wait ─► replay accept ─► selector
//	                                                              check ─► peer move ─► TUN Write(batch)
//
// Inbound and outbound each have their own pool, so a flood in one direction
// cannot starve the other. The hot path reaches policies, tunnels and SAs
// through atomic pointers to immutable tables (copy-on-write under a mutex
// taken only by the control plane); a rekey installs the new SA before the
// old one goes (make-before-break). Drops are counted by reason, never logged
// per packet, and steady-state packet processing allocates nothing.
package esp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

// Device is the batch TUN interface the engine reads inner packets from and
// writes them to; see netio.Device.
type Device = netio.Device

// Bind is a batched datagram socket (UDP 4500 or raw ESP); see netio.Bind.
type Bind = netio.Bind

// Message is one datagram exchanged with a Bind; see netio.Message.
type Message = netio.Message

// Config wires an Engine to its devices and the control plane. Devices are
// owned by the engine from New on: Close closes them.
type Config struct {
	// TUN carries inner packets. Required.
	TUN Device
	// UDP is the port-4500 socket shared with IKE (RFC 3948). Optional when
	// every tunnel uses raw ESP.
	UDP Bind
	// RawESP is an IP protocol 50 socket for tunnels without NAT. Optional.
	RawESP Bind
	// OnIKE receives IKE messages that arrived on the UDP bind behind the
	// 4-byte non-ESP marker (RFC 3948 §2.2), marker stripped. It runs on
	// the receive goroutine: pkt is only valid during the call (copy it) and
	// the function should return quickly.
	OnIKE func(pkt []byte, local, remote netip.AddrPort)
	// OnEvent receives lifetime, sequence-exhaustion, acquire and peer-move
	// events, one at a time from a dedicated goroutine.
	OnEvent func(Event)
	// Logger logs control-plane operations; nil discards.
	Logger *slog.Logger
	// Now is the clock for lifetimes, keepalives and timestamps; nil means
	// time.Now.
	Now func() time.Time
	// Rand seeds per-SA secrets (CBC IV generation); nil means crypto/rand.
	Rand io.Reader
	// ReplayWindow is the anti-replay window in packets; 0 means 1024.
	// Parallel decryption reorders, so keep it large.
	ReplayWindow int
	// Workers is the number of crypto goroutines; 0 means GOMAXPROCS.
	Workers int
	// Tick is the housekeeping period (time lifetimes, NAT keepalives,
	// grace-period removals); 0 means one second. Negative disables the
	// background ticker (tests call Housekeep themselves).
	Tick time.Duration
}

// EventKind classifies an Event.
type EventKind uint8

// Event kinds.
const (
	// SoftExpire: the SA crossed a soft lifetime; rekey it.
	SoftExpire EventKind = iota + 1
	// HardExpire: the SA crossed a hard lifetime and carries no more traffic.
	HardExpire
	// SeqExhausted: the outbound SA's sequence numbers are nearly used up;
	// it stops sending at the limit rather than wrap (RFC 4303 §3.3.3).
	SeqExhausted
	// Acquire: traffic matched a policy whose tunnel has no outbound SA;
	// packets are queued until SetOutbound (RFC 4301 §5.1, "negotiate when
	// traffic arrives"). Rate limited to one per tunnel per second.
	Acquire
	// PeerMoved: an authenticated packet arrived from a new address or port
	// and the tunnel now sends there (RFC 7296 §2.23, RFC 3948).
	PeerMoved
)

var eventNames = [...]string{"", "soft_expire", "hard_expire", "seq_exhausted", "acquire", "peer_moved"}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "unknown"
}

// Event is a notification to the control plane.
type Event struct {
	Kind   EventKind
	Tunnel TunnelID
	SPI    uint32         // the SA concerned (0 for Acquire)
	Remote netip.AddrPort // PeerMoved: the new address
}

// Engine is a running data plane. Its methods are safe for concurrent use.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	rand io.Reader

	policies atomic.Pointer[policyTable]
	tunnels  atomic.Pointer[map[TunnelID]*tunnel]
	inbound  atomic.Pointer[map[uint32]*inboundSA]
	mu       sync.Mutex // serializes writers of the three tables above

	drops          [NumDropReasons]atomic.Uint64
	keepalivesIn   atomic.Uint64
	ikeIn          atomic.Uint64
	eventsDropped  atomic.Uint64
	acquireQueued  atomic.Uint64
	icmpTooBigSent atomic.Uint64

	outPool, inPool   chan *batch
	crypto            chan *batch // to the worker pool, any order
	outOrder, inOrder chan *batch // to the in-order stages
	events            chan Event

	// Scratch for ICMP errors; used only by the readTUN goroutine.
	icmpScratch [tunOffset + icmpMaxLen]byte
	icmpBufs    [1][]byte

	closing atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup
}

// Pool sizes: enough batches in flight to keep every worker busy while the
// reader fills the next one, and a bound on memory (each batch holds
// maxBatch × bufSize bytes outbound, maxBatch × inBufSize inbound).
const (
	eventQueue   = 1024
	acquireEvery = time.Second
)

// New starts an engine. It has no tunnels, policies or SAs yet: every
// packet is dropped (no_policy) until the control plane installs them.
func New(cfg Config) (*Engine, error) {
	if cfg.TUN == nil {
		return nil, errors.New("esp: config: TUN device required")
	}
	if mtu, err := cfg.TUN.MTU(); err == nil && mtu > MaxTUNMTU {
		return nil, fmt.Errorf("esp: config: TUN MTU %d above %d", mtu, MaxTUNMTU)
	}
	if cfg.UDP == nil && cfg.RawESP == nil {
		return nil, errors.New("esp: config: a UDP or raw ESP bind is required")
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 1024
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	e := &Engine{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		rand:   cfg.Rand,
		events: make(chan Event, eventQueue),
		done:   make(chan struct{}),
		crypto: make(chan *batch, 64),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	e.policies.Store(&policyTable{})
	e.tunnels.Store(&map[TunnelID]*tunnel{})
	e.inbound.Store(&map[uint32]*inboundSA{})

	// In flight per direction: two batches per worker plus one being read
	// and one being written.
	// Inbound batches hold 8 MiB each (see inBufSize), so fewer of them.
	nb := 2*min(cfg.Workers, 8) + 2
	nbIn := min(nb, 8)
	e.outPool, e.inPool = make(chan *batch, nb), make(chan *batch, nbIn)
	e.outOrder, e.inOrder = make(chan *batch, nb), make(chan *batch, nbIn)
	for range nb {
		e.outPool <- newBatch(Outbound)
	}
	for range nbIn {
		e.inPool <- newBatch(Inbound)
	}

	e.start(&e.wg, e.dispatchEvents)
	for range cfg.Workers {
		e.start(&e.wg, e.cryptoWorker)
	}
	e.start(&e.wg, e.readTUN)
	e.start(&e.wg, e.sendOutbound)
	e.start(&e.wg, e.writeTUN)
	if cfg.UDP != nil {
		e.start(&e.wg, func() { e.receive(cfg.UDP, true) })
	}
	if cfg.RawESP != nil {
		e.start(&e.wg, func() { e.receive(cfg.RawESP, false) })
	}
	if cfg.Tick > 0 {
		e.start(&e.wg, e.housekeeper)
	}
	return e, nil
}

func (e *Engine) start(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}

// Close stops the engine: it closes the TUN device and binds, waits for
// every goroutine and drops packets still in flight.
func (e *Engine) Close() error {
	if !e.closing.CompareAndSwap(false, true) {
		return nil
	}
	close(e.done)
	var errs []error
	if c, ok := e.cfg.TUN.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	if e.cfg.UDP != nil {
		errs = append(errs, e.cfg.UDP.Close())
	}
	if e.cfg.RawESP != nil {
		errs = append(errs, e.cfg.RawESP.Close())
	}
	e.wg.Wait()
	return errors.Join(errs...)
}

// emit queues an event for OnEvent without blocking the data plane.
func (e *Engine) emit(ev Event) {
	select {
	case e.events <- ev:
	default:
		e.eventsDropped.Add(1)
	}
}

func (e *Engine) dispatchEvents() {
	for {
		select {
		case ev := <-e.events:
			if e.cfg.OnEvent != nil {
				e.cfg.OnEvent(ev)
			}
		case <-e.done:
			return
		}
	}
}

// drop counts one dropped packet against the engine, and the tunnel and SA
// when known (either may be nil).
func (e *Engine) drop(r DropReason, t *tunnel, sa *saState) {
	e.drops[r].Add(1)
	if t != nil {
		t.c.drops[r].Add(1)
	}
	if sa != nil {
		sa.c.drops[r].Add(1)
	}
}

func (e *Engine) housekeeper() {
	tk := time.NewTicker(e.cfg.Tick)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			e.Housekeep()
		case <-e.done:
			return
		}
	}
}

// Housekeep runs the periodic duties now: time-based lifetime events,
// removal of inbound SAs whose grace period ended, and NAT keepalives. The
// engine calls it every Config.Tick; tests with a fake clock call it directly.
func (e *Engine) Housekeep() {
	now := e.now()
	for _, sa := range *e.inbound.Load() {
		sa.timeCheck(e, now)
		if at := sa.removeAt.Load(); at != 0 && now.UnixNano() >= at {
			e.removeInbound(sa.spi)
		}
	}
	for _, t := range *e.tunnels.Load() {
		if sa := t.out.Load(); sa != nil {
			sa.timeCheck(e, now)
		}
		e.keepalive(t, now)
	}
}
