package message

import (
	"encoding/binary"
	"fmt"
)

// Payload is one IKEv2 payload. Every payload type of RFC 7296 §3 has a
// concrete type in this package; CERT, CERTREQ, EAP and types this package
// does not know are kept as *Raw.
type Payload interface {
	// Type is the payload type written in the previous Next Payload field.
	Type() PayloadType
	// Critical is the generic header's critical bit. RFC 7296 §3.2: it MUST
	// be zero for the payload types RFC 7296 defines; only *Raw carries one.
	Critical() bool
	// AppendBody appends the payload body (everything after the 4-byte
	// generic payload header) to b.
	AppendBody(b []byte) ([]byte, error)
}

// Message is an IKE message: the fixed header and the cleartext payload chain.
// In a protected message the last payload is an *Encrypted (or an
// *EncryptedFragment) whose inner chain is parsed separately after
// decryption with ParsePayloads.
type Message struct {
	Header
	// Payloads in wire order.
	Payloads []Payload
	// Raw is the message as received (set by ParseMessage, ignored by
	// Marshal). IKE_SA_INIT messages are signed by the AUTH payload (RFC 7296
	// §2.15), so the state machine keeps these bytes.
	Raw []byte
}

// ParseMessage parses an IKEv2 message: the header (whose Length must equal
// len(b)) and the cleartext payload chain. An SK or SKF payload must be the
// last one; its body is returned raw. The input is copied once and every
// parsed value aliases that copy (Message.Raw), never the caller's buffer.
//
// Errors are *NotifyError: INVALID_MAJOR_VERSION for a major version other
// than 2 (IKEv1 messages have their own parser), UNSUPPORTED_CRITICAL_PAYLOAD
// for an unknown payload with the critical bit set, INVALID_SYNTAX otherwise.
func ParseMessage(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.MajorVersion != 2 {
		// RFC 7296 §3.1: reject versions greater than 2 with
		// INVALID_MAJOR_VERSION. Version 1 is IKEv1 and is dispatched to its
		// own parser before reaching here.
		return nil, &NotifyError{Type: INVALID_MAJOR_VERSION, Msg: fmt.Sprintf("major version %d", h.MajorVersion)}
	}
	raw := clone(b)
	m := &Message{Header: h, Raw: raw}
	m.Payloads, err = parseChain(h.NextPayload, raw, HeaderLen, true)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ParsePayloads parses a payload chain that begins with a payload of type
// first: the decrypted content of an SK payload (or of reassembled SKF
// fragments), with padding and Pad Length already removed. An SK or SKF
// payload inside is INVALID_SYNTAX. The result aliases b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, b, 0, false)
}

// parseChain walks the generic payload headers of msg[off:]. With outer set,
// SK and SKF are allowed as the last payload and get their AAD from msg.
func parseChain(next PayloadType, msg []byte, off int, outer bool) ([]Payload, error) {
	var out []Payload
	for next != PayloadNone {
		r := reader(msg[off:])
		var np, flags uint8
		var plen uint16
		if !r.u8(&np) || !r.u8(&flags) || !r.u16(&plen) {
			return nil, syntaxError("truncated generic header of %s payload", next)
		}
		if plen < genericHeaderLen || int(plen) > len(msg)-off {
			return nil, syntaxError("%s payload length %d out of range (%d bytes left)", next, plen, len(msg)-off)
		}
		critical := flags&0x80 != 0
		body := msg[off+genericHeaderLen : off+int(plen) : off+int(plen)]
		t := next
		next = PayloadType(np)
		switch t {
		case PayloadSK, PayloadSKF:
			// RFC 7296 §3.14 / RFC 7383 §2.5: the encrypted payload is the
			// last one and its Next Payload names the first inner payload.
			if !outer {
				return nil, syntaxError("%s payload inside an encrypted payload", t)
			}
			if off+int(plen) != len(msg) {
				return nil, syntaxError("%s payload is not the last payload", t)
			}
			p, err := parseEncrypted(t, next, body, msg, off+genericHeaderLen)
			if err != nil {
				return nil, err
			}
			return append(out, p), nil
		}
		p, err := parseBody(t, critical, body)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		off += int(plen)
	}
	if off != len(msg) {
		return nil, syntaxError("%d bytes after the last payload", len(msg)-off)
	}
	return out, nil
}

