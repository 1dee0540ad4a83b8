package v1

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/internal/snapshot"
	"github.com/ipsecgw/ipsecgw/ike/internal/timing"
	"github.com/ipsecgw/ipsecgw/ike/message"
	"github.com/ipsecgw/ipsecgw/ike/spialloc"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// maxHalfOpen bounds responder SAs still in phase 1, so a flood of MM1s
// cannot exhaust memory (each costs a goroutine; DH is computed only at
// MM3, after the peer proved it receives at its address).
const maxHalfOpen = 256

// Manager owns every ISAKMP SA of the gateway. HandlePacket may be called
// from several socket readers at once; each SA's state is only touched by
// its own goroutine.
type Manager struct {
	cfg             Config
	clock           v2.Clock
	rand            io.Reader
	log             *slog.Logger
	retrans         v2.Retransmit
	halfOpenTimeout time.Duration
	ikePort         uint16
	nattPort        uint16
	spis            *spialloc.Allocator // our inbound ESP SPIs, maybe shared with ike/v2

	mu       sync.Mutex            // guards the maps below
	sas      map[uint64]*isakmpSA  // by our cookie (CKY-I when we initiated, CKY-R otherwise)
	byInit   map[halfKey]*isakmpSA // responder SAs by initiator address and CKY-I, for their whole life
	halfOpen int                   // responder SAs still in phase 1

	quit   chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup

	stats struct {
		retransmits, authFailures, dropped atomic.Uint64
	}
}

// Stats returns the counters, as v2.Manager.Stats does: retransmitted
// messages, phase 1 authentication failures, and datagrams dropped as
// unparsable, unknown or unauthenticated.
func (m *Manager) Stats() v2.Stats {
	return v2.Stats{Retransmits: m.stats.retransmits.Load(), AuthFailures: m.stats.authFailures.Load(), Dropped: m.stats.dropped.Load()}
}

type halfKey struct {
	remote netip.AddrPort
	ckyI   uint64
}

// New creates a Manager. Send is required.
func New(cfg Config) (*Manager, error) {
	if cfg.Send == nil {
		return nil, errors.New("v1: Config.Send is required")
	}
	m := &Manager{cfg: cfg, clock: cfg.Clock, rand: cfg.Rand, log: cfg.Logger,
		retrans: cfg.Retransmit.WithDefaults(), halfOpenTimeout: cfg.HalfOpenTimeout,
		ikePort: IKEPort, nattPort: NATTPort,
		sas: map[uint64]*isakmpSA{}, byInit: map[halfKey]*isakmpSA{}, spis: cfg.SPIs,
		quit: make(chan struct{})}
	if m.clock == nil {
		m.clock = timing.RealClock{}
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.spis == nil {
		m.spis = spialloc.New(m.rand)
	}
	if m.halfOpenTimeout <= 0 {
		m.halfOpenTimeout = 30 * time.Second
	}
	return m, nil
}

// Close stops every SA goroutine without telling the peers and waits.
func (m *Manager) Close() {
	if m.closed.Swap(true) {
		return
	}
	close(m.quit)
	m.wg.Wait()
}

func (m *Manager) emit(e v2.Event) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(e)
	}
}

// HandlePacket processes one IKEv1 datagram (without non-ESP marker)
// received on local from remote. The gateway hands IKEv1 here and IKEv2 to
// v2.Manager, by the major version in octet 17 of the header.
func (m *Manager) HandlePacket(pkt []byte, local, remote netip.AddrPort) {
	if m.closed.Load() {
		return
	}
	h, err := message.ParseHeader(pkt)
	if err != nil || h.MajorVersion != 1 || h.SPIi == 0 {
		m.stats.dropped.Add(1)
		return
	}
	if sa := m.find(h); sa != nil {
		sa.deliver(inPacket{raw: append([]byte(nil), pkt...), local: local, remote: remote})
		return
	}
	if h.SPIr != 0 || h.MessageID != 0 || (h.Exchange != message.ExchangeIdentityProtection && h.Exchange != message.ExchangeAggressive) {
		m.stats.dropped.Add(1)
		return // unknown SA: RFC 2408 §5.2 INVALID-COOKIE would help a forger only
	}
	m.newResponder(pkt, h, local, remote)
}

