package message

import (
	"encoding/binary"
	"net/netip"
)

// KEV1 is the IKEv1 Key Exchange payload (RFC 2408 §3.7). The group is
// negotiated in the SA, not carried here, so the state machine checks the
// length with KEDataLen once it knows the group.
type KEV1 struct {
	Data []byte // the public Diffie-Hellman value
}

// Type implements Payload.
func (*KEV1) Type() PayloadType { return PayloadV1KE }

// Critical implements Payload.
func (*KEV1) Critical() bool { return false }

// AppendBody implements Payload.
func (k *KEV1) AppendBody(b []byte) ([]byte, error) {
	if len(k.Data) == 0 {
		return nil, marshalError("empty KE data")
	}
	return append(b, k.Data...), nil
}

// DataV1 is an IKEv1 payload that is an opaque byte string: HASH (§3.11),
// SIG (§3.12), Nonce (§3.13, 8–256 bytes per RFC 2409 §5), Vendor ID
// (§3.16), NAT-D (RFC 3947 §3.2, the hash), CERT and CR (encoding octet
// followed by the data, kept raw).
type DataV1 struct {
	PayloadType PayloadType // which of the opaque payloads this is
	Data        []byte      // the payload body
}

// Type implements Payload.
func (d *DataV1) Type() PayloadType { return d.PayloadType }

// Critical implements Payload.
func (*DataV1) Critical() bool { return false }

// AppendBody implements Payload.
func (d *DataV1) AppendBody(b []byte) ([]byte, error) {
	switch d.PayloadType {
	case PayloadV1Nonce:
		if len(d.Data) < 8 || len(d.Data) > 256 {
			return nil, marshalError("nonce of %d bytes", len(d.Data))
		}
	case PayloadV1HASH, PayloadV1SIG:
		if len(d.Data) == 0 {
			return nil, marshalError("empty %s", d.PayloadType)
		}
	}
	return append(b, d.Data...), nil
}

// IDV1 is the IKEv1 Identification payload with its IPsec DOI fields (RFC
// 2407 §4.6.2). In phase 2 the IDs are the traffic selectors (subnets).
type IDV1 struct {
	IDType IDType // how Data is encoded
	// Protocol and Port restrict a phase 2 ID (0 = any). In phase 1 they
	// are 0, or UDP/500 (RFC 2407 §4.6.2).
	Protocol uint8  // IP protocol, 0 for any
	Port     uint16 // port, 0 for any
	// Data is the identity; for subnets the address then the mask, for
	// ranges the start then the end address.
	Data []byte
}

// Type implements Payload.
func (*IDV1) Type() PayloadType { return PayloadV1ID }

// Critical implements Payload.
func (*IDV1) Critical() bool { return false }

// AppendBody implements Payload.
func (id *IDV1) AppendBody(b []byte) ([]byte, error) {
	if err := checkIDV1(id.IDType, len(id.Data)); err != nil {
		return nil, marshalError("%v", err)
	}
	b = append(b, byte(id.IDType), id.Protocol)
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...), nil
}

// Body returns the payload body (IDii_b / IDir_b of RFC 2409 §5, hashed into
// HASH_I and HASH_R). It is deterministic, having no reserved fields.
func (id *IDV1) Body() []byte {
	b, _ := id.AppendBody(nil)
	return b
}

func checkIDV1(t IDType, n int) error {
	want := -1
	switch t {
	case IDIPv4Addr:
		want = 4
	case IDIPv6Addr:
		want = 16
	case IDIPv4AddrSubnet, IDIPv4AddrRange:
		want = 8
	case IDIPv6AddrSubnet, IDIPv6AddrRange:
		want = 32
	}
	if (want >= 0 && n != want) || (want < 0 && n == 0) {
		return malformedV1("%s of %d bytes", t, n)
	}
	return nil
}

func parseIDV1(body []byte) (*IDV1, error) {
	if len(body) < 4 {
		return nil, malformedV1("truncated ID payload")
	}
	id := &IDV1{IDType: IDType(body[0]), Protocol: body[1], Port: binary.BigEndian.Uint16(body[2:4]), Data: body[4:]}
	if err := checkIDV1(id.IDType, len(id.Data)); err != nil {
		return nil, &NotifyErrorV1{Type: V1InvalidIDInformation, Msg: err.Error()}
	}
	return id, nil
}

