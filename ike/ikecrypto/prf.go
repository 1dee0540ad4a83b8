package ikecrypto

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// hash returns the hash constructor behind the PRF, nil if unknown.
func (p PRFID) hash() func() hash.Hash {
	switch p {
	case PRFHMACMD5:
		return md5.New
	case PRFHMACSHA1:
		return sha1.New
	case PRFHMACSHA256:
		return sha256.New
	case PRFHMACSHA384:
		return sha512.New384
	case PRFHMACSHA512:
		return sha512.New
	}
	return nil
}

// KeyBytes is the preferred key size of the PRF (RFC 7296 §2.13: for HMAC
// PRFs the output size), used for SK_d, SK_pi and SK_pr.
func (p PRFID) KeyBytes() int {
	h := p.hash()
	if h == nil {
		return 0
	}
	return h().Size()
}

// PRF is an instantiated pseudo-random function.
type PRF struct {
	ID PRFID
	h  func() hash.Hash
}

// NewPRF returns the PRF for the IANA ID.
func NewPRF(id PRFID) (PRF, error) {
	h := id.hash()
	if h == nil {
		return PRF{}, fmt.Errorf("ikecrypto: unsupported PRF %v", id)
	}
	return PRF{ID: id, h: h}, nil
}

// Size is the output length of the PRF in bytes.
func (p PRF) Size() int { return p.h().Size() }

// Sum computes prf(key, data...) — the concatenation of data is the message.
func (p PRF) Sum(key []byte, data ...[]byte) []byte {
	m := hmac.New(p.h, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// errPRFPlusTooLong reports a prf+ request beyond 255 iterations.
var errPRFPlusTooLong = errors.New("ikecrypto: prf+ output longer than 255 blocks")

// PlusExpand computes n bytes of prf+(K, S) (RFC 7296 §2.13):
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02) ...
//
// The counter is a single octet, so at most 255 blocks exist.
func (p PRF) PlusExpand(key, seed []byte, n int) ([]byte, error) {
	size := p.Size()
	if n > 255*size {
		return nil, errPRFPlusTooLong
	}
	out := make([]byte, 0, n+size)
	var prev []byte
	for i := 1; len(out) < n; i++ {
		prev = p.Sum(key, prev, seed, []byte{byte(i)})
		out = append(out, prev...)
	}
	return out[:n], nil
}

// Hash returns the hash constructor behind the PRF (IKEv1 uses it for the
// HASH payloads and NAT-D).
func (p PRF) Hash() func() hash.Hash { return p.h }
