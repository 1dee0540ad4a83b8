// Package healthcheck probes an on-premises address through an IPsec
// connection with ICMP echo requests (SPEC §1 "Health check"): every
// Interval (default 3 s) one echo request leaves from the configured
// cloud-side source address; a probe not answered within Timeout fails;
// Retries (default 3) consecutive failures declare the target down, one
// answered probe declares it up again. Each change is reported once, so the
// daemon can withdraw the connection's routes on failure and re-publish them
// on recovery ("switch route").
//
// The source matters: probes from the tunnel's 169.254 address get no reply
// back through the tunnel (shared/lab/README.md), so the socket is bound to
// Source and the on-premises side routes Source/32 into the tunnel.
//
// The state machine (prober.go) is separate from the socket (icmp.go) and
// the timers (Run), so it is tested with a fake clock.
package healthcheck

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Defaults from SPEC §1.
const (
	DefaultInterval = 3 * time.Second
	DefaultRetries  = 3
)

// Config configures a Checker.
type Config struct {
	// Destination is the on-premises address that answers ICMP echo;
	// required.
	Destination netip.Addr
	// Source is the cloud-side address the probes leave from; required,
	// same family as Destination.
	Source netip.Addr
	// Interval between probes; default 3 s.
	Interval time.Duration
	// Retries is how many consecutive failed probes declare the target
	// down; default 3.
	Retries int
	// Timeout is how long a probe waits for its reply; default Interval.
	Timeout time.Duration
	// Logger receives state changes and socket errors; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand seeds the echo identifier, payload token and first sequence
	// number; default crypto/rand.
	Rand io.Reader
	// Dial opens the echo socket; default DialICMP. Tests substitute an
	// in-memory target.
	Dial func(src, dst netip.Addr, id uint16) (Conn, error)
}

// Conn is an ICMP echo socket between Source and Destination.
type Conn interface {
	// Send sends an echo request with the given sequence number and payload.
	Send(seq uint16, payload []byte) error
	// Recv blocks until an echo reply to one of this socket's requests
	// arrives from the destination, and returns its sequence number and
	// payload. It fails once the Conn is closed.
	Recv() (seq uint16, payload []byte, err error)
	// Close releases the socket and unblocks Recv.
	Close() error
}

// Checker probes one destination. Create it with New, run it with Run.
type Checker struct {
	cfg      Config
	log      *slog.Logger
	onChange func(up bool)
	id       uint16
	// token is the payload of every probe: replies must echo it, so a
	// stray reply with a matching ID and sequence (another prober, a
	// previous run) is not taken for ours.
	token [8]byte

	// mu guards p, which Run drives and Stats reads.
	mu sync.Mutex
	p  *prober
}

// New validates cfg, fills in defaults and returns a Checker. onChange is
// called from Run's goroutine with true when the target becomes up and false
// when it becomes down; it may be nil.
func New(cfg Config, onChange func(up bool)) (*Checker, error) {
	if !cfg.Destination.IsValid() || !cfg.Source.IsValid() {
		return nil, errors.New("healthcheck: destination and source required")
	}
	if cfg.Destination.Is4() != cfg.Source.Is4() {
		return nil, fmt.Errorf("healthcheck: source %v and destination %v of different families", cfg.Source, cfg.Destination)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = cfg.Interval
	}
	if cfg.Interval < 0 || cfg.Retries < 0 || cfg.Timeout < 0 {
		return nil, errors.New("healthcheck: negative interval, retries or timeout")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Dial == nil {
		cfg.Dial = DialICMP
	}
	var seed [12]byte
	if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("healthcheck: random: %w", err)
	}
	c := &Checker{
		cfg:      cfg,
		log:      cfg.Logger.With("destination", cfg.Destination, "source", cfg.Source),
		onChange: onChange,
		id:       binary.BigEndian.Uint16(seed[0:2]),
		p:        newProber(cfg.Retries, cfg.Timeout, binary.BigEndian.Uint16(seed[2:4])),
	}
	copy(c.token[:], seed[4:])
	return c, nil
}

// Stats returns a snapshot of the counters.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p.stats
}

type reply struct {
	seq uint16
	at  time.Time
}

// Run probes until ctx is done; it returns ctx's error. The socket is
// opened in the calling goroutine (so a caller that entered a network
// namespace on a locked thread gets it there) and re-opened after errors;
// while it cannot be opened every probe fails, so a source address that
// vanished takes the target down.
func (c *Checker) Run(ctx context.Context) error {
	var (
		conn    Conn
		replies chan reply
		readErr chan error
	)
	closeConn := func() {
		if conn != nil {
			conn.Close()
			conn, replies, readErr = nil, nil, nil
		}
	}
	defer closeConn()

	ticker := time.NewTicker(c.cfg.Interval)
	defer ticker.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()

	var dialErr string
	probe := func() {
		if conn == nil {
			cn, err := c.cfg.Dial(c.cfg.Source, c.cfg.Destination, c.id)
			if err != nil {
				if err.Error() != dialErr { // log each distinct error once
					c.log.Warn("healthcheck: cannot open ICMP socket", "err", err)
					dialErr = err.Error()
				}
			} else {
				dialErr = ""
				conn = cn
				replies, readErr = make(chan reply, 16), make(chan error, 1)
				go c.read(conn, replies, readErr)
			}
		}
		c.mu.Lock()
		seq := c.p.send(c.cfg.Now())
		c.mu.Unlock()
		err := errors.New("no socket")
		if conn != nil {
			err = conn.Send(seq, c.token[:])
		}
		if err != nil {
			if conn != nil {
				c.log.Debug("healthcheck: send failed", "err", err)
				closeConn()
			}
			c.event(func(now time.Time) bool { return c.p.sendFailed(seq, now) })
		}
	}

	probe()
	for {
		c.mu.Lock()
		next, ok := c.p.nextExpiry()
		c.mu.Unlock()
		if ok {
			// Since Go 1.23 Reset discards a pending fire. Without
			// pending probes a stale fire is harmless.
			expiry.Reset(max(next.Sub(c.cfg.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			c.event(c.p.expire)
			probe()
		case <-expiry.C:
			c.event(c.p.expire)
		case r := <-replies:
			c.event(func(time.Time) bool { return c.p.reply(r.seq, r.at) })
		case err := <-readErr:
			c.log.Debug("healthcheck: receive failed", "err", err)
			closeConn()
		}
	}
}

// event applies f to the prober under the lock and reports a state change.
func (c *Checker) event(f func(now time.Time) bool) {
	c.mu.Lock()
	changed := f(c.cfg.Now())
	st := c.p.stats
	c.mu.Unlock()
	if !changed {
		return
	}
	c.log.Info("healthcheck: target "+st.State.String(), "failures", st.ConsecutiveFailures, "rtt", st.LastRTT)
	if c.onChange != nil {
		c.onChange(st.State == StateUp)
	}
}

// read forwards matching replies until the Conn fails.
func (c *Checker) read(conn Conn, out chan<- reply, errc chan<- error) {
	for {
		seq, payload, err := conn.Recv()
		if err != nil {
			errc <- err
			return
		}
		if string(payload) != string(c.token[:]) {
			continue
		}
		select {
		case out <- reply{seq: seq, at: c.cfg.Now()}:
		default: // Run is behind; the probe will expire instead
		}
	}
}
