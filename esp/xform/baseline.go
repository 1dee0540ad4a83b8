package xform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// NewBaseline returns the straightforward construction of s that the
// benchmarks (here and in the engine's table benchmark) use as an anchor.
// It is correct and interoperable but not meant for production:
//
//   - CBC suites: a crypto/rand IV and a fresh cipher.NewCBCEncrypter or
//     NewCBCDecrypter per packet (Go's CBC decrypts one block at a time).
//     The HMAC is the same pooled one as New's, so a comparison isolates
//     the cipher and IV path.
//   - AEAD suites: the standard library (or x/crypto) AEAD called directly
//     with a nonce slice made per packet.
//
// NULL encryption has no naive variant and is rejected.
func NewBaseline(s Suite, encKey, integKey []byte) (Transform, error) {
	if _, _, err := s.KeyLen(); err != nil {
		return nil, err
	}
	t, err := New(s, encKey, integKey)
	if err != nil {
		return nil, err
	}
	switch tt := t.(type) {
	case *aeadTransform:
		return &baselineAEAD{tt}, nil
	case *cbcTransform:
		var b cipher.Block
		switch s.Encr {
		case EncrAESCBC:
			b, err = aes.NewCipher(encKey)
		case EncrDES:
			b, err = des.NewCipher(encKey)
		default:
			b, err = des.NewTripleDESCipher(encKey)
		}
		if err != nil {
			return nil, fmt.Errorf("xform: %v: %w", s, err)
		}
		return &baselineCBC{cbcTransform: tt, b: b}, nil
	}
	return nil, fmt.Errorf("xform: %v: no baseline construction", s)
}

// baselineCBC overrides the cipher path of cbcTransform.
type baselineCBC struct {
	*cbcTransform
	b cipher.Block
}

func (t *baselineCBC) Seal(pkt []byte, seqHi uint32, esn bool) {
	n := len(pkt) - t.mac.icvLen
	start := espHeaderLen + t.bs
	iv := pkt[espHeaderLen:start]
	if _, err := rand.Read(iv); err != nil {
		panic(err)
	}
	cipher.NewCBCEncrypter(t.b, iv).CryptBlocks(pkt[start:n], pkt[start:n])
	st := t.mac.get()
	copy(pkt[n:], t.mac.compute(st, pkt[:n], seqHi, esn))
	t.mac.put(st)
}

func (t *baselineCBC) Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error) {
	n := len(pkt) - t.mac.icvLen
	start := espHeaderLen + t.bs
	if n < start+t.bs {
		return nil, ErrShort
	}
	if (n-start)%t.bs != 0 {
		return nil, ErrAlign
	}
	st := t.mac.get()
	ok := hmac.Equal(t.mac.compute(st, pkt[:n], seqHi, esn), pkt[n:])
	t.mac.put(st)
	if !ok {
		return nil, ErrAuth
	}
	cipher.NewCBCDecrypter(t.b, pkt[espHeaderLen:start]).CryptBlocks(pkt[start:n], pkt[start:n])
	return pkt[start:n], nil
}

// baselineAEAD calls the AEAD directly, building nonce and AAD in fresh
// slices as straightforward code would.
type baselineAEAD struct{ *aeadTransform }

func (t *baselineAEAD) nonceAAD(pkt []byte, seqHi uint32, esn bool) (nonce, aad []byte) {
	nonce = append(append(make([]byte, 0, 12), t.salt[:]...), pkt[espHeaderLen:espHeaderLen+aeadIVLen]...)
	aad = append([]byte(nil), pkt[:espHeaderLen]...)
	if esn {
		aad = binary.BigEndian.AppendUint32(aad[:4], seqHi)
		aad = append(aad, pkt[4:8]...)
	}
	return nonce, aad
}

func (t *baselineAEAD) Seal(pkt []byte, seqHi uint32, esn bool) {
	const body = espHeaderLen + aeadIVLen
	binary.BigEndian.PutUint32(pkt[espHeaderLen:], seqHi)
	copy(pkt[espHeaderLen+4:body], pkt[4:8])
	nonce, aad := t.nonceAAD(pkt, seqHi, esn)
	t.aead.Seal(pkt[body:body], nonce, pkt[body:len(pkt)-aeadICVLen], aad)
}

func (t *baselineAEAD) Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error) {
	const body = espHeaderLen + aeadIVLen
	if len(pkt) < body+trailerLen+aeadICVLen {
		return nil, ErrShort
	}
	nonce, aad := t.nonceAAD(pkt, seqHi, esn)
	pt, err := t.aead.Open(pkt[body:body], nonce, pkt[body:], aad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}
