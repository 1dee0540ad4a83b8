// Package xform implements the ESP cryptographic transforms (RFC 4303 §3.3.2,
// §3.4.2–3.4.4): confidentiality and integrity applied in place to one ESP
// packet, with zero heap allocations per packet.
//
// Transforms are named by their IKEv2 IANA transform IDs (RFC 7296 §3.3.2),
// which serves as the vocabulary shared with the control plane: IKEv1's IPsec
// DOI numbers are mapped to these by the caller.
//
// Packet layout handed to Seal and Open (offsets from the start of pkt):
//
//	0        4        8             8+IVLen                       len-ICVLen   len
//	| SPI    | Seq lo | IV          | payload | padding | padlen | nh | ICV     |
//
// Seal expects the caller to have written SPI, Seq and the plaintext payload,
// padding, pad length and next header (the "trailer", built with PadLen), and
// to have left IVLen bytes for the IV and ICVLen bytes at the end. It writes
// the IV, encrypts in place and writes the ICV. Open verifies the ICV first
// (RFC 4303 §3.4.4: integrity before decryption), then decrypts in place and
// returns the plaintext region (payload|padding|padlen|nh) as a sub-slice of pkt.
//
// Implementation notes:
//   - AES-GCM-16 (RFC 4106) and ChaCha20-Poly1305 (RFC 7634) use the 64-bit
//     sequence number as the explicit IV (aead.go).
//   - CBC IVs are AES encryptions of a per-SA counter under a random per-SA
//     key, unpredictable as RFC 3602 §3 requires without a crypto/rand read
//     per packet (iv.go).
//   - AES-CBC runs on AES-NI assembly on amd64, decrypting eight blocks in
//     parallel (aes_amd64.s, aeskey.go); elsewhere, and for DES/3DES, a
//     portable allocation-free CBC over cipher.Block (cbc.go).
//   - HMAC state is per goroutine through a sync.Pool (mac.go).
//   - NewBaseline builds the naive constructions the benchmarks compare
//     against (baseline.go).
package xform

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// IKEv2 encryption transform IDs (RFC 7296 §3.3.2, IANA "Transform Type 1").
const (
	EncrDES              uint16 = 2
	Encr3DES             uint16 = 3
	EncrNull             uint16 = 11
	EncrAESCBC           uint16 = 12
	EncrAESGCM16         uint16 = 20
	EncrChaCha20Poly1305 uint16 = 28
)

// IKEv2 integrity transform IDs (RFC 7296 §3.3.2, IANA "Transform Type 3").
const (
	IntegNone          uint16 = 0
	IntegHMACMD596     uint16 = 1
	IntegHMACSHA196    uint16 = 2
	IntegHMACSHA256128 uint16 = 12
	IntegHMACSHA384192 uint16 = 13
	IntegHMACSHA512256 uint16 = 14
)

// Suite names one ESP transform combination.
type Suite struct {
	Encr    uint16 // Encr* constant
	KeyBits int    // cipher key length in bits (AES: 128/192/256; fixed-size ciphers: 0 or their size)
	Integ   uint16 // Integ* constant; IntegNone for AEAD ciphers
}

// Errors returned by Open. The data plane counts them by kind.
var (
	ErrAuth  = errors.New("xform: integrity check failed")
	ErrShort = errors.New("xform: packet too short")
	ErrAlign = errors.New("xform: ciphertext not a multiple of the block size")
)

// Transform is one direction's keyed ESP transform. Seal and Open are safe
// for concurrent use by several goroutines (the data plane runs crypto on
// all cores) and allocate nothing in steady state.
type Transform interface {
	Suite() Suite
	IVLen() int     // bytes of IV carried in each packet
	ICVLen() int    // bytes of ICV appended to each packet
	BlockSize() int // padding alignment for the plaintext (4 for AEAD/stream ciphers)

	// Seal writes IV, ciphertext and ICV in place (see the package comment).
	// seqHi is the high 32 bits of the 64-bit sequence number; it is
	// authenticated only when esn is true (RFC 4303 §2.2.1, §3.3.2.1).
	// A packet too short for its trailer, or whose plaintext region is not
	// a multiple of BlockSize, is a caller bug and panics.
	Seal(pkt []byte, seqHi uint32, esn bool)

	// Open verifies and decrypts pkt in place and returns the plaintext
	// region. On error pkt's contents are unspecified.
	Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error)
}

// New returns the keyed transform for s. encKey and integKey are the
// KEYMAT slices of RFC 7296 §2.17 for one direction, in the sizes given by
// s.KeyLen (for AES-GCM and ChaCha20-Poly1305 the 4-byte salt is the tail of
// encKey, RFC 4106 §8.1, RFC 7634 §2). The keys are copied.
//
// Per-SA random secrets (the CBC IV generator key, see iv.go) come from
// crypto/rand; use NewWithRand to inject the source.
func New(s Suite, encKey, integKey []byte) (Transform, error) {
	return NewWithRand(s, encKey, integKey, rand.Reader)
}

// NewWithRand is New with the randomness source injected. It reads from
// rnd only during the call, never per packet.
func NewWithRand(s Suite, encKey, integKey []byte, rnd io.Reader) (Transform, error) {
	encLen, integLen, err := s.KeyLen()
	if err != nil {
		return nil, err
	}
	if len(encKey) != encLen {
		return nil, fmt.Errorf("xform: %v: encryption key is %d bytes, want %d", s, len(encKey), encLen)
	}
	if len(integKey) != integLen {
		return nil, fmt.Errorf("xform: %v: integrity key is %d bytes, want %d", s, len(integKey), integLen)
	}
	encKey = append([]byte(nil), encKey...)
	integKey = append([]byte(nil), integKey...)
	switch s.Encr {
	case EncrAESGCM16, EncrChaCha20Poly1305:
		return newAEAD(s, encKey)
	case EncrNull:
		return newNull(s, integKey), nil
	default:
		return newCBC(s, encKey, integKey, rnd)
	}
}

