package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/replay"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// maxRetired bounds the replaced outbound SAs a tunnel keeps for Stats.
const maxRetired = 4

// initSA fills the shared SA state from cfg and builds its transform.
func (e *Engine) initSA(st *saState, cfg SAConfig) error {
	if cfg.SPI < 256 {
		// RFC 4303 §2.1: SPIs 1–255 are reserved, 0 is for local use.
		return fmt.Errorf("esp: sa %v: reserved SPI", cfg)
	}
	t, err := e.tunnel(cfg.Tunnel)
	if err != nil {
		return err
	}
	x, err := xform.NewWithRand(cfg.Suite, cfg.EncKey, cfg.IntegKey, e.rand)
	if err != nil {
		return fmt.Errorf("esp: sa %v: %w", cfg, err)
	}
	st.spi, st.tunnel, st.x, st.esn, st.life, st.added = cfg.SPI, t, x, cfg.ESN, cfg.Lifetime, e.now()
	return nil
}

// AddInbound installs an inbound SA. Install it before the peer can use it
// (before the IKE response that completes the exchange goes out).
func (e *Engine) AddInbound(cfg SAConfig) error {
	sa := &inboundSA{win: replay.New(e.cfg.ReplayWindow, cfg.ESN)}
	if err := e.initSA(&sa.saState, cfg); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.inbound.Load()
	if _, dup := old[cfg.SPI]; dup {
		return fmt.Errorf("esp: sa %v: inbound SPI already installed", cfg)
	}
	m := maps.Clone(old)
	m[cfg.SPI] = sa
	e.inbound.Store(&m)
	e.log.Info("esp: inbound sa added", "spi", hex32(cfg.SPI), "tunnel", cfg.Tunnel, "suite", cfg.Suite.String())
	return nil
}

// RemoveInbound removes an inbound SA after grace; with grace 0 at once.
// During the grace period the SA keeps decrypting packets the peer sent
// before it switched to the new SA (make-before-break rekeying).
func (e *Engine) RemoveInbound(spi uint32, grace time.Duration) {
	sa := (*e.inbound.Load())[spi]
	if sa == nil {
		return
	}
	if grace <= 0 {
		e.removeInbound(spi)
		return
	}
	sa.retired.Store(true)
	sa.removeAt.Store(e.now().Add(grace).UnixNano())
}

func (e *Engine) removeInbound(spi uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.inbound.Load()
	if _, ok := old[spi]; !ok {
		return
	}
	m := maps.Clone(old)
	delete(m, spi)
	e.inbound.Store(&m)
	e.log.Info("esp: inbound sa removed", "spi", hex32(spi))
}

// SetOutbound makes cfg the tunnel's outbound SA from the next packet on,
// and sends the packets queued while it was negotiated. The previous SA is
// kept (retired) for Stats.
func (e *Engine) SetOutbound(id TunnelID, cfg SAConfig) error {
	cfg.Tunnel = id
	sa := &outboundSA{limit: maxSeq32}
	if err := e.initSA(&sa.saState, cfg); err != nil {
		return err
	}
	if cfg.ESN {
		sa.limit = maxSeq64
	}
	sa.warnAt = sa.limit - seqReserve
	t := sa.tunnel
	sa.innerMTU.Store(int32(computeInnerMTU(t.config(), sa)))

	// Send the queued packets before publishing the SA, so they get the
	// first sequence numbers and leave before any packet read after the
	// switch; readers that find no SA queue under t.mu and so wait.
	t.mu.Lock()
	defer t.mu.Unlock()
	e.flushQueueLocked(t, sa)
	if old := t.out.Swap(sa); old != nil {
		e.retire(t, old)
	}
	e.log.Info("esp: outbound sa set", "spi", hex32(cfg.SPI), "tunnel", id, "suite", cfg.Suite.String())
	return nil
}

// RemoveOutbound stops the tunnel's outbound traffic; matching packets
// queue and trigger Acquire again.
func (e *Engine) RemoveOutbound(id TunnelID) {
	t, err := e.tunnel(id)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.out.Swap(nil); old != nil {
		e.retire(t, old)
	}
}

// retire keeps a replaced outbound SA's counters; t.mu held.
func (e *Engine) retire(t *tunnel, sa *outboundSA) {
	sa.retired.Store(true)
	t.retired = append(t.retired, sa)
	if len(t.retired) > maxRetired {
		t.retired = t.retired[len(t.retired)-maxRetired:]
	}
}

