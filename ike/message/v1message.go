package message

import (
	"encoding/binary"
	"fmt"
)

// MessageV1 is an IKEv1 (ISAKMP) message (RFC 2408 §3.1). Unlike IKEv2,
// IKEv1 encrypts everything after the header when the E flag is set (RFC
// 2408 §3.1, RFC 2409 Appendix B): then Ciphertext holds those bytes and
// Payloads is empty until the state machine decrypts them and calls
// ParsePayloadsV1(h.NextPayload, plaintext).
type MessageV1 struct {
	Header
	// Payloads in wire order (cleartext messages, or set after decryption).
	Payloads []Payload
	// Ciphertext is the encrypted payload chain (E flag set): CBC
	// ciphertext padded to the cipher block size. Header.NextPayload names
	// the first payload inside.
	Ciphertext []byte
	// Raw is the message as received (ParseMessageV1), ignored by Marshal.
	Raw []byte
}

// ParseMessageV1 parses an IKEv1 message: the header (Length must equal
// len(b)), then either the cleartext payload chain or, with the E flag, the
// raw ciphertext. The input is copied once; parsed values alias Raw.
// Errors are *NotifyErrorV1.
func ParseMessageV1(b []byte) (*MessageV1, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, &NotifyErrorV1{Type: V1UnequalPayloadLengths, Msg: err.Error()}
	}
	if h.MajorVersion != 1 {
		return nil, &NotifyErrorV1{Type: V1InvalidMajorVersion, Msg: fmt.Sprintf("major version %d", h.MajorVersion)}
	}
	raw := clone(b)
	m := &MessageV1{Header: h, Raw: raw}
	if h.Flags&FlagV1Encryption != 0 {
		m.Ciphertext = raw[HeaderLen:]
		return m, nil
	}
	m.Payloads, err = parseChainV1(h.NextPayload, raw[HeaderLen:], false)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ParsePayloadsV1 parses a decrypted IKEv1 payload chain starting with a
// payload of type first. Bytes after the last payload are the CBC padding
// (RFC 2409 Appendix B) and are ignored. The result aliases b.
func ParsePayloadsV1(first PayloadType, b []byte) ([]Payload, error) {
	return parseChainV1(first, b, true)
}

func parseChainV1(next PayloadType, b []byte, padded bool) ([]Payload, error) {
	var out []Payload
	off := 0
	for next != PayloadNone {
		if len(b)-off < genericHeaderLen {
			return nil, malformedV1("truncated generic header of %s payload", next)
		}
		np := PayloadType(b[off])
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < genericHeaderLen || plen > len(b)-off {
			return nil, &NotifyErrorV1{Type: V1UnequalPayloadLengths, Msg: fmt.Sprintf("%s payload length %d with %d bytes left", next, plen, len(b)-off)}
		}
		body := b[off+genericHeaderLen : off+plen : off+plen]
		p, err := parseBodyV1(next, body)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		off += plen
		next = np
	}
	if off != len(b) && !padded {
		return nil, &NotifyErrorV1{Type: V1UnequalPayloadLengths, Msg: fmt.Sprintf("%d bytes after the last payload", len(b)-off)}
	}
	return out, nil
}

func parseBodyV1(t PayloadType, body []byte) (Payload, error) {
	switch t {
	case PayloadV1SA:
		return parseSAV1(body)
	case PayloadV1KE:
		if len(body) == 0 {
			return nil, malformedV1("empty KE payload")
		}
		return &KEV1{Data: body}, nil
	case PayloadV1ID:
		return parseIDV1(body)
	case PayloadV1HASH, PayloadV1SIG:
		if len(body) == 0 {
			return nil, malformedV1("empty %s payload", t)
		}
		return &DataV1{PayloadType: t, Data: body}, nil
	case PayloadV1Nonce:
		// RFC 2409 §5: the nonce is 8 to 256 bytes.
		if len(body) < 8 || len(body) > 256 {
			return nil, malformedV1("nonce of %d bytes", len(body))
		}
		return &DataV1{PayloadType: t, Data: body}, nil
	case PayloadV1VendorID, PayloadV1NATD, PayloadV1NATDDraft, PayloadV1CERT, PayloadV1CR:
		return &DataV1{PayloadType: t, Data: body}, nil
	case PayloadV1Notify:
		return parseNotifyV1(body)
	case PayloadV1Delete:
		return parseDeleteV1(body)
	case PayloadV1NATOA, PayloadV1NATOADraft:
		return parseNATOAV1(t, body)
	case PayloadV1Fragment:
		return parseFragmentV1(body)
	case PayloadV1Proposal, PayloadV1Transform:
		return nil, &NotifyErrorV1{Type: V1InvalidPayloadType, Data: []byte{byte(t)}, Msg: fmt.Sprintf("%s outside an SA payload", t)}
	}
	// RFC 2408 §5.1 would answer INVALID-PAYLOAD-TYPE; strongSwan and others
	// skip payloads they do not know, which is what interoperates.
	return &Raw{PayloadType: t, Body: body}, nil
}

// MarshalPayloadsV1 encodes an IKEv1 payload chain without header (the
// plaintext to hash or encrypt) and returns the first payload type.
func MarshalPayloadsV1(ps []Payload) (PayloadType, []byte, error) {
	var b []byte
	for i, p := range ps {
		var next PayloadType
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		start := len(b)
		b = append(b, byte(next), 0, 0, 0)
		var err error
		if b, err = p.AppendBody(b); err != nil {
			return PayloadNone, nil, err
		}
		if len(b)-start > 0xffff {
			return PayloadNone, nil, marshalError("%s payload of %d bytes", p.Type(), len(b)-start)
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	if len(ps) == 0 {
		return PayloadNone, b, nil
	}
	return ps[0].Type(), b, nil
}

// Marshal encodes m with Length computed. With Ciphertext set the E flag is
// set and Header.NextPayload is written as given (the first encrypted
// payload); otherwise the chain in Payloads is encoded in clear.
func (m *MessageV1) Marshal() ([]byte, error) {
	h := m.Header
	h.MajorVersion, h.MinorVersion = 1, 0
	var body []byte
	if m.Ciphertext != nil {
		h.Flags |= FlagV1Encryption
		body = m.Ciphertext
	} else {
		h.Flags &^= FlagV1Encryption
		first, b, err := MarshalPayloadsV1(m.Payloads)
		if err != nil {
			return nil, err
		}
		h.NextPayload, body = first, b
	}
	h.Length = uint32(HeaderLen + len(body))
	return append(AppendHeader(make([]byte, 0, int(h.Length)), &h), body...), nil
}

// MarshalEncryptedV1 encodes m with ps encrypted by encrypt, which receives
// the unpadded plaintext chain and returns the padded CBC ciphertext (the
// IV chaining of RFC 2409 Appendix B is the state machine's business).
// m.Payloads and m.Ciphertext are ignored.
func (m *MessageV1) MarshalEncryptedV1(ps []Payload, encrypt func(plaintext []byte) ([]byte, error)) ([]byte, error) {
	first, plain, err := MarshalPayloadsV1(ps)
	if err != nil {
		return nil, err
	}
	ct, err := encrypt(plain)
	if err != nil {
		return nil, err
	}
	mm := MessageV1{Header: m.Header, Ciphertext: ct}
	mm.NextPayload = first
	return mm.Marshal()
}

// String summarises the message for logs.
func (m *MessageV1) String() string {
	if m.Ciphertext != nil {
		return m.Header.String() + fmt.Sprintf(" [encrypted %d bytes]", len(m.Ciphertext))
	}
	return m.Header.String() + " [" + Summary(m.Payloads) + "]"
}