// find returns the SA a datagram belongs to: ours as initiator by CKY-I,
// ours as responder by CKY-R (and CKY-I), or a half-open responder SA
// whose MM1/AM1 this is a retransmission of.
func (m *Manager) find(h message.Header) *isakmpSA {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sa := m.sas[h.SPIi]; sa != nil && sa.initiator {
		return sa
	}
	if h.SPIr != 0 {
		if sa := m.sas[h.SPIr]; sa != nil && !sa.initiator && sa.spiI == h.SPIi {
			return sa
		}
		return nil
	}
	return nil
}

// newResponder starts a responder SA for a first phase 1 message.
func (m *Manager) newResponder(pkt []byte, h message.Header, local, remote netip.AddrPort) {
	msg, err := message.ParseMessageV1(pkt)
	if err != nil || msg.Ciphertext != nil {
		return
	}
	m.mu.Lock()
	if sa := m.byInit[halfKey{remote, h.SPIi}]; sa != nil {
		// A retransmitted (or late) first message: the SA answers or
		// ignores it; a second SA would only time out.
		m.mu.Unlock()
		sa.deliver(inPacket{raw: msg.Raw, msg: msg, local: local, remote: remote})
		return
	}
	n := m.halfOpen
	m.mu.Unlock()
	if n >= maxHalfOpen || m.cfg.Lookup == nil {
		return
	}
	var idp *v2.Identity
	if h.Exchange == message.ExchangeAggressive {
		for _, p := range msg.Payloads {
			if id, ok := p.(*message.IDV1); ok {
				s := v2.Identity(idString(id))
				idp = &s
			}
		}
		if idp == nil {
			return
		}
	}
	peer, ok := m.cfg.Lookup(local, remote, idp)
	if !ok || peer == nil {
		m.log.Info("v1: no configuration for initiator", "remote", remote, "exchange", h.Exchange)
		return
	}
	if err := peer.validate(); err != nil {
		m.log.Warn("v1: unusable peer configuration", "err", err)
		return
	}
	sa := m.newSA(peer, false)
	sa.spiI = h.SPIi
	sa.spiR = m.allocCookie()
	sa.local, sa.remote = local, remote
	sa.aggressive = h.Exchange == message.ExchangeAggressive
	sa.p1 = &phase1{}
	m.mu.Lock()
	if other := m.byInit[halfKey{remote, h.SPIi}]; other != nil {
		// A retransmission raced us through Lookup: one SA answers both.
		m.mu.Unlock()
		other.deliver(inPacket{raw: msg.Raw, msg: msg, local: local, remote: remote})
		return
	}
	m.byInit[halfKey{remote, h.SPIi}] = sa
	m.halfOpen++
	sa.halfOpen = true
	m.mu.Unlock()
	m.start(sa)
	sa.deliver(inPacket{raw: msg.Raw, msg: msg, local: local, remote: remote})
}

// newSA makes an SA (not yet registered or running).
func (m *Manager) newSA(p *Peer, initiator bool) *isakmpSA {
	sa := &isakmpSA{m: m, peer: p, initiator: initiator, state: v2.StateConnecting, created: m.clock.Now(),
		exchanges: map[uint32]*exchange{}, inbox: make(chan any, 32), done: make(chan struct{})}
	sa.log = m.log.With("peer", p.Name, "ike", "v1")
	return sa
}

// start registers the SA under its cookie and runs its goroutine.
func (m *Manager) start(sa *isakmpSA) {
	m.mu.Lock()
	m.sas[sa.ourCookie()] = sa
	m.mu.Unlock()
	sa.publish()
	m.wg.Add(1)
	go sa.run()
}

func (m *Manager) unregister(sa *isakmpSA) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sas[sa.ourCookie()] == sa {
		delete(m.sas, sa.ourCookie())
	}
	for k, v := range m.byInit {
		if v == sa {
			delete(m.byInit, k)
		}
	}
	m.doneHalfOpen(sa)
}

func (m *Manager) established(sa *isakmpSA) {
	m.mu.Lock()
	m.doneHalfOpen(sa)
	m.mu.Unlock()
}

