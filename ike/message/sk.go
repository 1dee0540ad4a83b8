package message

import "encoding/binary"

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296 §3.14).
// The codec never decrypts: it hands the state machine the raw pieces.
//
// Integrity (RFC 7296 §3.14): the ICV covers the message from the first
// octet of the IKE header to the last octet of the encrypted content, i.e.
// AAD‖Data[:len(Data)-icvLen]; those bytes are contiguous in Message.Raw, the
// SK payload being last: Raw[:len(Raw)-icvLen]. For AEAD ciphers (RFC 5282
// §5.1) the associated data is AAD itself and Data is IV‖ciphertext‖tag.
type Encrypted struct {
	// NextPayload is the type of the first inner payload (PayloadNone for an
	// empty INFORMATIONAL).
	NextPayload PayloadType
	// Data is IV‖ciphertext (including padding and Pad Length)‖ICV. After
	// ParseMessage it aliases Message.Raw.
	Data []byte
	// AAD, set by ParseMessage, is the message from the IKE header through
	// the SK generic payload header (the octets before the IV). Ignored by
	// Marshal.
	AAD []byte
}

// Type implements Payload.
func (*Encrypted) Type() PayloadType { return PayloadSK }

// Critical implements Payload.
func (*Encrypted) Critical() bool { return false }

// AppendBody implements Payload.
func (e *Encrypted) AppendBody(b []byte) ([]byte, error) { return append(b, e.Data...), nil }

// EncryptedFragment is the Encrypted Fragment payload, SKF (RFC 7383 §2.5).
// Each fragment is a complete message protected on its own; the AAD and ICV
// rules are those of Encrypted, where the AAD now also includes Fragment
// Number and Total Fragments.
type EncryptedFragment struct {
	// NextPayload is the first inner payload type in fragment 1 and MUST be
	// zero in the others (RFC 7383 §2.5).
	NextPayload PayloadType
	// Number is the fragment number, 1 ≤ Number ≤ Total.
	Number uint16
	// Total is the number of fragments of the original message.
	Total uint16
	// Data is IV‖ciphertext‖ICV of this fragment's share of the inner chain.
	Data []byte
	// AAD is the message through the end of Total Fragments (set by
	// ParseMessage).
	AAD []byte
}

// Type implements Payload.
func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

// Critical implements Payload.
func (*EncryptedFragment) Critical() bool { return false }

// AppendBody implements Payload.
func (f *EncryptedFragment) AppendBody(b []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, marshalError("%v", err)
	}
	b = binary.BigEndian.AppendUint16(b, f.Number)
	b = binary.BigEndian.AppendUint16(b, f.Total)
	return append(b, f.Data...), nil
}

func (f *EncryptedFragment) check() error {
	if f.Number == 0 || f.Total == 0 || f.Number > f.Total {
		return syntaxError("fragment %d of %d", f.Number, f.Total)
	}
	if f.Number != 1 && f.NextPayload != PayloadNone {
		return syntaxError("fragment %d names inner payload %s", f.Number, f.NextPayload)
	}
	return nil
}

// parseEncrypted builds the SK/SKF payload; msg[:bodyOff] is the message up
// to the end of the generic header.
func parseEncrypted(t, next PayloadType, body, msg []byte, bodyOff int) (Payload, error) {
	if t == PayloadSK {
		return &Encrypted{NextPayload: next, Data: body, AAD: msg[:bodyOff:bodyOff]}, nil
	}
	if len(body) < 4 {
		return nil, syntaxError("truncated SKF payload")
	}
	f := &EncryptedFragment{
		NextPayload: next,
		Number:      binary.BigEndian.Uint16(body[0:2]),
		Total:       binary.BigEndian.Uint16(body[2:4]),
		Data:        body[4:],
		AAD:         msg[: bodyOff+4 : bodyOff+4],
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// SealFunc fills the encrypted part of a message being sent. msg is the
// complete message, header Length final; its last n bytes (n as returned by
// the SealedLenFunc for len(plaintext)) are zero and must receive
// IV‖ciphertext‖ICV. For AEAD the associated data is msg[:len(msg)-n]; for
// encrypt-then-MAC the ICV covers msg[:len(msg)-icvLen] (RFC 7296 §3.14,
// RFC 5282 §5.1). plaintext is the inner chain, unpadded: padding and the
// Pad Length octet are the cipher's business.
type SealFunc func(msg, plaintext []byte) error

// SealedLenFunc returns the size of IV‖ciphertext‖ICV (padding and Pad
// Length included) for a plaintext of n bytes. It must be non-decreasing in n.
type SealedLenFunc func(n int) int

// MarshalSealed encodes m with inner as the content of a trailing SK
// payload. m.Payloads holds the cleartext payloads before SK (normally none)
// and must not itself contain an SK payload.
func (m *Message) MarshalSealed(inner []Payload, sealedLen SealedLenFunc, seal SealFunc) ([]byte, error) {
	first, plain, err := MarshalPayloads(inner)
	if err != nil {
		return nil, err
	}
	n := sealedLen(len(plain))
	mm := *m
	mm.Payloads = append(append([]Payload(nil), m.Payloads...), &Encrypted{NextPayload: first, Data: make([]byte, n)})
	b, err := mm.Marshal()
	if err != nil {
		return nil, err
	}
	if err := seal(b, plain); err != nil {
		return nil, err
	}
	return b, nil
}

// MarshalFragments encodes m as one or more messages each no longer than
// maxLen bytes (the IKE message, without IP/UDP headers or a non-ESP
// marker), each carrying an SKF payload with a share of the inner chain (RFC
// 7383 §2.5). The plaintext is cut at arbitrary octets (fragments are not
// aligned on payloads, §2.5). With total fragments = 1 the result is still an
// SKF message; callers that only fragment when needed first try
// MarshalSealed. m.Payloads must be empty: RFC 7383 §2.5 puts the SKF payload
// alone in every fragment message.
func (m *Message) MarshalFragments(inner []Payload, maxLen int, sealedLen SealedLenFunc, seal SealFunc) ([][]byte, error) {
	if len(m.Payloads) != 0 {
		return nil, marshalError("fragmented message with cleartext payloads")
	}
	first, plain, err := MarshalPayloads(inner)
	if err != nil {
		return nil, err
	}
	room := maxLen - HeaderLen - genericHeaderLen - 4
	chunk := largestFitting(room, sealedLen)
	if chunk < 1 {
		return nil, marshalError("fragment size %d leaves no room for data", maxLen)
	}
	total := (len(plain) + chunk - 1) / chunk
	if total == 0 {
		total = 1
	}
	if total > 0xffff {
		return nil, marshalError("%d fragments", total)
	}
	out := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		part := plain[i*chunk : min((i+1)*chunk, len(plain))]
		f := &EncryptedFragment{Number: uint16(i + 1), Total: uint16(total), Data: make([]byte, sealedLen(len(part)))}
		if i == 0 {
			f.NextPayload = first
		}
		mm := *m
		mm.Payloads = []Payload{f}
		b, err := mm.Marshal()
		if err != nil {
			return nil, err
		}
		if err := seal(b, part); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// largestFitting returns the largest n with sealedLen(n) ≤ room, or 0.
func largestFitting(room int, sealedLen SealedLenFunc) int {
	if room <= 0 || sealedLen(1) > room {
		return 0
	}
	lo, hi := 1, room // sealedLen(n) ≥ n for any cipher
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if sealedLen(mid) <= room {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
