package message

import (
	"encoding/binary"
	"strconv"
)

// SAV1 is the IKEv1 Security Association payload (RFC 2408 §3.4) with the
// IPsec DOI situation (RFC 2407 §4.6.1).
type SAV1 struct {
	// DOI is the domain of interpretation; only DOIIPsec parses.
	DOI uint32
	// Situation is SIT_IDENTITY_ONLY in practice.
	Situation uint32
	// Proposals in wire order. Proposals sharing a Number form one
	// combined (AND) offer, e.g. AH+ESP (RFC 2408 §4.2).
	Proposals []ProposalV1
	// Raw is the payload body as received (set by parsing, ignored by
	// AppendBody). IKEv1 authentication hashes SAi_b, the initiator's SA
	// body exactly as sent (RFC 2409 §5), so it must not be re-encoded.
	Raw []byte
}

// ProposalV1 is an ISAKMP Proposal payload (RFC 2408 §3.5).
type ProposalV1 struct {
	Number   uint8      // proposal number; equal numbers combine (AND)
	Protocol ProtocolID // ISAKMP (IKE), AH, ESP or IPCOMP
	// SPI is empty for ISAKMP in phase 1 (or 16 bytes: the cookies), 4
	// bytes for AH/ESP, 2 or 4 for IPCOMP.
	SPI []byte
	// Transforms are alternatives (OR) in preference order.
	Transforms []TransformV1
}

// TransformV1 is an ISAKMP Transform payload (RFC 2408 §3.6).
type TransformV1 struct {
	Number uint8 // transform number within the proposal
	// ID is KEY_IKE for phase 1, or the ESP/AH transform ID (RFC 2407
	// §4.4.4), e.g. ESP_AES 12.
	ID uint8
	// Attributes in wire order (RFC 2409 Appendix A, RFC 2407 §4.5).
	Attributes []Attribute
}

// Type implements Payload.
func (*SAV1) Type() PayloadType { return PayloadV1SA }

// Critical implements Payload.
func (*SAV1) Critical() bool { return false }

// Attr returns the first attribute of type t.
func (t *TransformV1) Attr(at AttributeType) (Attribute, bool) {
	for _, a := range t.Attributes {
		if a.Type == at {
			return a, true
		}
	}
	return Attribute{}, false
}

// Uint decodes an attribute value as an unsigned integer: TV values are 2
// bytes, TLV values up to 8 (a Life Duration may be 4 or 8, RFC 2409
// Appendix A).
func (a Attribute) Uint() (uint64, bool) {
	if len(a.Value) == 0 || len(a.Value) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range a.Value {
		v = v<<8 | uint64(c)
	}
	return v, true
}

// AttrUint returns an attribute holding v, in basic (TV) form when it fits
// in two octets, which RFC 2409 Appendix A allows for variable attributes,
// and as a 4- or 8-octet TLV otherwise.
func AttrUint(t AttributeType, v uint64) Attribute {
	switch {
	case v <= 0xffff:
		return Attribute{Type: t, TV: true, Value: binary.BigEndian.AppendUint16(nil, uint16(v))}
	case v <= 0xffffffff:
		return Attribute{Type: t, Value: binary.BigEndian.AppendUint32(nil, uint32(v))}
	}
	return Attribute{Type: t, Value: binary.BigEndian.AppendUint64(nil, v)}
}

