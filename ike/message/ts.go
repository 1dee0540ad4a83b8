package message

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// TS is the Traffic Selector payload, TSi or TSr (RFC 7296 §3.13).
type TS struct {
	// Responder selects TSr; false is TSi.
	Responder bool
	// Selectors in wire order (at least one).
	Selectors []Selector
}

// Selector is one traffic selector substructure (RFC 7296 §3.13.1). For the
// address-range types both addresses have the family of Type; selectors of
// other types are kept in Raw so that a responder can narrow them away.
type Selector struct {
	Type TSType // TS_IPV4_ADDR_RANGE, TS_IPV6_ADDR_RANGE or other (Raw)
	// IPProtocol is the IP protocol number, 0 for any.
	IPProtocol uint8
	// StartPort and EndPort delimit the port range; 0–65535 is any port,
	// and 65535–0 is OPAQUE (RFC 7296 §3.13.1).
	StartPort, EndPort uint16
	// StartAddr and EndAddr delimit the inclusive address range.
	StartAddr, EndAddr netip.Addr
	// Raw is the substructure after Type, IP Protocol ID and Selector
	// Length, for types other than TS_IPV4_ADDR_RANGE/TS_IPV6_ADDR_RANGE.
	Raw []byte
}

// Type implements Payload.
func (t *TS) Type() PayloadType {
	if t.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// Critical implements Payload.
func (*TS) Critical() bool { return false }

// AppendBody implements Payload.
func (t *TS) AppendBody(b []byte) ([]byte, error) {
	if len(t.Selectors) == 0 || len(t.Selectors) > 255 {
		return nil, marshalError("%d traffic selectors", len(t.Selectors))
	}
	b = append(b, byte(len(t.Selectors)), 0, 0, 0)
	for i := range t.Selectors {
		var err error
		if b, err = t.Selectors[i].append(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (s *Selector) append(b []byte) ([]byte, error) {
	var alen int
	switch s.Type {
	case TSIPv4AddrRange:
		alen = 4
	case TSIPv6AddrRange:
		alen = 16
	default:
		if 4+len(s.Raw) > 0xffff {
			return nil, marshalError("selector of %d bytes", len(s.Raw))
		}
		b = append(b, byte(s.Type), s.IPProtocol)
		b = binary.BigEndian.AppendUint16(b, uint16(4+len(s.Raw)))
		return append(b, s.Raw...), nil
	}
	if s.StartAddr.BitLen() != 8*alen || s.EndAddr.BitLen() != 8*alen {
		return nil, marshalError("%s with addresses %v-%v", s.Type, s.StartAddr, s.EndAddr)
	}
	b = append(b, byte(s.Type), s.IPProtocol)
	b = binary.BigEndian.AppendUint16(b, uint16(8+2*alen))
	b = binary.BigEndian.AppendUint16(b, s.StartPort)
	b = binary.BigEndian.AppendUint16(b, s.EndPort)
	b = append(b, s.StartAddr.AsSlice()...)
	return append(b, s.EndAddr.AsSlice()...), nil
}

func parseTS(t PayloadType, body []byte) (*TS, error) {
	r := reader(body)
	var n uint8
	if !r.u8(&n) || !r.skip(3) {
		return nil, syntaxError("truncated %s payload", t)
	}
	if n == 0 {
		return nil, syntaxError("%s payload without selectors", t)
	}
	ts := &TS{Responder: t == PayloadTSr, Selectors: make([]Selector, 0, n)}
	for !r.empty() {
		var typ, proto uint8
		var slen uint16
		if !r.u8(&typ) || !r.u8(&proto) || !r.u16(&slen) {
			return nil, syntaxError("truncated traffic selector")
		}
		if slen < 4 || int(slen)-4 > len(r) {
			return nil, syntaxError("traffic selector length %d out of range", slen)
		}
		var sb []byte
		r.bytes(int(slen)-4, &sb)
		s := Selector{Type: TSType(typ), IPProtocol: proto}
		var alen int
		switch s.Type {
		case TSIPv4AddrRange:
			alen = 4
		case TSIPv6AddrRange:
			alen = 16
		default:
			s.Raw = sb
			ts.Selectors = append(ts.Selectors, s)
			continue
		}
		// RFC 7296 §3.13.1: the selector length is fixed by the type
		// (16 for IPv4, 40 for IPv6).
		if len(sb) != 4+2*alen {
			return nil, syntaxError("%s of length %d", s.Type, slen)
		}
		s.StartPort = binary.BigEndian.Uint16(sb[0:2])
		s.EndPort = binary.BigEndian.Uint16(sb[2:4])
		s.StartAddr, _ = netip.AddrFromSlice(sb[4 : 4+alen])
		s.EndAddr, _ = netip.AddrFromSlice(sb[4+alen:])
		ts.Selectors = append(ts.Selectors, s)
	}
	if len(ts.Selectors) != int(n) {
		return nil, syntaxError("%s: %d selectors declared, %d present", t, n, len(ts.Selectors))
	}
	return ts, nil
}

// SelectorFromPrefix returns the selector covering prefix p with any
// protocol and any port (the zero Selector for an invalid prefix).
func SelectorFromPrefix(p netip.Prefix) Selector {
	if !p.IsValid() {
		return Selector{}
	}
	p = p.Masked()
	s := Selector{Type: TSIPv4AddrRange, EndPort: 0xffff, StartAddr: p.Addr()}
	if p.Addr().Is6() {
		s.Type = TSIPv6AddrRange
	}
	s.EndAddr = lastAddr(p)
	return s
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	for i := p.Bits() + 8*off; i < 128; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

// IsIP reports whether s is an address-range selector (IPv4 or IPv6).
func (s *Selector) IsIP() bool { return s.Type == TSIPv4AddrRange || s.Type == TSIPv6AddrRange }

// AnyPort reports whether the selector covers every port of its protocol.
func (s *Selector) AnyPort() bool { return s.StartPort == 0 && s.EndPort == 0xffff }

// Prefix returns the single prefix equal to the address range, if there is
// one (the common case: a subnet).
func (s *Selector) Prefix() (netip.Prefix, bool) {
	ps := s.Prefixes()
	if len(ps) != 1 {
		return netip.Prefix{}, false
	}
	return ps[0], true
}

// Prefixes returns the smallest list of prefixes exactly covering the
// address range, or nil if the range is empty or not an IP selector.
func (s *Selector) Prefixes() []netip.Prefix {
	if !s.IsIP() || !s.StartAddr.IsValid() || s.StartAddr.BitLen() != s.EndAddr.BitLen() || s.EndAddr.Less(s.StartAddr) {
		return nil
	}
	width := s.StartAddr.BitLen()
	lo, hi := toU128(s.StartAddr), toU128(s.EndAddr)
	var out []netip.Prefix
	for {
		// The largest block starting at lo is limited by lo's alignment
		// and by the distance to hi.
		size := lo.trailingZeros()
		if size > width {
			size = width
		}
		for size > 0 && lo.addOnes(size).greater(hi) {
			size--
		}
		out = append(out, netip.PrefixFrom(fromU128(lo, width), width-size))
		end := lo.addOnes(size)
		if !end.less(hi) {
			return out
		}
		lo = end.inc()
	}
}

// u128 is an address as a 128-bit integer (IPv4 in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	if a.Is4() {
		v := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(v[:]))}
	}
	v := a.As16()
	return u128{binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])}
}

func fromU128(v u128, width int) netip.Addr {
	if width == 32 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], v.hi)
	binary.BigEndian.PutUint64(b[8:], v.lo)
	return netip.AddrFrom16(b)
}

func (v u128) trailingZeros() int {
	if v.lo != 0 {
		return bits.TrailingZeros64(v.lo)
	}
	if v.hi != 0 {
		return 64 + bits.TrailingZeros64(v.hi)
	}
	return 128
}

// addOnes returns v with its low n bits set (the last address of the 2^n
// block starting at an n-aligned v).
func (v u128) addOnes(n int) u128 {
	switch {
	case n >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case n >= 64:
		return u128{v.hi | (1<<(n-64) - 1), ^uint64(0)}
	}
	return u128{v.hi, v.lo | (1<<n - 1)}
}

func (v u128) inc() u128 {
	lo, c := bits.Add64(v.lo, 1, 0)
	return u128{v.hi + c, lo}
}

func (v u128) less(w u128) bool    { return v.hi < w.hi || (v.hi == w.hi && v.lo < w.lo) }
func (v u128) greater(w u128) bool { return w.less(v) }
