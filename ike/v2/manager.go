package v2

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
	"github.com/ipsecgw/ipsecgw/ike/spialloc"
)

// Manager owns every IKEv2 SA of the gateway. HandlePacket may be called
// from several socket readers at once; each SA's state is only touched by
// its own goroutine.
type Manager struct {
	cfg             Config
	clock           Clock
	rand            io.Reader
	log             *slog.Logger
	retrans         Retransmit
	halfOpenTimeout time.Duration
	cookieThreshold int
	ikePort         uint16
	nattPort        uint16
	cookieSecret    []byte
	spis            *spialloc.Allocator // our inbound CHILD_SA SPIs, maybe shared with ike/v1

	mu             sync.Mutex         // guards the maps below
	sas            map[uint64]*ikeSA  // by our SPI
	halfOpen       map[halfKey]*ikeSA // responder SAs before IKE_AUTH, by (peer address, SPIi)
	lastInvalidSPI time.Time          // rate limit of INVALID_IKE_SPI answers

	quit   chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup

	stats struct {
		retransmits, authFailures, dropped atomic.Uint64
	}
}

type halfKey struct {
	remote netip.AddrPort
	spiI   uint64
}

// New creates a Manager. Send is required.
func New(cfg Config) (*Manager, error) {
	if cfg.Send == nil {
		return nil, errors.New("v2: Config.Send is required")
	}
	m := &Manager{cfg: cfg, clock: cfg.Clock, rand: cfg.Rand, log: cfg.Logger,
		retrans: cfg.Retransmit.WithDefaults(), halfOpenTimeout: cfg.HalfOpenTimeout,
		cookieThreshold: cfg.CookieThreshold, ikePort: IKEPort, nattPort: NATTPort,
		sas: map[uint64]*ikeSA{}, halfOpen: map[halfKey]*ikeSA{}, spis: cfg.SPIs,
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
	if m.cookieThreshold == 0 {
		m.cookieThreshold = 64
	}
	m.cookieSecret = make([]byte, 32)
	if _, err := io.ReadFull(m.rand, m.cookieSecret); err != nil {
		return nil, err
	}
	return m, nil
}

// Close stops every SA goroutine without telling the peers and waits.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed.Swap(true) {
		m.mu.Unlock()
		return
	}
	close(m.quit)
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *Manager) emit(e Event) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(e)
	}
}

// newSA makes an SA (not yet registered or running).
func (m *Manager) newSA(p *Peer, initiator bool) *ikeSA {
	sa := &ikeSA{m: m, peer: p, initiator: initiator, state: StateConnecting, created: m.clock.Now(),
		inbox: make(chan any, 32), done: make(chan struct{})}
	sa.log = m.log.With("peer", p.Name)
	return sa
}

// start registers the SA under its SPI and runs its goroutine.
func (m *Manager) start(sa *ikeSA) {
	m.mu.Lock()
	if m.closed.Load() {
		// Close is waiting for the goroutines: start no new one.
		m.mu.Unlock()
		sa.state = StateClosed
		close(sa.done)
		return
	}
	m.sas[sa.ourSPI()] = sa
	m.wg.Add(1)
	m.mu.Unlock()
	sa.publish()
	go sa.run()
}

// unregister forgets a closed SA.
func (m *Manager) unregister(sa *ikeSA) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sas[sa.ourSPI()] == sa {
		delete(m.sas, sa.ourSPI())
	}
	for k, v := range m.halfOpen {
		if v == sa {
			delete(m.halfOpen, k)
		}
	}
}

// establishedSA takes a responder SA out of the half-open set.
func (m *Manager) establishedSA(sa *ikeSA) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.halfOpen {
		if v == sa {
			delete(m.halfOpen, k)
		}
	}
}

// allocIKESPI returns a fresh non-zero IKE SPI.
func (m *Manager) allocIKESPI() uint64 {
	return spialloc.IKESPI(m.rand, func(spi uint64) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.sas[spi] != nil
	})
}

// allocChildSPI returns a fresh inbound ESP SPI from the allocator shared
// with every negotiator feeding the same ESP engine.
func (m *Manager) allocChildSPI() (uint32, error) {
	spi, err := m.spis.Alloc()
	if err != nil {
		return 0, fmt.Errorf("v2: cannot allocate a CHILD_SA SPI: %w", err)
	}
	return spi, nil
}

func (m *Manager) freeChildSPI(spi uint32) { m.spis.Free(spi) }

// jitter returns a random duration in [0, d).
func (m *Manager) jitter(d time.Duration) time.Duration { return timing.Jitter(m.rand, d) }

// rekeyDelay schedules a rekey before the hard lifetime, minus up to 5 %
// of jitter so that the two ends rarely collide. The margin before expiry
// is 10 % of the lifetime but at least min(lifetime/3, 30 s): with the
// window of one exchange, a child rekey may have to wait for an IKE rekey
// (or a retransmission) to finish, and with short lifetimes 10 % is not
// enough time for that.
func (m *Manager) rekeyDelay(lifetime time.Duration) time.Duration {
	margin := max(lifetime/10, min(lifetime/3, 30*time.Second))
	return lifetime - margin - m.jitter(lifetime/20)
}