// NewIDV1Prefix returns the phase 2 identity for a subnet: ID_IPV4_ADDR /
// ID_IPV6_ADDR for a single host, ID_IPV*_ADDR_SUBNET otherwise (what
// strongSwan sends for its traffic selectors). An invalid prefix gives an
// ID that fails to marshal.
func NewIDV1Prefix(p netip.Prefix) *IDV1 {
	if !p.IsValid() {
		return &IDV1{IDType: IDIPv4Addr}
	}
	p = p.Masked()
	a := p.Addr()
	if p.IsSingleIP() {
		t := IDIPv6Addr
		if a.Is4() {
			t = IDIPv4Addr
		}
		return &IDV1{IDType: t, Data: a.AsSlice()}
	}
	mask := make([]byte, a.BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	t := IDIPv6AddrSubnet
	if a.Is4() {
		t = IDIPv4AddrSubnet
	}
	return &IDV1{IDType: t, Data: append(a.AsSlice(), mask...)}
}

// NewIDV1Addr returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity (phase 1).
func NewIDV1Addr(a netip.Addr) *IDV1 {
	return NewIDV1Prefix(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
}

// Prefix returns the subnet of an address or subnet identity. A subnet
// whose mask is not contiguous has no prefix.
func (id *IDV1) Prefix() (netip.Prefix, bool) {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	case IDIPv4AddrSubnet, IDIPv6AddrSubnet:
		half := len(id.Data) / 2
		a, ok := netip.AddrFromSlice(id.Data[:half])
		if !ok {
			return netip.Prefix{}, false
		}
		bits, ok := maskBits(id.Data[half:])
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, bits).Masked(), true
	case IDIPv4AddrRange, IDIPv6AddrRange:
		s := id.Selector()
		return s.Prefix()
	}
	return netip.Prefix{}, false
}

// Selector returns the identity as an address-range selector (any port,
// the ID's protocol), for phase 2 IDs of address, subnet or range type.
func (id *IDV1) Selector() Selector {
	s := Selector{IPProtocol: id.Protocol, StartPort: id.Port, EndPort: id.Port}
	if id.Port == 0 {
		s.EndPort = 0xffff
	}
	switch id.IDType {
	case IDIPv4AddrRange, IDIPv6AddrRange:
		half := len(id.Data) / 2
		s.StartAddr, _ = netip.AddrFromSlice(id.Data[:half])
		s.EndAddr, _ = netip.AddrFromSlice(id.Data[half:])
	default:
		p, ok := id.Prefix()
		if !ok {
			return Selector{}
		}
		s = Selector{IPProtocol: s.IPProtocol, StartPort: s.StartPort, EndPort: s.EndPort, StartAddr: p.Addr(), EndAddr: lastAddr(p)}
	}
	s.Type = TSIPv4AddrRange
	if s.StartAddr.Is6() {
		s.Type = TSIPv6AddrRange
	}
	return s
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m []byte) (int, bool) {
	n, zero := 0, false
	for _, c := range m {
		for i := 7; i >= 0; i-- {
			if c&(1<<i) != 0 {
				if zero {
					return 0, false
				}
				n++
			} else {
				zero = true
			}
		}
	}
	return n, true
}

// NotifyV1 is the ISAKMP Notification payload (RFC 2408 §3.14).
type NotifyV1 struct {
	DOI        uint32       // DOIIPsec
	Protocol   ProtocolID   // SA kind the SPI belongs to
	SPI        []byte       // cookies (16 bytes) for ISAKMP, 4 bytes for ESP/AH, or empty
	NotifyType NotifyTypeV1 // notify message type
	Data       []byte       // notification data
}

// Type implements Payload.
func (*NotifyV1) Type() PayloadType { return PayloadV1Notify }

// Critical implements Payload.
func (*NotifyV1) Critical() bool { return false }