// doneHalfOpen takes a responder SA out of the half-open count; m.mu held.
func (m *Manager) doneHalfOpen(sa *isakmpSA) {
	if sa.halfOpen {
		sa.halfOpen = false
		m.halfOpen--
	}
}

// allocCookie returns a fresh non-zero cookie. RFC 2408 §2.5.3 suggests a
// hash of addresses and a secret; a random value unique here serves the
// same purpose for the demultiplexing.
func (m *Manager) allocCookie() uint64 {
	return spialloc.IKESPI(m.rand, func(c uint64) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.sas[c] != nil
	})
}

// allocSPI returns a fresh inbound ESP SPI from the allocator shared with
// every negotiator feeding the same ESP engine.
func (m *Manager) allocSPI() (uint32, error) {
	spi, err := m.spis.Alloc()
	if err != nil {
		return 0, fmt.Errorf("v1: cannot allocate an ESP SPI: %w", err)
	}
	return spi, nil
}

func (m *Manager) freeSPI(spi uint32) { m.spis.Free(spi) }

func (m *Manager) randUint32() uint32 {
	var b [4]byte
	io.ReadFull(m.rand, b[:])
	return binary.BigEndian.Uint32(b[:])
}

// jitter returns a random duration in [0, d).
func (m *Manager) jitter(d time.Duration) time.Duration { return timing.Jitter(m.rand, d) }

// rekeyDelay schedules a rekey at 90 % of the lifetime minus up to 5 % of
// jitter, so that the two ends rarely collide.
func (m *Manager) rekeyDelay(lifetime time.Duration) time.Duration {
	return lifetime*9/10 - m.jitter(lifetime/20)
}

// Initiate starts an ISAKMP SA (Main or Aggressive Mode per p) and then its
// IPsec SA with Quick Mode.
func (m *Manager) Initiate(p *Peer) error {
	if err := p.validate(); err != nil {
		return err
	}
	if m.closed.Load() {
		return errors.New("v1: manager closed")
	}
	m.initiate(p, nil)
	return nil
}

func (m *Manager) initiate(p *Peer, reauth *reauthInfo) *isakmpSA {
	sa := m.newSA(p, true)
	sa.spiI = m.allocCookie()
	sa.aggressive = p.Aggressive
	sa.reauth = reauth
	sa.local = netip.AddrPortFrom(p.Local, m.ikePort)
	sa.remote = netip.AddrPortFrom(p.Remote, m.ikePort)
	m.start(sa)
	sa.post(sa.startPhase1)
	return sa
}

// each runs fn on the goroutine of every SA of the named peer and returns
// how many there were.
func (m *Manager) each(name string, fn func(*isakmpSA)) int {
	list := snapshot.Values(&m.mu, m.sas, func(sa *isakmpSA) bool { return sa.peer.Name == name })
	for _, sa := range list {
		sa.post(func() { fn(sa) })
	}
	return len(list)
}

// Terminate deletes every ISAKMP SA of the named peer and its IPsec SAs,
// telling the peer, and returns how many ISAKMP SAs there were.
func (m *Manager) Terminate(name string) int {
	return m.each(name, func(sa *isakmpSA) { sa.terminate() })
}

// Rekey re-authenticates the named peer's ISAKMP SA (ike: a new phase 1,
// its IPsec SAs rebuilt on it, then the old one deleted) or rekeys its
// IPsec SAs with new Quick Modes.
func (m *Manager) Rekey(name string, ike bool) int {
	return m.each(name, func(sa *isakmpSA) {
		if sa.state != v2.StateEstablished {
			return
		}
		if ike {
			sa.startReauth()
			return
		}
		for _, c := range append([]*child(nil), sa.children...) {
			if c.state == v2.ChildInstalled {
				sa.startQuickMode(c)
			}
		}
	})
}

