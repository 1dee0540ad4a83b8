package message

import "encoding/binary"

// SA is the Security Association payload (RFC 7296 §3.3): a list of
// proposals. A request lists the acceptable proposals in preference order;
// a response carries exactly one, with the Number of the accepted one.
type SA struct {
	Proposals []Proposal // in preference order
}

// Proposal is a proposal substructure (RFC 7296 §3.3.1).
type Proposal struct {
	// Number is the Proposal Num. In a request the first proposal is 1 and
	// each next one is one more (RFC 7296 §3.3.1); AppendBody numbers
	// proposals whose Number is 0 by position. A response echoes the number
	// of the accepted proposal.
	Number uint8
	// Protocol is IKE, AH or ESP.
	Protocol ProtocolID
	// SPI is empty (IKE in IKE_SA_INIT), 8 bytes (IKE SA rekey) or 4 bytes
	// (AH/ESP), RFC 7296 §3.3.1.
	SPI []byte
	// Transforms in wire order.
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 §3.3.2).
type Transform struct {
	// Type is ENCR, PRF, INTEG, DH or ESN.
	Type TransformType
	// ID is the transform ID within Type (registered in ike/ikecrypto).
	ID uint16
	// KeyLength is the Key Length attribute (14) in bits, 0 when absent
	// (RFC 7296 §3.3.5).
	KeyLength int
	// Attributes holds any other attributes as received; RFC 7296 defines
	// none, so a proposal carrying one is normally not chosen (§3.3.6).
	Attributes []Attribute
}

// Attribute is a data attribute (RFC 7296 §3.3.5). TV attributes (the AF bit
// set) carry a 2-byte value; TLV attributes carry Value of any length.
type Attribute struct {
	Type AttributeType // attribute type without the AF bit
	// TV selects the short form: Value must then be exactly 2 bytes.
	TV    bool
	Value []byte // attribute value
}

// Type implements Payload.
func (*SA) Type() PayloadType { return PayloadSA }

// Critical implements Payload.
func (*SA) Critical() bool { return false }

// spiSizeOK checks the SPI size against the protocol (RFC 7296 §3.3.1: 4 for
// AH and ESP; for IKE empty at IKE_SA_INIT and 8 when rekeying the IKE SA).
func spiSizeOK(p ProtocolID, n int) bool {
	switch p {
	case ProtocolIKE:
		return n == 0 || n == 8
	case ProtocolAH, ProtocolESP:
		return n == 4
	}
	return false
}

