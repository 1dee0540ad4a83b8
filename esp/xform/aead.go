package xform

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// AEAD ESP framing (RFC 4106 §3–5, RFC 7634 §2–3): an 8-byte explicit IV, a
// 12-byte nonce salt‖IV, a 16-byte ICV, and AAD = SPI‖Seq (32-bit) or
// SPI‖SeqHi‖SeqLo (ESN).
const (
	aeadIVLen   = 8
	aeadICVLen  = 16
	aeadSaltLen = 4
)

// aeadScratch holds a call's nonce and ESN AAD. They live in a pooled heap
// object because slices of stack arrays passed through the cipher.AEAD
// interface escape, which would allocate per packet.
type aeadScratch struct {
	nonce [aeadSaltLen + aeadIVLen]byte
	aad   [12]byte
}

// aeadTransform is AES-GCM-16 (RFC 4106) or ChaCha20-Poly1305 (RFC 7634).
// cipher.AEAD values from the standard library and x/crypto are stateless
// after creation and safe for concurrent use.
type aeadTransform struct {
	suite Suite
	aead  cipher.AEAD
	salt  [aeadSaltLen]byte
	pool  sync.Pool // of *aeadScratch

	// fixedIV, when set (tests only), replaces the generated IV so that
	// published vectors can be reproduced.
	fixedIV []byte
}

func newAEAD(s Suite, encKey []byte) (*aeadTransform, error) {
	key, salt := encKey[:len(encKey)-aeadSaltLen], encKey[len(encKey)-aeadSaltLen:]
	var (
		a   cipher.AEAD
		err error
	)
	if s.Encr == EncrAESGCM16 {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			a, err = cipher.NewGCM(b)
		}
	} else {
		a, err = chacha20poly1305.New(key)
	}
	if err != nil {
		return nil, fmt.Errorf("xform: %v: %w", s, err)
	}
	t := &aeadTransform{suite: s, aead: a}
	copy(t.salt[:], salt)
	t.pool.New = func() any { return new(aeadScratch) }
	return t, nil
}

func (t *aeadTransform) Suite() Suite   { return t.suite }
func (t *aeadTransform) IVLen() int     { return aeadIVLen }
func (t *aeadTransform) ICVLen() int    { return aeadICVLen }
func (t *aeadTransform) BlockSize() int { return 4 }

// scratch returns a pooled scratch with the nonce salt filled in.
func (t *aeadTransform) scratch() *aeadScratch {
	st := t.pool.Get().(*aeadScratch)
	copy(st.nonce[:aeadSaltLen], t.salt[:])
	return st
}

// aad returns the additional authenticated data of RFC 4106 §5 (also used
// by RFC 7634 §3): the ESP header as sent, or with ESN the SPI, the implicit
// high sequence bits and the low bits.
func (t *aeadTransform) aad(st *aeadScratch, pkt []byte, seqHi uint32, esn bool) []byte {
	if !esn {
		return pkt[:espHeaderLen]
	}
	copy(st.aad[0:4], pkt[0:4])
	binary.BigEndian.PutUint32(st.aad[4:8], seqHi)
	copy(st.aad[8:12], pkt[4:8])
	return st.aad[:]
}

// Seal uses the 64-bit sequence number SeqHi‖SeqLo as the explicit IV.
// RFC 4106 §3.1 and RFC 7634 §2 require only that an IV never repeat under
// one key, and RFC 4303 §3.3.3 forbids the sequence number to cycle within
// an SA, so the counter that is already unique is the cheapest correct IV
// (the approach RFC 4106 §3.1 itself suggests). Callers must therefore never
// Seal two packets with the same 64-bit sequence number under one Transform.
func (t *aeadTransform) Seal(pkt []byte, seqHi uint32, esn bool) {
	n := len(pkt) - aeadICVLen
	const body = espHeaderLen + aeadIVLen
	if n < body+trailerLen {
		panic("xform: Seal: packet too short")
	}
	iv := pkt[espHeaderLen:body]
	if t.fixedIV != nil {
		copy(iv, t.fixedIV)
	} else {
		binary.BigEndian.PutUint32(iv[0:4], seqHi)
		copy(iv[4:8], pkt[4:8])
	}
	st := t.scratch()
	copy(st.nonce[aeadSaltLen:], iv)
	t.aead.Seal(pkt[body:body], st.nonce[:], pkt[body:n], t.aad(st, pkt, seqHi, esn))
	t.pool.Put(st)
}

func (t *aeadTransform) Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error) {
	const body = espHeaderLen + aeadIVLen
	if len(pkt) < body+trailerLen+aeadICVLen {
		return nil, ErrShort
	}
	st := t.scratch()
	copy(st.nonce[aeadSaltLen:], pkt[espHeaderLen:body])
	pt, err := t.aead.Open(pkt[body:body], st.nonce[:], pkt[body:], t.aad(st, pkt, seqHi, esn))
	t.pool.Put(st)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}