// retryDelay spaces out a refused or failed rekey (TEMPORARY_FAILURE, §2.25).
func (m *Manager) retryDelay() time.Duration {
	return 2*time.Second + m.jitter(8*time.Second)
}

// Initiate starts an IKE SA (and its first CHILD_SA) to p.
func (m *Manager) Initiate(p *Peer) error {
	if err := p.validate(); err != nil {
		return err
	}
	if m.closed.Load() {
		return errors.New("v2: manager closed")
	}
	sa := m.newSA(p, true)
	sa.spiI = m.allocIKESPI()
	sa.local = netip.AddrPortFrom(p.Local, m.ikePort)
	sa.remote = netip.AddrPortFrom(p.Remote, m.ikePort)
	m.start(sa)
	sa.post(sa.startInit)
	return nil
}

// each runs fn on the goroutine of every SA of the named peer and returns
// how many there were.
func (m *Manager) each(name string, fn func(*ikeSA)) int {
	list := snapshot.Values(&m.mu, m.sas, func(sa *ikeSA) bool { return sa.peer.Name == name })
	for _, sa := range list {
		sa := sa
		sa.post(func() { fn(sa) })
	}
	return len(list)
}

// Terminate deletes every IKE SA of the named peer (with a Delete to the
// peer) and returns how many there were.
func (m *Manager) Terminate(name string) int {
	return m.each(name, func(sa *ikeSA) { sa.terminate() })
}

// FollowESP tells the named peer's IKE SA that the data plane received an
// authenticated ESP packet of its CHILD_SA inSPI from a new address: a NAT
// in front of the peer changed its mapping (RFC 7296 §2.23, RFC 3948 §2.1
// — ESP-in-UDP shares the floated IKE port). Without it the next liveness
// check would go to the dead mapping and declare a live peer dead. Only an
// SA that knows the peer is behind a NAT and has floated to port 4500
// follows (its local port is the NAT-T port; the peer's is whatever its
// NAT maps); it returns how many of the peer's SAs were asked.
func (m *Manager) FollowESP(name string, inSPI uint32, to netip.AddrPort) int {
	return m.each(name, func(sa *ikeSA) {
		if sa.state != StateEstablished || !sa.natRemote || sa.remote == to ||
			sa.local.Port() != m.nattPort || to.Port() == m.ikePort {
			return
		}
		owns := false
		for _, c := range sa.children {
			owns = owns || c.inSPI == inSPI
		}
		if !owns {
			return
		}
		from := sa.remote
		sa.remote = to
		for _, c := range sa.children {
			c.remote = to
		}
		sa.log.Info("peer moved (ESP)", "from", from, "to", to)
	})
}

// Rekey rekeys the named peer's IKE SA (ike) or its CHILD_SAs now.
func (m *Manager) Rekey(name string, ike bool) int {
	return m.each(name, func(sa *ikeSA) {
		if sa.state != StateEstablished {
			return
		}
		if ike {
			sa.startIKERekey()
			return
		}
		for _, c := range append([]*child(nil), sa.children...) {
			sa.startChildRekey(c)
		}
	})
}

// SAs returns a snapshot of every IKE SA, ordered by peer name and SPI.
// It never blocks on SA goroutines.
func (m *Manager) SAs() []IKESAStatus {
	list := snapshot.Values(&m.mu, m.sas, nil)
	now := m.clock.Now()
	out := make([]IKESAStatus, 0, len(list))
	for _, sa := range list {
		st := sa.status.Load()
		if st == nil || st.State == StateClosed {
			continue
		}
		s := *st
		if !s.rekeyAt.IsZero() {
			s.RekeyIn = max(s.rekeyAt.Sub(now), 0)
		}
		s.Children = append([]ChildSAStatus(nil), st.Children...)
		for i := range s.Children {
			if at := s.Children[i].rekeyAt; !at.IsZero() {
				s.Children[i].RekeyIn = max(at.Sub(now), 0)
			}
		}
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

// initialContact deletes the peer's older IKE SAs after an authenticated
// INITIAL_CONTACT (§2.4): the peer rebooted and has forgotten them.
func (m *Manager) initialContact(sa *ikeSA) {
	old := snapshot.Values(&m.mu, m.sas, func(o *ikeSA) bool { return o != sa && o.peer.Name == sa.peer.Name })
	for _, o := range old {
		o := o
		go o.post(func() {
			if o.state != StateConnecting {
				o.close(ReasonPeerDeleted, errors.New("v2: INITIAL_CONTACT from peer"))
			}
		})
	}
}

// cookie computes the §2.6 cookie: a secret-keyed hash of Ni, the
// initiator's address and SPIi, so the responder keeps no state.
func (m *Manager) cookie(ni []byte, remote netip.AddrPort, spiI uint64) []byte {
	h := hmac.New(sha256.New, m.cookieSecret)
	h.Write(ni)
	h.Write(remote.Addr().AsSlice())
	binary.Write(h, binary.BigEndian, spiI)
	return h.Sum([]byte{0})[:17] // version octet 0 + 16 bytes
}

// Stats are counters for monitoring.
type Stats struct {
	Retransmits, AuthFailures, Dropped uint64
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{m.stats.retransmits.Load(), m.stats.authFailures.Load(), m.stats.dropped.Load()}
}