// SAs returns a snapshot of every ISAKMP SA, ordered by peer name and
// cookie. It never blocks on SA goroutines.
func (m *Manager) SAs() []v2.IKESAStatus {
	list := snapshot.Values(&m.mu, m.sas, nil)
	out := make([]v2.IKESAStatus, 0, len(list))
	for _, sa := range list {
		st := sa.status.Load()
		if st == nil || st.State == v2.StateClosed {
			continue
		}
		s := *st
		s.Children = append([]v2.ChildSAStatus(nil), st.Children...)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Peer != out[j].Peer {
			return out[i].Peer < out[j].Peer
		}
		return out[i].SPIi < out[j].SPIi
	})
	return out
}

// others returns the peer's ISAKMP SAs other than sa.
func (m *Manager) others(sa *isakmpSA) []*isakmpSA {
	return snapshot.Values(&m.mu, m.sas, func(o *isakmpSA) bool { return o != sa && o.peer.Name == sa.peer.Name })
}

// initialContact deletes the peer's older ISAKMP SAs after an
// authenticated INITIAL-CONTACT (RFC 2407 §4.6.3.3): the peer rebooted and
// has forgotten them.
func (m *Manager) initialContact(sa *isakmpSA) {
	old := m.others(sa)
	for _, o := range old {
		go o.post(func() {
			if o.state != v2.StateConnecting {
				o.close(v2.ReasonPeerDeleted, errors.New("v1: INITIAL-CONTACT from peer"))
			}
		})
	}
}

// siblingChild returns the inbound SPI of an installed IPsec SA with these
// selectors on another established ISAKMP SA of sa's peer (from the
// published status, as the SAs belong to other goroutines), or 0.
func (m *Manager) siblingChild(sa *isakmpSA, local, remote netip.Prefix) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.sas {
		if o == sa || o.peer.Name != sa.peer.Name {
			continue
		}
		st := o.status.Load()
		if st == nil || st.State != v2.StateEstablished {
			continue
		}
		for _, c := range st.Children {
			if c.State == v2.ChildInstalled && len(c.LocalTS) == 1 && c.LocalTS[0] == local && c.RemoteTS[0] == remote {
				return c.InSPI
			}
		}
	}
	return 0
}

// adoptChildren moves the IPsec SAs of the peer's older ISAKMP SAs to sa,
// as strongSwan does when it re-authenticates an IKEv1 SA: IPsec SAs do
// not depend on the ISAKMP SA that negotiated them (RFC 2409 §5.5 derives
// their keys once), so they stay up while the new ISAKMP SA takes over
// their rekeying, DPD and deletion. The old ISAKMP SA then holds none and
// leaves without touching the data plane.
func (m *Manager) adoptChildren(sa *isakmpSA) {
	old := m.others(sa)
	for _, o := range old {
		go o.post(func() {
			if o.state != v2.StateEstablished || len(o.children) == 0 || o.reauthing {
				return
			}
			moved := o.children
			o.children = nil
			o.adopted = true
			o.state = v2.StateRekeyed // replaced; waits for the peer's Delete or its lifetime
			o.log.Info("IPsec SAs adopted by a newer ISAKMP SA of the peer", "count", len(moved))
			go func() {
				if !sa.post(func() { sa.adopt(moved) }) {
					for _, c := range moved {
						m.emit(v2.ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: v2.ReasonDeleted})
						m.freeSPI(c.inSPI)
					}
				}
			}()
		})
	}
}

// siblingSA returns the status of another established ISAKMP SA of sa's
// peer that holds IPsec SAs.
func (m *Manager) siblingSA(sa *isakmpSA) (v2.IKESAStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.sas {
		if o == sa || o.peer.Name != sa.peer.Name {
			continue
		}
		if st := o.status.Load(); st != nil && st.State == v2.StateEstablished && len(st.Children) > 0 {
			return *st, true
		}
	}
	return v2.IKESAStatus{}, false
}

// forwardDelete applies the peer's authenticated Delete of IPsec SAs that
// another ISAKMP SA of the same peer holds.
func (m *Manager) forwardDelete(from *isakmpSA, spis []uint32) {
	for _, o := range m.others(from) {
		go o.post(func() {
			for _, spi := range spis {
				if !o.deleteByOutSPI(spi) {
					// The IPsec SA may still be on its way here (adoption).
					if o.lateDeletes == nil {
						o.lateDeletes = map[uint32]bool{}
					}
					o.lateDeletes[spi] = true
				}
			}
		})
	}
}
