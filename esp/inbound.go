package esp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
)

// receive is the inbound first stage for one bind: read a batch of
// datagrams, demultiplex IKE and keepalives (UDP only), find the SA by SPI
// and pre-check the replay window before spending CPU on the ICV.
func (e *Engine) receive(bind Bind, udp bool) {
	var fails int
	for {
		b, ok := e.getBatch(e.inPool)
		if !ok {
			return
		}
		for i := range b.msgs {
			b.msgs[i] = Message{Buf: b.bufs[i][recvHeadroom:]}
		}
		n, err := bind.Receive(b.msgs)
		if err != nil && n == 0 {
			e.inPool <- b
			if e.closing.Load() || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
				return
			}
			fails++
			backoff(fails)
			continue
		}
		fails = 0
		b.n, b.now = n, e.now().UnixNano()
		if e.classifyBatch(b, udp) == 0 {
			e.inPool <- b
			continue
		}
		if !e.enqueue(b, e.inOrder) {
			return
		}
	}
}

// classifyBatch prepares an inbound batch; it returns the number of ESP
// packets that go on to decryption.
func (e *Engine) classifyBatch(b *batch, udp bool) (live int) {
	in := *e.inbound.Load()
	for i := 0; i < b.n; i++ {
		m := &b.msgs[i]
		p := &b.pkts[i]
		*p = packet{start: recvHeadroom, end: recvHeadroom + m.N, udp: udp, remote: m.Remote, local: m.Local, skip: true}
		d := m.Buf[:m.N]
		if udp {
			if len(d) == 1 && d[0] == 0xff { // NAT keepalive, RFC 3948 §2.3
				e.keepalivesIn.Add(1)
				continue
			}
			if isNonESPMarker(d) {
				e.ikeIn.Add(1)
				if e.cfg.OnIKE != nil {
					e.cfg.OnIKE(d[4:], m.Local, m.Remote)
				}
				continue
			}
		}
		if len(d) < espHeaderLen {
			e.drop(DropMalformed, nil, nil)
			continue
		}
		spi := binary.BigEndian.Uint32(d)
		sa := in[spi]
		if sa == nil {
			e.drop(DropUnknownSPI, nil, nil)
			continue
		}
		if sa.expired.Load() {
			e.drop(DropExpired, sa.tunnel, &sa.saState)
			continue
		}
		// With ESN the high half is inferred from the window (RFC 4303
		// Appendix A2); a wrong guess fails the ICV.
		seq := sa.win.Infer(binary.BigEndian.Uint32(d[4:]))
		if !sa.win.Check(seq) {
			e.drop(DropReplay, sa.tunnel, &sa.saState)
			continue
		}
		p.in, p.tun, p.seq, p.skip = sa, sa.tunnel, seq, false
		live++
	}
	return live
}

// openBatch verifies and decrypts every live packet of an inbound batch.
func (e *Engine) openBatch(b *batch) {
	for i := 0; i < b.n; i++ {
		p := &b.pkts[i]
		if p.skip {
			continue
		}
		buf := b.bufs[i]
		inner, nh, r := decap(p.in.x, buf[p.start:p.end], uint32(p.seq>>32), p.in.esn)
		if r != DropNone {
			p.reason = r
			continue
		}
		p.nh = nh
		p.start += cap(buf[p.start:]) - cap(inner) // offset of inner within buf
		p.end = p.start + len(inner)
	}
}

// writeTUN is the inbound in-order stage: wait for each batch's crypto,
// move the replay windows, check the inner packets and write them to the
// TUN device in one batched call.
func (e *Engine) writeTUN() {
	for {
		var b *batch
		select {
		case b = <-e.inOrder:
		case <-e.done:
			return
		}
		b.mu.Lock()
		e.deliverBatch(b)
		b.mu.Unlock()
		e.inPool <- b
	}
}

func (e *Engine) deliverBatch(b *batch) {
	pol := e.policies.Load()
	out := b.io[:0]
	var lastSA *inboundSA
	var pkts, bytes uint64
	flush := func() {
		if lastSA != nil && pkts > 0 {
			e.countIn(lastSA, pkts, bytes, b.now)
		}
		pkts, bytes = 0, 0
	}
	for i := 0; i < b.n; i++ {
		p := &b.pkts[i]
		if p.skip {
			continue
		}
		sa, t := p.in, p.tun
		if p.reason != DropNone {
			e.drop(p.reason, t, &sa.saState)
			continue
		}
		// Only now, with the ICV verified, may the packet move the window
		// (RFC 4303 §3.4.3); a duplicate that raced the check fails here.
		if !sa.win.Accept(p.seq) {
			e.drop(DropReplay, t, &sa.saState)
			continue
		}
		if p.seq > sa.top.Load() {
			sa.top.Store(p.seq) // only this goroutine writes it
		}
		if p.nh == protoNoNxt { // dummy packet, RFC 4303 §2.6
			continue
		}
		pkt := b.bufs[i][p.start:p.end]
		n, r := innerLen(pkt, p.nh)
		if r != DropNone {
			e.drop(r, t, &sa.saState)
			continue
		}
		pkt = pkt[:n]
		src, dst, _ := addrs(pkt)
		cfg := t.config()
		if !cfg.AnyInbound && !pol.allowsInbound(t.id, src, dst) {
			e.drop(DropSelector, t, &sa.saState)
			continue
		}
		// Follow a moved peer only on its newest packet, so a straggler
		// from the old address cannot move the tunnel back.
		if p.seq == sa.top.Load() {
			e.followPeer(t, p)
		}
		if cfg.ClampMSS {
			if out := t.out.Load(); out != nil {
				clampMSS(pkt, int(out.innerMTU.Load()))
			}
		}
		out = append(out, b.bufs[i][p.start-tunOffset:p.start+n])
		if sa != lastSA {
			flush()
			lastSA = sa
		}
		pkts++
		bytes += uint64(n)
	}
	flush()
	if len(out) > 0 {
		if _, err := e.cfg.TUN.Write(out, tunOffset); err != nil {
			e.drops[DropIO].Add(1)
		}
	}
}

// followPeer moves the tunnel to the address an authenticated packet came
// from: NAT mappings change, and RFC 7296 §2.23 / RFC 3948 let the
// responder follow, but only for packets that passed the ICV and replay
// check (unauthenticated input never changes state).
func (e *Engine) followPeer(t *tunnel, p *packet) {
	cur := *t.remote.Load()
	if p.udp {
		if p.remote == cur || !t.config().Encap {
			return
		}
	} else if p.remote.Addr() == cur.Addr() || t.config().Encap {
		return
	}
	r := p.remote
	if !p.udp {
		r = netip.AddrPortFrom(p.remote.Addr(), 0)
	}
	t.remote.Store(&r)
	e.emit(Event{Kind: PeerMoved, Tunnel: t.id, SPI: p.in.spi, Remote: r})
}

func (e *Engine) countIn(sa *inboundSA, pkts, bytes uint64, now int64) {
	t := sa.tunnel
	t.c.packetsIn.Add(pkts)
	t.c.bytesIn.Add(bytes)
	t.c.lastIn.Store(now)
	p := sa.c.packetsIn.Add(pkts)
	b := sa.c.bytesIn.Add(bytes)
	sa.c.lastIn.Store(now)
	sa.lifetimeCheck(e, p, b)
}