// AppendBody implements Payload.
func (n *NotifyV1) AppendBody(b []byte) ([]byte, error) {
	if len(n.SPI) > 255 {
		return nil, marshalError("SPI of %d bytes", len(n.SPI))
	}
	b = binary.BigEndian.AppendUint32(b, n.DOI)
	b = append(b, byte(n.Protocol), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

func parseNotifyV1(body []byte) (*NotifyV1, error) {
	r := reader(body)
	n := &NotifyV1{}
	var proto, spiSize uint8
	var t uint16
	if !r.u32(&n.DOI) || !r.u8(&proto) || !r.u8(&spiSize) || !r.u16(&t) || !r.bytes(int(spiSize), &n.SPI) {
		return nil, malformedV1("truncated Notification payload")
	}
	n.Protocol, n.NotifyType, n.Data = ProtocolID(proto), NotifyTypeV1(t), r
	// RFC 3706 §5.1: DPD carries the cookie pair as SPI and a 32-bit
	// sequence number.
	if (n.NotifyType == V1DPDRUThere || n.NotifyType == V1DPDRUThereAck) && (len(n.SPI) != 16 || len(n.Data) != 4) {
		return nil, malformedV1("%s with %d-byte SPI and %d-byte data", n.NotifyType, len(n.SPI), len(n.Data))
	}
	return n, nil
}

// NewDPDV1 returns an R-U-THERE (or, with ack, R-U-THERE-ACK) notification
// for the ISAKMP SA with the given cookies (RFC 3706 §5.1).
func NewDPDV1(ack bool, icookie, rcookie uint64, seq uint32) *NotifyV1 {
	t := V1DPDRUThere
	if ack {
		t = V1DPDRUThereAck
	}
	spi := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, icookie), rcookie)
	return &NotifyV1{DOI: DOIIPsec, Protocol: ProtocolIKE, SPI: spi, NotifyType: t, Data: binary.BigEndian.AppendUint32(nil, seq)}
}