// enqueueAcquire keeps a copy of a packet for a tunnel without outbound SA
// and raises Acquire (rate limited). It returns the SA if one appeared in
// the meantime, in which case the caller sends the packet normally.
func (e *Engine) enqueueAcquire(t *tunnel, pkt []byte, now time.Time) (*outboundSA, DropReason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sa := t.out.Load(); sa != nil {
		return sa, DropNone
	}
	if len(t.queue) >= t.config().queueLimit() {
		return nil, DropQueueFull
	}
	var b []byte
	if n := len(t.queueFree); n > 0 {
		b, t.queueFree = t.queueFree[n-1], t.queueFree[:n-1]
	} else {
		b = make([]byte, bufSize)
	}
	copy(b[headroom:], pkt)
	t.queue = append(t.queue, b)
	t.queueLen = append(t.queueLen, len(pkt))
	e.acquireQueued.Add(1)
	if now.Sub(t.lastAcquire) >= acquireEvery || t.lastAcquire.IsZero() {
		t.lastAcquire = now
		e.emit(Event{Kind: Acquire, Tunnel: t.id})
	}
	return nil, DropNone
}

// flushQueueLocked encrypts and sends the acquire queue with sa; t.mu held.
// This is the control path (once per SA installation), so it runs inline.
func (e *Engine) flushQueueLocked(t *tunnel, sa *outboundSA) {
	if len(t.queue) == 0 {
		return
	}
	cfg := t.config()
	remote := *t.remote.Load()
	msgs := make([]Message, 0, len(t.queue))
	var bytes uint64
	for i, b := range t.queue {
		n := t.queueLen[i]
		seq, ok := sa.nextSeq(e)
		if !ok {
			e.drop(DropSeqExhausted, t, &sa.saState)
			continue
		}
		start, end, ok := encap(sa.x, sa.spi, seq, sa.esn, nextHeader(b[headroom]), b, headroom, n)
		if !ok {
			e.drop(DropTooBig, t, &sa.saState)
			continue
		}
		msgs = append(msgs, Message{Buf: b[start:end], Local: cfg.Local, Remote: remote})
		bytes += uint64(n)
	}
	if err := e.bindFor(cfg).Send(msgs); err != nil {
		for range msgs {
			e.drop(DropIO, t, &sa.saState)
		}
	} else {
		e.countOut(t, sa, uint64(len(msgs)), bytes, e.now().UnixNano())
	}
	t.queueFree = append(t.queueFree, t.queue...)
	t.queue, t.queueLen = t.queue[:0], t.queueLen[:0]
}

// nextHeader maps an inner packet's IP version to the ESP next header.
func nextHeader(first byte) byte {
	if first>>4 == 6 {
		return protoIPv6
	}
	return protoIPv4
}

func (e *Engine) bindFor(c *TunnelConfig) Bind {
	if c.Encap {
		return e.cfg.UDP
	}
	return e.cfg.RawESP
}

// countOut accounts sent packets to the tunnel and SA.
func (e *Engine) countOut(t *tunnel, sa *outboundSA, pkts, bytes uint64, now int64) {
	t.c.packetsOut.Add(pkts)
	t.c.bytesOut.Add(bytes)
	t.c.lastOut.Store(now)
	p := sa.c.packetsOut.Add(pkts)
	b := sa.c.bytesOut.Add(bytes)
	sa.c.lastOut.Store(now)
	sa.lifetimeCheck(e, p, b)
}

// keepalive sends a NAT keepalive if the tunnel needs one (RFC 3948 §2.3).
func (e *Engine) keepalive(t *tunnel, now time.Time) {
	cfg := t.config()
	if !cfg.Keepalive || !cfg.Encap {
		return
	}
	last := max(t.lastKeepalive.Load(), t.c.lastOut.Load())
	if now.UnixNano()-last < int64(keepaliveEvery) {
		return
	}
	t.lastKeepalive.Store(now.UnixNano())
	msg := []Message{{Buf: []byte{0xff}, Local: cfg.Local, Remote: *t.remote.Load()}}
	if e.cfg.UDP.Send(msg) == nil {
		t.keepalives.Add(1)
	}
}

// SendIKE sends an IKE message on the UDP port-4500 bind behind the
// non-ESP marker (RFC 3948 §2.2). local may be the zero value.
func (e *Engine) SendIKE(pkt []byte, local, remote netip.AddrPort) error {
	if e.cfg.UDP == nil {
		return errors.New("esp: no UDP bind for IKE")
	}
	b := make([]byte, 4+len(pkt))
	copy(b[4:], pkt)
	if err := e.cfg.UDP.Send([]Message{{Buf: b, Local: local, Remote: remote}}); err != nil {
		return fmt.Errorf("esp: send ike: %w", err)
	}
	return nil
}

// isNonESPMarker reports whether a UDP-4500 payload is IKE (RFC 3948 §2.2).
func isNonESPMarker(b []byte) bool {
	return len(b) >= 4 && binary.BigEndian.Uint32(b) == 0
}