// parseBody dispatches on the payload type (the x/net/icmp pattern: a table
// of known types and a raw fallback).
func parseBody(t PayloadType, critical bool, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return parseSA(body)
	case PayloadKE:
		return parseKE(body)
	case PayloadIDi, PayloadIDr:
		return parseID(t, body)
	case PayloadAUTH:
		return parseAuth(body)
	case PayloadNonce:
		return parseNonce(body)
	case PayloadNotify:
		return parseNotify(body)
	case PayloadDelete:
		return parseDelete(body)
	case PayloadVendorID:
		return &VendorID{Data: body}, nil
	case PayloadTSi, PayloadTSr:
		return parseTS(t, body)
	case PayloadCP:
		return parseCP(body)
	case PayloadCERT, PayloadCERTREQ, PayloadEAP:
		return &Raw{PayloadType: t, Body: body}, nil
	}
	if critical {
		// RFC 7296 §2.5, §3.2: an unknown payload with the critical bit set
		// rejects the whole message; the notification data is the type.
		return nil, &NotifyError{Type: UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(t)},
			Msg: fmt.Sprintf("critical payload %s not supported", t)}
	}
	return &Raw{PayloadType: t, IsCritical: false, Body: body}, nil
}

// MarshalPayloads encodes a payload chain without an IKE header and returns
// the type of its first payload: the plaintext of an SK payload, before
// padding (RFC 7296 §3.14). An empty chain returns PayloadNone and no bytes
// (an empty INFORMATIONAL request, i.e. a liveness check).
func MarshalPayloads(ps []Payload) (PayloadType, []byte, error) {
	b, err := appendChain(nil, ps, false)
	if err != nil {
		return PayloadNone, nil, err
	}
	if len(ps) == 0 {
		return PayloadNone, b, nil
	}
	return ps[0].Type(), b, nil
}

// appendChain encodes ps, linking each generic header to the next payload.
func appendChain(b []byte, ps []Payload, outer bool) ([]byte, error) {
	for i, p := range ps {
		t := p.Type()
		var next PayloadType
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		switch e := p.(type) {
		case *Encrypted:
			if !outer || i != len(ps)-1 {
				return nil, marshalError("SK payload must be the last outer payload")
			}
			next = e.NextPayload
		case *EncryptedFragment:
			if !outer || i != len(ps)-1 {
				return nil, marshalError("SKF payload must be the last outer payload")
			}
			next = e.NextPayload
		}
		start := len(b)
		var flags byte
		if p.Critical() {
			flags = 0x80
		}
		b = append(b, byte(next), flags, 0, 0)
		var err error
		b, err = p.AppendBody(b)
		if err != nil {
			return nil, err
		}
		n := len(b) - start
		if n > 0xffff {
			return nil, marshalError("%s payload of %d bytes", t, n)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	}
	return b, nil
}

// Marshal encodes m: header (with NextPayload and Length computed, so the
// length field is final before any ICV is computed) and payload chain.
func (m *Message) Marshal() ([]byte, error) {
	h := m.Header
	if h.MajorVersion == 0 {
		h.MajorVersion = 2
	}
	h.NextPayload = PayloadNone
	if len(m.Payloads) > 0 {
		h.NextPayload = m.Payloads[0].Type()
	}
	b := AppendHeader(make([]byte, 0, 512), &h)
	b, err := appendChain(b, m.Payloads, true)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > 0xffffffff {
		return nil, marshalError("message of %d bytes", len(b))
	}
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b, nil
}

// Get returns the first payload of type t, or nil.
func Get(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// Notifies returns the Notify payloads of ps with type t, in order.
func Notifies(ps []Payload, t NotifyType) []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			out = append(out, n)
		}
	}
	return out
}

// FindNotify returns the first Notify payload of ps with type t, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// Raw is a payload kept as bytes: CERT, CERTREQ and EAP (which this gateway
// does not interpret) and non-critical payloads of unknown type, which RFC
// 7296 §3.2 says to skip.
type Raw struct {
	// PayloadType is the type as received.
	PayloadType PayloadType
	// IsCritical is the critical bit as received (always false after
	// parsing an unknown type, since a critical one is an error).
	IsCritical bool
	// Body is the payload body after the generic header.
	Body []byte
}

// Type implements Payload.
func (p *Raw) Type() PayloadType { return p.PayloadType }

// Critical implements Payload.
func (p *Raw) Critical() bool { return p.IsCritical }

// AppendBody implements Payload.
func (p *Raw) AppendBody(b []byte) ([]byte, error) { return append(b, p.Body...), nil }

// Summary renders a payload chain the way strongSwan logs it, e.g.
// "SA KE No N(NAT_DETECTION_SOURCE_IP)", for debug logs.
func Summary(ps []Payload) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += " "
		}
		s += p.Type().String()
		switch x := p.(type) {
		case *Notify:
			s += "(" + x.NotifyType.String() + ")"
		case *NotifyV1:
			s += "(" + x.NotifyType.String() + ")"
		case *Encrypted:
			s += "{" + x.NextPayload.String() + "…}"
		case *EncryptedFragment:
			s += fmt.Sprintf("(%d/%d)", x.Number, x.Total)
		}
	}
	return s
}

// String summarises the message for logs: header and payload types.
func (m *Message) String() string {
	return m.Header.String() + " [" + Summary(m.Payloads) + "]"
}