// DPDSeq returns the sequence number of a DPD notification.
func (n *NotifyV1) DPDSeq() (uint32, bool) {
	if (n.NotifyType != V1DPDRUThere && n.NotifyType != V1DPDRUThereAck) || len(n.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(n.Data), true
}

// DeleteV1 is the ISAKMP Delete payload (RFC 2408 §3.15). For the ISAKMP SA
// each SPI is the 16-byte cookie pair; for AH/ESP a 4-byte SPI.
type DeleteV1 struct {
	DOI      uint32     // DOIIPsec
	Protocol ProtocolID // ISAKMP (IKE), AH, ESP or IPCOMP
	SPIs     [][]byte   // all of the protocol's SPI size
}

// Type implements Payload.
func (*DeleteV1) Type() PayloadType { return PayloadV1Delete }

// Critical implements Payload.
func (*DeleteV1) Critical() bool { return false }

func deleteSPISizeV1(p ProtocolID) int {
	switch p {
	case ProtocolIKE:
		return 16
	case ProtocolAH, ProtocolESP:
		return 4
	case ProtocolIPCOMP:
		return 2
	}
	return -1
}

// AppendBody implements Payload.
func (d *DeleteV1) AppendBody(b []byte) ([]byte, error) {
	size := deleteSPISizeV1(d.Protocol)
	if size < 0 || len(d.SPIs) == 0 || len(d.SPIs) > 0xffff {
		return nil, marshalError("delete of %d %s SPIs", len(d.SPIs), d.Protocol)
	}
	b = binary.BigEndian.AppendUint32(b, d.DOI)
	b = append(b, byte(d.Protocol), byte(size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for _, s := range d.SPIs {
		if len(s) != size {
			return nil, marshalError("%d-byte SPI in %s delete", len(s), d.Protocol)
		}
		b = append(b, s...)
	}
	return b, nil
}

func parseDeleteV1(body []byte) (*DeleteV1, error) {
	r := reader(body)
	d := &DeleteV1{}
	var proto, size uint8
	var num uint16
	if !r.u32(&d.DOI) || !r.u8(&proto) || !r.u8(&size) || !r.u16(&num) {
		return nil, malformedV1("truncated Delete payload")
	}
	d.Protocol = ProtocolID(proto)
	if want := deleteSPISizeV1(d.Protocol); want < 0 || int(size) != want {
		return nil, &NotifyErrorV1{Type: V1InvalidProtocolID, Msg: "delete for " + d.Protocol.String()}
	}
	if num == 0 || len(r) != int(size)*int(num) {
		return nil, malformedV1("delete with %d SPIs in %d bytes", num, len(r))
	}
	for range int(num) {
		var s []byte
		r.bytes(int(size), &s)
		d.SPIs = append(d.SPIs, s)
	}
	return d, nil
}

// NewDeleteV1ESP returns a Delete for ESP SAs by inbound SPI.
func NewDeleteV1ESP(spis ...uint32) *DeleteV1 {
	d := &DeleteV1{DOI: DOIIPsec, Protocol: ProtocolESP}
	for _, s := range spis {
		d.SPIs = append(d.SPIs, binary.BigEndian.AppendUint32(nil, s))
	}
	return d
}

// NewDeleteV1ISAKMP returns a Delete for the ISAKMP SA with these cookies.
func NewDeleteV1ISAKMP(icookie, rcookie uint64) *DeleteV1 {
	spi := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, icookie), rcookie)
	return &DeleteV1{DOI: DOIIPsec, Protocol: ProtocolIKE, SPIs: [][]byte{spi}}
}

// NATOAV1 is the NAT Original Address payload (RFC 3947 §5.2), sent in
// Quick Mode for transport mode.
type NATOAV1 struct {
	// Draft selects the pre-RFC payload number 131.
	Draft bool
	Addr  netip.Addr // the original address
}

// Type implements Payload.
func (n *NATOAV1) Type() PayloadType {
	if n.Draft {
		return PayloadV1NATOADraft
	}
	return PayloadV1NATOA
}

// Critical implements Payload.
func (*NATOAV1) Critical() bool { return false }

// AppendBody implements Payload.
func (n *NATOAV1) AppendBody(b []byte) ([]byte, error) {
	a := n.Addr.Unmap()
	switch {
	case a.Is4():
		b = append(b, byte(IDIPv4Addr), 0, 0, 0)
	case a.Is6():
		b = append(b, byte(IDIPv6Addr), 0, 0, 0)
	default:
		return nil, marshalError("NAT-OA without address")
	}
	return append(b, a.AsSlice()...), nil
}

func parseNATOAV1(t PayloadType, body []byte) (*NATOAV1, error) {
	if len(body) < 4 {
		return nil, malformedV1("truncated NAT-OA")
	}
	if err := checkIDV1(IDType(body[0]), len(body)-4); err != nil || (body[0] != byte(IDIPv4Addr) && body[0] != byte(IDIPv6Addr)) {
		return nil, malformedV1("NAT-OA of type %d and %d bytes", body[0], len(body)-4)
	}
	a, _ := netip.AddrFromSlice(body[4:])
	return &NATOAV1{Draft: t == PayloadV1NATOADraft, Addr: a}, nil
}

// FragmentV1 is the IKEv1 fragmentation payload of Cisco and strongSwan
// (payload 132): Fragment ID, Fragment Number (from 1), Flags (LAST = 1),
// and a piece of the whole original message, header included.
type FragmentV1 struct {
	ID     uint16 // same for all fragments of one message
	Number uint8  // from 1
	Last   bool   // LAST flag: no higher number follows
	Data   []byte // this fragment's piece of the message
}

// Type implements Payload.
func (*FragmentV1) Type() PayloadType { return PayloadV1Fragment }

// Critical implements Payload.
func (*FragmentV1) Critical() bool { return false }

// AppendBody implements Payload.
func (f *FragmentV1) AppendBody(b []byte) ([]byte, error) {
	if f.Number == 0 {
		return nil, marshalError("fragment number 0")
	}
	var flags byte
	if f.Last {
		flags = 1
	}
	b = binary.BigEndian.AppendUint16(b, f.ID)
	b = append(b, f.Number, flags)
	return append(b, f.Data...), nil
}

func parseFragmentV1(body []byte) (*FragmentV1, error) {
	if len(body) < 4 || body[2] == 0 {
		return nil, malformedV1("fragment payload of %d bytes", len(body))
	}
	return &FragmentV1{ID: binary.BigEndian.Uint16(body), Number: body[2], Last: body[3]&1 != 0, Data: body[4:]}, nil
}
