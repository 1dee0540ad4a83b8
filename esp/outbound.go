package esp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
)

// readTUN is the outbound first stage: read a batch, route each packet and
// assign its sequence number, in TUN order.
func (e *Engine) readTUN() {
	var fails int
	for {
		b, ok := e.getBatch(e.outPool)
		if !ok {
			return
		}
		for i := range b.io {
			b.io[i] = b.bufs[i][:bufSize-tailroom]
		}
		n, err := e.cfg.TUN.Read(b.io, b.sizes, headroom)
		if err != nil && n == 0 {
			e.outPool <- b
			if e.closing.Load() || errors.Is(err, os.ErrClosed) {
				return
			}
			e.drop(DropMalformed, nil, nil) // e.g. an unsplittable GSO packet
			fails++
			backoff(fails)
			continue
		}
		fails = 0
		b.n, b.now = n, e.now().UnixNano()
		live := e.routeBatch(b)
		if live == 0 {
			e.outPool <- b
			continue
		}
		if !e.enqueue(b, e.outOrder) {
			return
		}
	}
}

// routeBatch classifies the packets of a freshly read batch. It returns the
// number of packets that go on to encryption.
func (e *Engine) routeBatch(b *batch) (live int) {
	pol := e.policies.Load()
	tunnels := *e.tunnels.Load()
	for i := 0; i < b.n; i++ {
		p := &b.pkts[i]
		*p = packet{start: headroom, end: headroom + b.sizes[i]}
		pkt := b.bufs[i][p.start:p.end]
		src, dst, ok := addrs(pkt)
		if !ok {
			e.drop(DropMalformed, nil, nil)
			p.skip = true
			continue
		}
		id, ok := pol.lookup(src, dst)
		if !ok {
			e.drop(DropNoPolicy, nil, nil)
			p.skip = true
			continue
		}
		t := tunnels[id]
		if t == nil {
			e.drop(DropNoSA, nil, nil)
			p.skip = true
			continue
		}
		p.tun = t
		sa := t.out.Load()
		if sa == nil {
			var r DropReason
			if sa, r = e.enqueueAcquire(t, pkt, e.now()); sa == nil {
				if r != DropNone {
					e.drop(r, t, nil)
				}
				p.skip = true
				continue
			}
		}
		if sa.expired.Load() {
			e.drop(DropExpired, t, &sa.saState)
			p.skip = true
			continue
		}
		mtu := int(sa.innerMTU.Load())
		if len(pkt) > mtu {
			if dontFragment(pkt) {
				if e.writeTooBig(pkt, mtu) {
					e.icmpTooBigSent.Add(1)
				}
				e.drop(DropTooBig, t, &sa.saState)
				p.skip = true
				continue
			}
			// IPv4 without DF: send anyway; the kernel fragments the
			// outer packet (RFC 4301 §8.1: post-encryption fragmentation).
		}
		if t.config().ClampMSS {
			clampMSS(pkt, mtu)
		}
		seq, ok := sa.nextSeq(e)
		if !ok {
			e.drop(DropSeqExhausted, t, &sa.saState)
			p.skip = true
			continue
		}
		p.out, p.seq, p.nh, p.innerLen = sa, seq, nextHeader(pkt[0]), len(pkt)
		live++
	}
	return live
}

// sealBatch encrypts every live packet of an outbound batch.
func (e *Engine) sealBatch(b *batch) {
	for i := 0; i < b.n; i++ {
		p := &b.pkts[i]
		if p.skip {
			continue
		}
		sa := p.out
		start, end, ok := encap(sa.x, sa.spi, p.seq, sa.esn, p.nh, b.bufs[i], p.start, p.innerLen)
		if !ok {
			p.reason = DropTooBig
			continue
		}
		p.start, p.end = start, end
	}
}

// sendOutbound is the outbound in-order stage: wait for each batch's
// crypto, then send it with one batched call per bind.
func (e *Engine) sendOutbound() {
	for {
		var b *batch
		select {
		case b = <-e.outOrder:
		case <-e.done:
			return
		}
		b.mu.Lock()
		e.sendBatch(b)
		b.mu.Unlock()
		e.outPool <- b
	}
}

func (e *Engine) sendBatch(b *batch) {
	udp, raw := b.msgs[:0], b.raw[:0]
	var lastT *tunnel
	var lastSA *outboundSA
	var pkts, bytes uint64
	flush := func() {
		if lastT != nil && pkts > 0 {
			e.countOut(lastT, lastSA, pkts, bytes, b.now)
		}
		pkts, bytes = 0, 0
	}
	for i := 0; i < b.n; i++ {
		p := &b.pkts[i]
		if p.skip {
			continue
		}
		if p.reason != DropNone {
			e.drop(p.reason, p.tun, &p.out.saState)
			continue
		}
		t := p.tun
		cfg := t.config()
		m := Message{Buf: b.bufs[i][p.start:p.end], Local: cfg.Local, Remote: *t.remote.Load()}
		if cfg.Encap {
			udp = append(udp, m)
		} else {
			raw = append(raw, m)
		}
		if p.out != lastSA {
			flush()
			lastT, lastSA = t, p.out
		}
		pkts++
		bytes += uint64(p.innerLen)
	}
	flush()
	if len(udp) > 0 && e.cfg.UDP.Send(udp) != nil {
		e.drops[DropIO].Add(uint64(len(udp)))
	}
	if len(raw) > 0 && e.cfg.RawESP.Send(raw) != nil {
		e.drops[DropIO].Add(uint64(len(raw)))
	}
	clear(b.msgs[:len(udp)]) // drop references to tunnels' addresses
	b.raw = raw[:0]
}

// addrs returns the inner packet's source and destination.
func addrs(pkt []byte) (src, dst netip.Addr, ok bool) {
	if len(pkt) < 1 {
		return
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4HeaderLen {
			return
		}
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), true
	case 6:
		if len(pkt) < ipv6HeaderLen {
			return
		}
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), true
	}
	return
}

// dontFragment reports whether an inner packet must not be fragmented: IPv4
// with DF set, or any IPv6 packet (routers never fragment IPv6).
func dontFragment(pkt []byte) bool {
	if pkt[0]>>4 == 6 {
		return true
	}
	return binary.BigEndian.Uint16(pkt[6:])&0x4000 != 0
}
