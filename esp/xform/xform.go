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
package xform

import "errors"

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
	Seal(pkt []byte, seqHi uint32, esn bool)

	// Open verifies and decrypts pkt in place and returns the plaintext
	// region. On error pkt's contents are unspecified.
	Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error)
}
