package xform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/subtle"
	"fmt"
	"io"
)

// cbcMode encrypts or decrypts whole blocks in place in CBC mode
// (NIST SP 800-38A §6.2). Implementations are immutable after creation and
// safe for concurrent use; iv is only read.
type cbcMode interface {
	encrypt(iv, buf []byte)
	decrypt(iv, buf []byte)
}

// blockCBC is CBC over any cipher.Block, one block per call. It is the
// portable path (DES, 3DES, and AES where aes_amd64.go does not apply) and is
// written so it allocates nothing: Go's cipher.NewCBCEncrypter and
// NewCBCDecrypter allocate their state per call, which per packet is a
// measurable cost.
type blockCBC struct {
	b  cipher.Block
	bs int
}

func (c blockCBC) encrypt(iv, buf []byte) {
	prev := iv
	for i := 0; i < len(buf); i += c.bs {
		blk := buf[i : i+c.bs]
		subtle.XORBytes(blk, blk, prev)
		c.b.Encrypt(blk, blk)
		prev = blk
	}
}

// decrypt walks backwards so every block's predecessor is still ciphertext
// when it is needed, which makes in-place decryption need no copy.
func (c blockCBC) decrypt(iv, buf []byte) {
	for i := len(buf) - c.bs; i >= 0; i -= c.bs {
		blk := buf[i : i+c.bs]
		c.b.Decrypt(blk, blk)
		if i == 0 {
			subtle.XORBytes(blk, blk, iv)
		} else {
			subtle.XORBytes(blk, blk, buf[i-c.bs:i])
		}
	}
}

// newAESCBCGeneric returns the portable AES-CBC over the standard library's
// cipher.Block (which itself uses hardware AES for single blocks when
// available).
func newAESCBCGeneric(key []byte) (cbcMode, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return blockCBC{b: b, bs: aes.BlockSize}, nil
}

// cbcTransform is a CBC block cipher (RFC 3602 for AES, RFC 2451 for DES
// and 3DES) with an HMAC integrity transform. ICV = HMAC over
// SPI‖Seq‖IV‖ciphertext (‖SeqHi with ESN), computed after encryption and
// checked before decryption (RFC 4303 §3.3.4, §3.4.4.1).
type cbcTransform struct {
	suite Suite
	mode  cbcMode
	bs    int
	mac   *mac
	iv    *ivGen

	// fixedIV, when set (tests only), replaces the generated IV so that
	// published vectors can be reproduced.
	fixedIV []byte
}

func newCBC(s Suite, encKey, integKey []byte, rnd io.Reader) (*cbcTransform, error) {
	t := &cbcTransform{suite: s, mac: newMAC(s.Integ, integKey)}
	var err error
	switch s.Encr {
	case EncrAESCBC:
		t.mode, err = newAESCBC(encKey)
		t.bs = aes.BlockSize
	case EncrDES, Encr3DES:
		// RFC 2451 §2.2: 3DES is EDE with three independent keys; DES
		// is kept only for interop with old peers (RFC 8221 §5: MUST NOT).
		var b cipher.Block
		if s.Encr == EncrDES {
			b, err = des.NewCipher(encKey)
		} else {
			b, err = des.NewTripleDESCipher(encKey)
		}
		t.mode, t.bs = blockCBC{b: b, bs: des.BlockSize}, des.BlockSize
	default:
		return nil, fmt.Errorf("xform: unsupported encryption transform %d", s.Encr)
	}
	if err != nil {
		return nil, fmt.Errorf("xform: %v: %w", s, err)
	}
	if t.iv, err = newIVGen(rnd); err != nil {
		return nil, fmt.Errorf("xform: %v: %w", s, err)
	}
	return t, nil
}

func (t *cbcTransform) Suite() Suite   { return t.suite }
func (t *cbcTransform) IVLen() int     { return t.bs }
func (t *cbcTransform) ICVLen() int    { return t.mac.icvLen }
func (t *cbcTransform) BlockSize() int { return t.bs }

func (t *cbcTransform) Seal(pkt []byte, seqHi uint32, esn bool) {
	n := len(pkt) - t.mac.icvLen
	start := espHeaderLen + t.bs
	if n < start+t.bs || (n-start)%t.bs != 0 {
		panic("xform: Seal: plaintext is not a positive multiple of the block size")
	}
	iv := pkt[espHeaderLen:start]
	st := t.mac.get()
	if t.fixedIV != nil {
		copy(iv, t.fixedIV)
	} else {
		t.iv.next(iv, st)
	}
	t.mode.encrypt(iv, pkt[start:n])
	copy(pkt[n:], t.mac.compute(st, pkt[:n], seqHi, esn))
	t.mac.put(st)
}

func (t *cbcTransform) Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error) {
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
	t.mode.decrypt(pkt[espHeaderLen:start], pkt[start:n])
	return pkt[start:n], nil
}
