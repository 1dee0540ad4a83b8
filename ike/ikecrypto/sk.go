package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrIntegrity reports an Encrypted payload whose ICV or AEAD tag does not
// verify, or whose decrypted padding is inconsistent.
var ErrIntegrity = errors.New("ikecrypto: encrypted payload failed integrity check")

// NewBlock returns the block cipher for a CBC transform (also used by
// IKEv1, which chains IVs itself).
func NewBlock(e EncrID, key []byte) (cipher.Block, error) {
	switch e {
	case EncrDES:
		return des.NewCipher(key)
	case Encr3DES:
		return des.NewTripleDESCipher(key)
	case EncrAESCBC:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("ikecrypto: %v is not a block cipher in CBC mode", e)
}

// integHash returns the hash behind an HMAC integrity transform.
func (i IntegID) hash() func() hash.Hash {
	return i.PRF().hash()
}

// Protector seals and opens the body of an IKEv2 Encrypted (SK) payload in
// one direction (RFC 7296 §3.14; RFC 5282 for AEAD ciphers). The body is
// IV | ciphertext | ICV; the plaintext inside is payloads | padding | pad
// length. It is not safe for concurrent use (it keeps the AEAD IV counter).
type Protector struct {
	encr  EncrID
	block cipher.Block // CBC ciphers
	mac   func() hash.Hash
	macK  []byte
	icv   int
	aead  cipher.AEAD // GCM/ChaCha20: 4-byte salt + 8-byte explicit IV
	salt  [4]byte
	ctr   uint64
}

// NewProtector builds a protector from a suite and the direction's keys
// (SK_ei/SK_ai or SK_er/SK_ar). AEAD keys end with their 4-byte salt.
func NewProtector(encr EncrID, integ IntegID, encKey, integKey []byte) (*Protector, error) {
	p := &Protector{encr: encr}
	if encr.AEAD() {
		if len(encKey) < 5 {
			return nil, fmt.Errorf("ikecrypto: short AEAD key")
		}
		k, salt := encKey[:len(encKey)-4], encKey[len(encKey)-4:]
		copy(p.salt[:], salt)
		var err error
		switch encr {
		case EncrChaCha20Poly1305:
			// RFC 7634 §2: 32-bit salt + 64-bit IV form the 96-bit nonce.
			p.aead, err = chacha20poly1305.New(k)
		case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
			var b cipher.Block
			if b, err = aes.NewCipher(k); err == nil {
				tag := map[EncrID]int{EncrAESGCM8: 8, EncrAESGCM12: 12, EncrAESGCM16: 16}[encr]
				p.aead, err = cipher.NewGCMWithTagSize(b, tag)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("ikecrypto: %v: %w", encr, err)
		}
		p.icv = p.aead.Overhead()
		return p, nil
	}
	b, err := NewBlock(encr, encKey)
	if err != nil {
		return nil, err
	}
	h := integ.hash()
	if h == nil || len(integKey) != integ.KeyBytes() {
		return nil, fmt.Errorf("ikecrypto: integrity %v with %d-byte key", integ, len(integKey))
	}
	p.block, p.mac, p.macK, p.icv = b, h, append([]byte(nil), integKey...), integ.ICVBytes()
	return p, nil
}

// ivLen is the explicit IV size in the payload.
func (p *Protector) ivLen() int {
	if p.aead != nil {
		return 8
	}
	return p.block.BlockSize()
}

// SealedLen is the body length Seal produces for plainLen bytes of inner
// payloads, so the caller can write the SK and IKE header lengths first.
func (p *Protector) SealedLen(plainLen int) int {
	return p.ivLen() + p.paddedLen(plainLen) + p.icv
}

// paddedLen adds padding and the Pad Length octet: CBC needs whole blocks;
// AEAD needs none (RFC 5282 §3 leaves padding optional).
func (p *Protector) paddedLen(n int) int {
	n++
	if p.block != nil {
		bs := p.block.BlockSize()
		n = (n + bs - 1) / bs * bs
	}
	return n
}

// Seal encrypts plaintext (the inner payload chain) into an SK body. aad is
// the message from the first octet of the IKE header to the last octet of
// the SK payload's generic header, with final lengths. rand supplies CBC IVs.
func (p *Protector) Seal(aad, plaintext []byte, rand io.Reader) ([]byte, error) {
	padded := p.paddedLen(len(plaintext))
	body := make([]byte, p.ivLen()+padded+p.icv)
	iv := body[:p.ivLen()]
	pt := body[p.ivLen() : p.ivLen()+padded]
	copy(pt, plaintext)
	// Padding octets are zero; the last octet counts them (§3.14).
	pt[padded-1] = byte(padded - 1 - len(plaintext))
	if p.aead != nil {
		p.ctr++
		binary.BigEndian.PutUint64(iv, p.ctr)
		nonce := p.nonce(iv)
		p.aead.Seal(pt[:0], nonce, pt, aad)
		return body, nil
	}
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("ikecrypto: iv: %w", err)
	}
	cipher.NewCBCEncrypter(p.block, iv).CryptBlocks(pt, pt)
	m := hmac.New(p.mac, p.macK)
	m.Write(aad)
	m.Write(body[:len(body)-p.icv])
	copy(body[len(body)-p.icv:], m.Sum(nil))
	return body, nil
}

func (p *Protector) nonce(iv []byte) []byte {
	n := make([]byte, 12)
	copy(n, p.salt[:])
	copy(n[4:], iv)
	return n
}

// Open verifies and decrypts an SK body, returning the inner payload chain
// with padding removed. aad is as for Seal, taken from the received bytes.
func (p *Protector) Open(aad, body []byte) ([]byte, error) {
	ivl := p.ivLen()
	if len(body) < ivl+1+p.icv {
		return nil, ErrIntegrity
	}
	iv := body[:ivl]
	var pt []byte
	if p.aead != nil {
		out, err := p.aead.Open(nil, p.nonce(iv), body[ivl:], aad)
		if err != nil {
			return nil, ErrIntegrity
		}
		pt = out
	} else {
		m := hmac.New(p.mac, p.macK)
		m.Write(aad)
		m.Write(body[:len(body)-p.icv])
		if !hmac.Equal(m.Sum(nil)[:p.icv], body[len(body)-p.icv:]) {
			return nil, ErrIntegrity
		}
		ct := body[ivl : len(body)-p.icv]
		if len(ct)%p.block.BlockSize() != 0 {
			return nil, ErrIntegrity
		}
		pt = make([]byte, len(ct))
		cipher.NewCBCDecrypter(p.block, iv).CryptBlocks(pt, ct)
	}
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, ErrIntegrity
	}
	return pt[:len(pt)-1-padLen], nil
}

// ICVLen is the length of the integrity check value (or AEAD tag).
func (p *Protector) ICVLen() int { return p.icv }
