package esp

import (
	"encoding/binary"

	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// ESP wire constants (RFC 4303 §2, RFC 3948 §2).
const (
	espHeaderLen  = 8  // SPI + sequence number
	espTrailerLen = 2  // pad length + next header
	ipv4HeaderLen = 20 // outer IPv4 header without options
	ipv6HeaderLen = 40
	udpHeaderLen  = 8

	// Next header values carried in the ESP trailer in tunnel mode.
	protoIPv4  = 4
	protoIPv6  = 41
	protoNoNxt = 59 // dummy packet, RFC 4303 §2.6: discard silently
	protoTCP   = 6
	protoESP   = 50
)

// Buffer layout. Every packet buffer has the same size; TUN reads land at
// headroom so that the ESP header and IV are written in front of the inner
// packet without a copy, and tailroom is left for padding and ICV.
const (
	bufSize = 2048
	// Inbound buffers are large because the TUN device's GRO coalesces
	// consecutive TCP segments of a batch by appending them to the first
	// one's buffer (wireguard/tun offload_linux.go): without the capacity
	// every segment costs its own write(2) and kernel TCP receive.
	inBufSize    = 1 << 16
	headroom     = 64 // ≥ ESP header + largest IV (16) + outer headers, ≥ virtio header
	tailroom     = 64 // ≥ max padding (block-1) + trailer + largest ICV (32)
	recvHeadroom = 32 // inbound datagrams land here; inner packet starts ≥ 32+8
	tunOffset    = 16 // offset passed to Device.Write (virtio header needs 10)
	maxBatch     = 128
)

// Suite parameters needed before a transform exists (RFC 4303 §3.3.2,
// RFC 4106 §3, RFC 7634 §2, RFC 2404/2403/4868 truncated ICV lengths).
func suiteSizes(s xform.Suite) (ivLen, block, icvLen int) {
	switch s.Encr {
	case xform.EncrAESCBC:
		ivLen, block = 16, 16
	case xform.EncrDES, xform.Encr3DES:
		ivLen, block = 8, 8
	case xform.EncrAESGCM16, xform.EncrChaCha20Poly1305:
		ivLen, block, icvLen = 8, 4, 16
	default: // NULL
		ivLen, block = 0, 4
	}
	switch s.Integ {
	case xform.IntegHMACMD596, xform.IntegHMACSHA196:
		icvLen = 12
	case xform.IntegHMACSHA256128:
		icvLen = 16
	case xform.IntegHMACSHA384192:
		icvLen = 24
	case xform.IntegHMACSHA512256:
		icvLen = 32
	}
	return ivLen, block, icvLen
}

// outerLen is the size of the outer headers in front of the ESP header.
func outerLen(ipv6, encap bool) int {
	n := ipv4HeaderLen
	if ipv6 {
		n = ipv6HeaderLen
	}
	if encap {
		n += udpHeaderLen
	}
	return n
}

// Overhead returns the worst-case number of bytes ESP tunnel mode adds to an
// inner packet with the given suite: outer IPv4 header, UDP header when encap
// (RFC 3948), ESP header, IV, maximum padding, trailer and ICV. The TUN MTU
// should be the path MTU minus this.
func Overhead(s xform.Suite, encap bool) int {
	iv, block, icv := suiteSizes(s)
	return outerLen(false, encap) + espHeaderLen + iv + (block - 1) + espTrailerLen + icv
}

// InnerMTU returns the largest inner packet that fits in one outer packet of
// pathMTU bytes, accounting for padding to the block size exactly.
func InnerMTU(pathMTU int, s xform.Suite, encap bool) int {
	iv, block, icv := suiteSizes(s)
	return innerMTU(pathMTU-outerLen(false, encap), iv, block, icv)
}

// innerMTU: the largest L with 8+iv+roundup(L+2, block)+icv ≤ room.
func innerMTU(room, iv, block, icv int) int {
	n := room - espHeaderLen - iv - icv
	if n < 0 {
		return 0
	}
	n -= n % block
	return n - espTrailerLen
}

// MaxTUNMTU is the largest TUN MTU the engine's fixed buffers take.
const MaxTUNMTU = bufSize - headroom - tailroom

// Buffer geometry for callers of Encap: an inner packet placed at Headroom
// in a buffer of BufSize bytes can always be encapsulated in place.
const (
	Headroom = headroom
	BufSize  = bufSize
)

// Encap is the engine's per-packet encapsulation, exported for benchmarks
// and tools (bench/espbench): it builds ESP around buf[off:off+n] in place
// and returns the ESP packet's bounds in buf. nh is 4 (IPv4) or 41 (IPv6).
func Encap(x xform.Transform, spi uint32, seq uint64, esn bool, nh byte, buf []byte, off, n int) (start, end int, ok bool) {
	return encap(x, spi, seq, esn, nh, buf, off, n)
}

// Decap is the engine's per-packet decapsulation, exported for benchmarks
// and tools: it verifies, decrypts and unpads pkt in place.
func Decap(x xform.Transform, pkt []byte, seqHi uint32, esn bool) (inner []byte, nh byte, r DropReason) {
	return decap(x, pkt, seqHi, esn)
}

// encap turns the inner packet at buf[off:off+n] into an ESP packet in place
// (RFC 4303 §2, §3.3): SPI and sequence number in front of the IV, padding
// 1, 2, 3… to the transform's block size (§2.4), pad length, next header and
// the ICV behind, then Seal. It returns the ESP packet's bounds in buf, or
// ok=false if the headroom or tailroom of buf is too small.
func encap(x xform.Transform, spi uint32, seq uint64, esn bool, nh byte, buf []byte, off, n int) (start, end int, ok bool) {
	iv, block := x.IVLen(), x.BlockSize()
	start = off - espHeaderLen - iv
	padded := n + espTrailerLen
	if r := padded % block; r != 0 {
		padded += block - r
	}
	end = off + padded + x.ICVLen()
	if start < 0 || end > len(buf) {
		return 0, 0, false
	}
	binary.BigEndian.PutUint32(buf[start:], spi)
	binary.BigEndian.PutUint32(buf[start+4:], uint32(seq))
	t := buf[off+n : off+padded]
	padLen := len(t) - espTrailerLen
	for i := 0; i < padLen; i++ {
		t[i] = byte(i + 1)
	}
	t[padLen] = byte(padLen)
	t[padLen+1] = nh
	x.Seal(buf[start:end], uint32(seq>>32), esn)
	return start, end, true
}

// decap verifies and decrypts the ESP packet pkt in place and returns the
// inner packet and its next header. Padding must be the monotonic sequence
// 1, 2, 3… (RFC 4303 §2.4: the receiver should check it).
func decap(x xform.Transform, pkt []byte, seqHi uint32, esn bool) (inner []byte, nh byte, reason DropReason) {
	if len(pkt) < espHeaderLen+x.IVLen()+x.ICVLen()+espTrailerLen {
		return nil, 0, DropMalformed
	}
	pt, err := x.Open(pkt, seqHi, esn)
	if err != nil {
		if err == xform.ErrAuth {
			return nil, 0, DropICV
		}
		return nil, 0, DropMalformed
	}
	return unpad(pt)
}

// unpad strips and checks the ESP trailer of a decrypted payload.
func unpad(pt []byte) (inner []byte, nh byte, reason DropReason) {
	if len(pt) < espTrailerLen {
		return nil, 0, DropMalformed
	}
	nh = pt[len(pt)-1]
	padLen := int(pt[len(pt)-2])
	end := len(pt) - espTrailerLen - padLen
	if end < 0 {
		return nil, 0, DropBadPadding
	}
	for i, b := range pt[end : len(pt)-espTrailerLen] {
		if b != byte(i+1) {
			return nil, 0, DropBadPadding
		}
	}
	return pt[:end], nh, DropNone
}

// innerLen validates the inner IP packet carried with next header nh and
// returns its length from its own header; trailing bytes are TFC padding
// (RFC 4303 §2.7) and are dropped.
func innerLen(p []byte, nh byte) (int, DropReason) {
	switch nh {
	case protoIPv4:
		if len(p) < ipv4HeaderLen || p[0]>>4 != 4 || int(p[0]&0xf)*4 < ipv4HeaderLen {
			return 0, DropMalformed
		}
		n := int(binary.BigEndian.Uint16(p[2:]))
		if n < int(p[0]&0xf)*4 || n > len(p) {
			return 0, DropMalformed
		}
		return n, DropNone
	case protoIPv6:
		if len(p) < ipv6HeaderLen || p[0]>>4 != 6 {
			return 0, DropMalformed
		}
		n := ipv6HeaderLen + int(binary.BigEndian.Uint16(p[4:]))
		if n > len(p) {
			return 0, DropMalformed
		}
		return n, DropNone
	}
	return 0, DropMalformed
}