// KeyLen reports how many bytes of keying material s takes for encryption
// (including the AEAD salt) and for integrity, or an error when s is not a
// supported combination. The control plane uses it to size KEYMAT.
func (s Suite) KeyLen() (enc, integ int, err error) {
	aead := false
	switch s.Encr {
	case EncrDES:
		if s.KeyBits != 0 && s.KeyBits != 64 {
			return 0, 0, fmt.Errorf("xform: des takes a 64-bit key, not %d bits", s.KeyBits)
		}
		enc = 8
	case Encr3DES:
		if s.KeyBits != 0 && s.KeyBits != 192 {
			return 0, 0, fmt.Errorf("xform: 3des takes a 192-bit key, not %d bits", s.KeyBits)
		}
		enc = 24
	case EncrAESCBC:
		if s.KeyBits != 128 && s.KeyBits != 192 && s.KeyBits != 256 {
			return 0, 0, fmt.Errorf("xform: aes-cbc key must be 128, 192 or 256 bits, not %d", s.KeyBits)
		}
		enc = s.KeyBits / 8
	case EncrAESGCM16:
		// RFC 4106 §8.1: KEYMAT is the AES key followed by a 4-byte salt.
		if s.KeyBits != 128 && s.KeyBits != 192 && s.KeyBits != 256 {
			return 0, 0, fmt.Errorf("xform: aes-gcm key must be 128, 192 or 256 bits, not %d", s.KeyBits)
		}
		enc = s.KeyBits/8 + 4
		aead = true
	case EncrChaCha20Poly1305:
		// RFC 7634 §2: 256-bit key followed by a 4-byte salt.
		if s.KeyBits != 0 && s.KeyBits != 256 {
			return 0, 0, fmt.Errorf("xform: chacha20-poly1305 takes a 256-bit key, not %d bits", s.KeyBits)
		}
		enc = 36
		aead = true
	case EncrNull:
		if s.KeyBits != 0 {
			return 0, 0, fmt.Errorf("xform: null encryption takes no key, not %d bits", s.KeyBits)
		}
	default:
		return 0, 0, fmt.Errorf("xform: unsupported encryption transform %d", s.Encr)
	}
	if aead {
		if s.Integ != IntegNone {
			return 0, 0, fmt.Errorf("xform: %v is an AEAD and takes no integrity transform (RFC 4106 §5)", s)
		}
		return enc, 0, nil
	}
	ia, ok := integAlgs[s.Integ]
	if !ok {
		if s.Integ == IntegNone {
			// RFC 8221 §5: ESP encryption without integrity is MUST NOT
			// for new deployments; we do not offer it.
			return 0, 0, fmt.Errorf("xform: %v: encryption without integrity is not supported (RFC 8221 §5)", s)
		}
		return 0, 0, fmt.Errorf("xform: unsupported integrity transform %d", s.Integ)
	}
	return enc, ia.keyLen, nil
}

// String names the suite the way strongSwan proposals do
// ("aes128-sha1", "aes256gcm16", "chacha20poly1305", "3des-md5", "null-sha256").
func (s Suite) String() string {
	var e string
	switch s.Encr {
	case EncrDES:
		e = "des"
	case Encr3DES:
		e = "3des"
	case EncrNull:
		e = "null"
	case EncrAESCBC:
		e = fmt.Sprintf("aes%d", s.KeyBits)
	case EncrAESGCM16:
		e = fmt.Sprintf("aes%dgcm16", s.KeyBits)
	case EncrChaCha20Poly1305:
		e = "chacha20poly1305"
	default:
		e = fmt.Sprintf("encr%d", s.Encr)
	}
	if s.Integ == IntegNone {
		return e
	}
	if ia, ok := integAlgs[s.Integ]; ok {
		return e + "-" + ia.name
	}
	return fmt.Sprintf("%s-integ%d", e, s.Integ)
}

// Suites lists every supported suite (each AES key size, each integrity
// algorithm for the non-AEAD ciphers). Tests and benchmarks iterate over it.
func Suites() []Suite {
	integs := []uint16{IntegHMACMD596, IntegHMACSHA196, IntegHMACSHA256128, IntegHMACSHA384192, IntegHMACSHA512256}
	var out []Suite
	for _, c := range []Suite{
		{Encr: EncrAESCBC, KeyBits: 128}, {Encr: EncrAESCBC, KeyBits: 192}, {Encr: EncrAESCBC, KeyBits: 256},
		{Encr: Encr3DES}, {Encr: EncrDES}, {Encr: EncrNull},
	} {
		for _, i := range integs {
			c.Integ = i
			out = append(out, c)
		}
	}
	return append(out,
		Suite{Encr: EncrAESGCM16, KeyBits: 128},
		Suite{Encr: EncrAESGCM16, KeyBits: 192},
		Suite{Encr: EncrAESGCM16, KeyBits: 256},
		Suite{Encr: EncrChaCha20Poly1305},
	)
}

// String methods keep key material (salts, round keys) out of logs when a
// Transform is printed with %v: they name the suite only.
func (t *cbcTransform) String() string  { return "xform(" + t.suite.String() + ")" }
func (t *aeadTransform) String() string { return "xform(" + t.suite.String() + ")" }
func (t *nullTransform) String() string { return "xform(" + t.suite.String() + ")" }