// AppendBody implements Payload.
func (s *SAV1) AppendBody(b []byte) ([]byte, error) {
	if len(s.Proposals) == 0 {
		return nil, marshalError("SA payload without proposals")
	}
	b = binary.BigEndian.AppendUint32(b, s.DOI)
	b = binary.BigEndian.AppendUint32(b, s.Situation)
	for i := range s.Proposals {
		p := &s.Proposals[i]
		if !spiSizeOKV1(p.Protocol, len(p.SPI)) || len(p.Transforms) == 0 || len(p.Transforms) > 255 {
			return nil, marshalError("proposal %d: %s with %d-byte SPI and %d transforms", p.Number, p.Protocol, len(p.SPI), len(p.Transforms))
		}
		start := len(b)
		next := PayloadV1Proposal
		if i == len(s.Proposals)-1 {
			next = PayloadNone
		}
		b = append(b, byte(next), 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			t := &p.Transforms[j]
			tstart := len(b)
			tnext := PayloadV1Transform
			if j == len(p.Transforms)-1 {
				tnext = PayloadNone
			}
			b = append(b, byte(tnext), 0, 0, 0, t.Number, t.ID, 0, 0)
			for _, a := range t.Attributes {
				var err error
				if b, err = a.append(b); err != nil {
					return nil, err
				}
			}
			if len(b)-tstart > 0xffff {
				return nil, marshalError("transform of %d bytes", len(b)-tstart)
			}
			binary.BigEndian.PutUint16(b[tstart+2:], uint16(len(b)-tstart))
		}
		if len(b)-start > 0xffff {
			return nil, marshalError("proposal of %d bytes", len(b)-start)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b, nil
}

// spiSizeOKV1 checks the SPI size per protocol (RFC 2408 §2.4: the ISAKMP
// SPI is the cookie pair or absent; RFC 2407 §4.4.1: 4 for AH and ESP,
// 2 for the IPCOMP CPI, which some send as 4).
func spiSizeOKV1(p ProtocolID, n int) bool {
	switch p {
	case ProtocolIKE:
		return n == 0 || n == 16
	case ProtocolAH, ProtocolESP:
		return n == 4
	case ProtocolIPCOMP:
		return n == 2 || n == 4
	}
	return false
}

func parseSAV1(body []byte) (*SAV1, error) {
	r := reader(body)
	s := &SAV1{Raw: body}
	if !r.u32(&s.DOI) || !r.u32(&s.Situation) {
		return nil, malformedV1("truncated SA payload")
	}
	if s.DOI != DOIIPsec {
		return nil, &NotifyErrorV1{Type: V1DOINotSupported, Msg: "DOI " + strconv.Itoa(int(s.DOI))}
	}
	if s.Situation != SituationIdentityOnly {
		// SIT_SECRECY and SIT_INTEGRITY add labelled-domain fields
		// (RFC 2407 §4.6.1) that no site-to-site peer sends.
		return nil, &NotifyErrorV1{Type: V1SituationNotSupported, Msg: "situation " + strconv.Itoa(int(s.Situation))}
	}
	next := PayloadV1Proposal
	for next != PayloadNone {
		if next != PayloadV1Proposal {
			return nil, &NotifyErrorV1{Type: V1BadProposalSyntax, Msg: "non-proposal payload inside SA"}
		}
		pb, np, err := subPayloadV1(&r)
		if err != nil {
			return nil, err
		}
		next = np
		pr := reader(pb)
		var num, proto, spiSize, nTrans uint8
		if !pr.u8(&num) || !pr.u8(&proto) || !pr.u8(&spiSize) || !pr.u8(&nTrans) {
			return nil, malformedV1("truncated proposal")
		}
		p := ProposalV1{Number: num, Protocol: ProtocolID(proto)}
		if !spiSizeOKV1(p.Protocol, int(spiSize)) || !pr.bytes(int(spiSize), &p.SPI) {
			return nil, &NotifyErrorV1{Type: V1BadProposalSyntax, Msg: "proposal SPI size " + strconv.Itoa(int(spiSize)) + " for " + p.Protocol.String()}
		}
		// RFC 2408 §4.2: proposal numbers increase; equal numbers combine.
		if n := len(s.Proposals); n > 0 && num < s.Proposals[n-1].Number {
			return nil, &NotifyErrorV1{Type: V1BadProposalSyntax, Msg: "proposal numbers decrease"}
		}
		tnext := PayloadV1Transform
		for !pr.empty() {
			if tnext != PayloadV1Transform {
				return nil, &NotifyErrorV1{Type: V1BadProposalSyntax, Msg: "non-transform payload inside proposal"}
			}
			tb, tn, err := subPayloadV1(&pr)
			if err != nil {
				return nil, err
			}
			tnext = tn
			t, err := parseTransformV1(tb)
			if err != nil {
				return nil, err
			}
			p.Transforms = append(p.Transforms, t)
		}
		if tnext != PayloadNone || nTrans == 0 || len(p.Transforms) != int(nTrans) {
			return nil, &NotifyErrorV1{Type: V1BadProposalSyntax, Msg: "transform count or chain mismatch"}
		}
		s.Proposals = append(s.Proposals, p)
	}
	if !r.empty() {
		return nil, &NotifyErrorV1{Type: V1UnequalPayloadLengths, Msg: "bytes after the last proposal"}
	}
	return s, nil
}

// subPayloadV1 reads one generic-header-framed substructure (proposal or
// transform) and returns its body and Next Payload.
func subPayloadV1(r *reader) ([]byte, PayloadType, error) {
	var np, res uint8
	var plen uint16
	if !r.u8(&np) || !r.u8(&res) || !r.u16(&plen) {
		return nil, 0, malformedV1("truncated substructure header")
	}
	var body []byte
	if plen < genericHeaderLen || !r.bytes(int(plen)-genericHeaderLen, &body) {
		return nil, 0, &NotifyErrorV1{Type: V1UnequalPayloadLengths, Msg: "substructure length " + strconv.Itoa(int(plen))}
	}
	return body, PayloadType(np), nil
}

func parseTransformV1(b []byte) (TransformV1, error) {
	r := reader(b)
	var t TransformV1
	var res uint16
	if !r.u8(&t.Number) || !r.u8(&t.ID) || !r.u16(&res) {
		return t, malformedV1("truncated transform")
	}
	for !r.empty() {
		var at uint16
		if !r.u16(&at) {
			return t, malformedV1("truncated attribute")
		}
		a := Attribute{Type: AttributeType(at & 0x7fff), TV: at&0x8000 != 0}
		if a.TV {
			if !r.bytes(2, &a.Value) {
				return t, malformedV1("truncated TV attribute")
			}
		} else {
			var alen uint16
			if !r.u16(&alen) || !r.bytes(int(alen), &a.Value) {
				return t, malformedV1("truncated TLV attribute")
			}
		}
		t.Attributes = append(t.Attributes, a)
	}
	return t, nil
}
