package esp

import (
	"encoding/binary"
)

// icmpMaxLen bounds the ICMP errors the engine writes back to the TUN: an
// IPv6 header, the ICMP header and up to 128 bytes of the offending packet.
const (
	icmpQuote  = 128
	icmpMaxLen = ipv6HeaderLen + 8 + icmpQuote
)

// writeTooBig writes an ICMP "fragmentation needed" (type 3 code 4 with the
// next-hop MTU, RFC 792 / RFC 1191 §4) or an ICMPv6 "packet too big"
// (RFC 4443 §3.2) for pkt into the TUN device, so the sender's path MTU
// discovery learns the tunnel's inner MTU. Its source is the original
// destination: an address that routes into the tunnel, so the kernel's
// reverse-path filter accepts it on the TUN (one of our own addresses
// would be dropped as a martian). Only the reader goroutine calls it; it
// uses the engine's scratch buffer and allocates nothing.
func (e *Engine) writeTooBig(pkt []byte, mtu int) bool {
	buf := e.icmpScratch[:]
	o := buf[tunOffset:]
	var n int
	if pkt[0]>>4 == 4 {
		ihl := int(pkt[0]&0xf) * 4
		if ihl < ipv4HeaderLen || len(pkt) < ihl+8 ||
			binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0 || isICMPError(pkt[9], pkt[ihl]) {
			return false // RFC 1122 §3.2.2: no errors about errors or later fragments
		}
		q := min(len(pkt), ihl+8)
		n = ipv4HeaderLen + 8 + q
		clear(o[:ipv4HeaderLen+8])
		o[0] = 0x45
		binary.BigEndian.PutUint16(o[2:], uint16(n))
		o[8], o[9] = 64, 1 // TTL, ICMP
		copy(o[12:16], pkt[16:20])
		copy(o[16:20], pkt[12:16])
		binary.BigEndian.PutUint16(o[10:], ^fold(checksum(o[:ipv4HeaderLen], 0)))
		m := o[ipv4HeaderLen:n]
		m[0], m[1] = 3, 4
		binary.BigEndian.PutUint16(m[6:], uint16(mtu))
		copy(m[8:], pkt[:q])
		binary.BigEndian.PutUint16(m[2:], ^fold(checksum(m, 0)))
	} else {
		if len(pkt) < ipv6HeaderLen || pkt[6] == 58 && len(pkt) > ipv6HeaderLen && pkt[ipv6HeaderLen] < 128 {
			return false // no ICMPv6 error about an ICMPv6 error (RFC 4443 §2.4)
		}
		q := min(len(pkt), icmpQuote)
		n = ipv6HeaderLen + 8 + q
		clear(o[:ipv6HeaderLen+8])
		o[0] = 0x60
		binary.BigEndian.PutUint16(o[4:], uint16(8+q))
		o[6], o[7] = 58, 64
		copy(o[8:24], pkt[24:40])
		copy(o[24:40], pkt[8:24])
		m := o[ipv6HeaderLen:n]
		m[0] = 2
		binary.BigEndian.PutUint32(m[4:], uint32(mtu))
		copy(m[8:], pkt[:q])
		// Pseudo-header: addresses, upper-layer length, next header.
		sum := checksum(o[8:40], 0)
		sum = checksum(m, sum+uint32(len(m))+58)
		binary.BigEndian.PutUint16(m[2:], ^fold(sum))
	}
	e.icmpBufs[0] = buf[:tunOffset+n]
	_, err := e.cfg.TUN.Write(e.icmpBufs[:], tunOffset)
	return err == nil
}

func isICMPError(proto, typ byte) bool {
	return proto == 1 && (typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12)
}

// checksum adds b to a running one's-complement sum (RFC 1071); fold
// reduces the sum to 16 bits.
func checksum(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// clampMSS lowers the MSS option of a TCP SYN so that the segments the peer
// sends fit into the tunnel's inner MTU, fixing the TCP checksum
// incrementally (RFC 1624 eqn. 3).
func clampMSS(pkt []byte, mtu int) {
	var tcp []byte
	var ipLen int
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0xf) * 4
		if pkt[9] != protoTCP || binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0 || len(pkt) < ihl+20 {
			return
		}
		tcp, ipLen = pkt[ihl:], ipv4HeaderLen
	case 6:
		if len(pkt) < ipv6HeaderLen+20 || pkt[6] != protoTCP {
			return
		}
		tcp, ipLen = pkt[ipv6HeaderLen:], ipv6HeaderLen
	default:
		return
	}
	if tcp[13]&0x02 == 0 { // not a SYN
		return
	}
	limit := mtu - ipLen - 20
	if limit <= 0 {
		return
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return
	}
	opts := tcp[20:doff]
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return
		case 1: // no-op
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			return
		}
		if opts[0] == 2 && opts[1] == 4 {
			old := binary.BigEndian.Uint16(opts[2:])
			if int(old) <= limit {
				return
			}
			binary.BigEndian.PutUint16(opts[2:], uint16(limit))
			hc := binary.BigEndian.Uint16(tcp[16:])
			sum := uint32(^hc) + uint32(^old) + uint32(limit)
			binary.BigEndian.PutUint16(tcp[16:], ^fold(sum))
			return
		}
		opts = opts[opts[1]:]
	}
}