// AppendBody implements Payload.
func (s *SA) AppendBody(b []byte) ([]byte, error) {
	if len(s.Proposals) == 0 {
		return nil, marshalError("SA payload without proposals")
	}
	for i := range s.Proposals {
		p := &s.Proposals[i]
		if !spiSizeOK(p.Protocol, len(p.SPI)) {
			return nil, marshalError("proposal %d: %d-byte SPI for %s", i+1, len(p.SPI), p.Protocol)
		}
		if len(p.Transforms) == 0 || len(p.Transforms) > 255 {
			return nil, marshalError("proposal %d: %d transforms", i+1, len(p.Transforms))
		}
		num := p.Number
		if num == 0 {
			num = uint8(i + 1)
		}
		start := len(b)
		last := byte(2) // more proposals follow
		if i == len(s.Proposals)-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, num, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			var err error
			if b, err = p.Transforms[j].append(b, j == len(p.Transforms)-1); err != nil {
				return nil, err
			}
		}
		if len(b)-start > 0xffff {
			return nil, marshalError("proposal of %d bytes", len(b)-start)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b, nil
}

func (t *Transform) append(b []byte, last bool) ([]byte, error) {
	start := len(b)
	lastByte := byte(3) // more transforms follow
	if last {
		lastByte = 0
	}
	b = append(b, lastByte, 0, 0, 0, byte(t.Type), 0)
	b = binary.BigEndian.AppendUint16(b, t.ID)
	if t.KeyLength != 0 {
		if t.KeyLength < 0 || t.KeyLength > 0xffff {
			return nil, marshalError("key length %d", t.KeyLength)
		}
		b = binary.BigEndian.AppendUint16(b, 0x8000|uint16(AttributeKeyLength))
		b = binary.BigEndian.AppendUint16(b, uint16(t.KeyLength))
	}
	for _, a := range t.Attributes {
		var err error
		if b, err = a.append(b); err != nil {
			return nil, err
		}
	}
	if len(b)-start > 0xffff {
		return nil, marshalError("transform of %d bytes", len(b)-start)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b, nil
}

func (a *Attribute) append(b []byte) ([]byte, error) {
	if a.Type > 0x7fff {
		return nil, marshalError("attribute type %d", a.Type)
	}
	if a.TV {
		if len(a.Value) != 2 {
			return nil, marshalError("TV attribute %s with %d-byte value", a.Type, len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, 0x8000|uint16(a.Type))
		return append(b, a.Value...), nil
	}
	if len(a.Value) > 0xffff {
		return nil, marshalError("attribute %s of %d bytes", a.Type, len(a.Value))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
	return append(b, a.Value...), nil
}

// parseSA decodes the proposal list, checking every substructure length,
// the Last Substructure values against the position (RFC 7296 §3.3.1: 0 for
// the last, 2 for more proposals; §3.3.2: 0 or 3 for transforms), the
// transform count, SPI sizes and proposal numbering.
func parseSA(body []byte) (*SA, error) {
	s := &SA{}
	r := reader(body)
	for !r.empty() {
		var last, reserved, num, proto, spiSize, nTrans uint8
		var plen uint16
		if !r.u8(&last) || !r.u8(&reserved) || !r.u16(&plen) {
			return nil, syntaxError("truncated proposal header")
		}
		if plen < 8 || int(plen)-4 > len(r) {
			return nil, syntaxError("proposal length %d out of range", plen)
		}
		var pb []byte
		r.bytes(int(plen)-4, &pb)
		pr := reader(pb)
		pr.u8(&num)
		pr.u8(&proto)
		pr.u8(&spiSize)
		pr.u8(&nTrans)
		switch {
		case last == 0 && !r.empty():
			return nil, syntaxError("proposal marked last but more data follows")
		case last == 2 && r.empty():
			return nil, syntaxError("proposal marked not last but is the last")
		case last != 0 && last != 2:
			return nil, syntaxError("proposal last-substructure value %d", last)
		}
		p := Proposal{Number: num, Protocol: ProtocolID(proto)}
		if num == 0 {
			// RFC 7296 §3.3.1: numbering starts at one.
			return nil, syntaxError("proposal number 0")
		}
		if !spiSizeOK(p.Protocol, int(spiSize)) {
			return nil, syntaxError("proposal %d: SPI size %d for %s", num, spiSize, p.Protocol)
		}
		if !pr.bytes(int(spiSize), &p.SPI) {
			return nil, syntaxError("proposal %d: truncated SPI", num)
		}
		if n := len(s.Proposals); n > 0 && num != s.Proposals[n-1].Number+1 {
			// RFC 7296 §3.3.1: each subsequent proposal is one more than the
			// previous one.
			return nil, syntaxError("proposal number %d after %d", num, s.Proposals[n-1].Number)
		}
		for !pr.empty() {
			t, lastT, err := parseTransform(&pr)
			if err != nil {
				return nil, err
			}
			if (lastT == 0) != pr.empty() {
				return nil, syntaxError("proposal %d: transform last-substructure value %d inconsistent", num, lastT)
			}
			p.Transforms = append(p.Transforms, t)
		}
		if len(p.Transforms) != int(nTrans) || nTrans == 0 {
			return nil, syntaxError("proposal %d: %d transforms declared, %d present", num, nTrans, len(p.Transforms))
		}
		s.Proposals = append(s.Proposals, p)
	}
	if len(s.Proposals) == 0 {
		return nil, syntaxError("SA payload without proposals")
	}
	return s, nil
}

func parseTransform(r *reader) (Transform, uint8, error) {
	var t Transform
	var last, res, typ, res2 uint8
	var tlen, id uint16
	if !r.u8(&last) || !r.u8(&res) || !r.u16(&tlen) {
		return t, 0, syntaxError("truncated transform header")
	}
	if last != 0 && last != 3 {
		return t, 0, syntaxError("transform last-substructure value %d", last)
	}
	if tlen < 8 || int(tlen)-4 > len(*r) {
		return t, 0, syntaxError("transform length %d out of range", tlen)
	}
	var tb []byte
	r.bytes(int(tlen)-4, &tb)
	tr := reader(tb)
	tr.u8(&typ)
	tr.u8(&res2)
	tr.u16(&id)
	t.Type, t.ID = TransformType(typ), id
	for !tr.empty() {
		var at uint16
		if !tr.u16(&at) {
			return t, 0, syntaxError("truncated transform attribute")
		}
		a := Attribute{Type: AttributeType(at & 0x7fff), TV: at&0x8000 != 0}
		if a.TV {
			if !tr.bytes(2, &a.Value) {
				return t, 0, syntaxError("truncated TV attribute")
			}
		} else {
			var alen uint16
			if !tr.u16(&alen) || !tr.bytes(int(alen), &a.Value) {
				return t, 0, syntaxError("truncated TLV attribute")
			}
		}
		if a.Type == AttributeKeyLength {
			// RFC 7296 §3.3.5: Key Length is TV only, and appears once.
			if !a.TV || t.KeyLength != 0 {
				return t, 0, syntaxError("malformed or repeated key length attribute")
			}
			t.KeyLength = int(binary.BigEndian.Uint16(a.Value))
			if t.KeyLength == 0 {
				return t, 0, syntaxError("zero key length attribute")
			}
			continue
		}
		t.Attributes = append(t.Attributes, a)
	}
	return t, last, nil
}

// SPI32 returns the 4-byte AH/ESP SPI of the proposal.
func (p *Proposal) SPI32() (uint32, bool) {
	if len(p.SPI) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(p.SPI), true
}

// SPI64 returns the 8-byte IKE SPI of an IKE SA rekey proposal (RFC 7296
// §1.3.2).
func (p *Proposal) SPI64() (uint64, bool) {
	if len(p.SPI) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(p.SPI), true
}
