// Package ikecrypto holds the cryptography of IKE: pseudo-random functions
// and prf+ (RFC 7296 §2.13), the IKE and CHILD_SA key derivations (§2.14,
// §2.17), pre-shared-key AUTH (§2.15), Diffie-Hellman groups (RFC 2409 §6,
// RFC 3526, RFC 5903, RFC 8031), the protection of the Encrypted payload
// (§3.14, RFC 5282) and a registry mapping IANA transform IDs to
// constructors and key sizes. It is shared by IKEv1 and IKEv2 and holds no
// protocol state.
package ikecrypto

import "fmt"

// TransformType is the IKEv2 transform type (RFC 7296 §3.3.2).
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("TRANSFORM(%d)", uint8(t))
}

// EncrID is an IKEv2 encryption algorithm ID (IANA "Transform Type 1").
type EncrID uint16

// Encryption algorithms supported.
const (
	EncrDES              EncrID = 2
	Encr3DES             EncrID = 3
	EncrNull             EncrID = 11
	EncrAESCBC           EncrID = 12
	EncrAESGCM8          EncrID = 18
	EncrAESGCM12         EncrID = 19
	EncrAESGCM16         EncrID = 20
	EncrChaCha20Poly1305 EncrID = 28
)

func (e EncrID) String() string {
	switch e {
	case EncrDES:
		return "DES"
	case Encr3DES:
		return "3DES"
	case EncrNull:
		return "NULL"
	case EncrAESCBC:
		return "AES_CBC"
	case EncrAESGCM8:
		return "AES_GCM_8"
	case EncrAESGCM12:
		return "AES_GCM_12"
	case EncrAESGCM16:
		return "AES_GCM_16"
	case EncrChaCha20Poly1305:
		return "CHACHA20_POLY1305"
	}
	return fmt.Sprintf("ENCR(%d)", uint16(e))
}

// AEAD reports whether the algorithm is a combined-mode cipher (no
// separate integrity transform, RFC 5282).
func (e EncrID) AEAD() bool {
	switch e {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return true
	}
	return false
}

// NeedsKeyLength reports whether the transform must carry a Key Length
// attribute (RFC 7296 §3.3.5: variable-length ciphers).
func (e EncrID) NeedsKeyLength() bool {
	switch e {
	case EncrAESCBC, EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
		return true
	}
	return false
}

// KeyBytes is the keying material taken from prf+ for the cipher with the
// given key length in bits (0 for fixed-size ciphers). AEAD ciphers take
// their 4-byte salt as well (RFC 5282 §7.1, RFC 4106 §8.1). It returns 0
// for unsupported combinations.
func (e EncrID) KeyBytes(keyBits int) int {
	switch e {
	case EncrDES:
		return 8
	case Encr3DES:
		return 24
	case EncrAESCBC:
		if keyBits == 128 || keyBits == 192 || keyBits == 256 {
			return keyBits / 8
		}
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
		if keyBits == 128 || keyBits == 192 || keyBits == 256 {
			return keyBits/8 + 4
		}
	case EncrChaCha20Poly1305:
		return 32 + 4
	}
	return 0
}

// PRFID is an IKEv2 pseudo-random function ID (IANA "Transform Type 2").
type PRFID uint16

// Pseudo-random functions supported.
const (
	PRFHMACMD5    PRFID = 1
	PRFHMACSHA1   PRFID = 2
	PRFHMACSHA256 PRFID = 5
	PRFHMACSHA384 PRFID = 6
	PRFHMACSHA512 PRFID = 7
)

func (p PRFID) String() string {
	switch p {
	case PRFHMACMD5:
		return "PRF_HMAC_MD5"
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFHMACSHA256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA512:
		return "PRF_HMAC_SHA2_512"
	}
	return fmt.Sprintf("PRF(%d)", uint16(p))
}

// IntegID is an IKEv2 integrity algorithm ID (IANA "Transform Type 3").
type IntegID uint16

// Integrity algorithms supported.
const (
	IntegNone          IntegID = 0
	IntegHMACMD596     IntegID = 1
	IntegHMACSHA196    IntegID = 2
	IntegHMACSHA256128 IntegID = 12
	IntegHMACSHA384192 IntegID = 13
	IntegHMACSHA512256 IntegID = 14
)

func (i IntegID) String() string {
	switch i {
	case IntegNone:
		return "NONE"
	case IntegHMACMD596:
		return "HMAC_MD5_96"
	case IntegHMACSHA196:
		return "HMAC_SHA1_96"
	case IntegHMACSHA256128:
		return "HMAC_SHA2_256_128"
	case IntegHMACSHA384192:
		return "HMAC_SHA2_384_192"
	case IntegHMACSHA512256:
		return "HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("INTEG(%d)", uint16(i))
}

// KeyBytes is the integrity key length: the hash output size (RFC 2104
// key of full block-hash length; RFC 4868 §2.1.1, RFC 2403/2404).
func (i IntegID) KeyBytes() int {
	switch i {
	case IntegHMACMD596:
		return 16
	case IntegHMACSHA196:
		return 20
	case IntegHMACSHA256128:
		return 32
	case IntegHMACSHA384192:
		return 48
	case IntegHMACSHA512256:
		return 64
	}
	return 0
}

// ICVBytes is the truncated output length of the integrity algorithm.
func (i IntegID) ICVBytes() int {
	switch i {
	case IntegHMACMD596, IntegHMACSHA196:
		return 12
	case IntegHMACSHA256128:
		return 16
	case IntegHMACSHA384192:
		return 24
	case IntegHMACSHA512256:
		return 32
	}
	return 0
}

// PRF returns the PRF that uses the same hash, which IKEv1 needs when its
// proposal names only a hash algorithm.
func (i IntegID) PRF() PRFID {
	switch i {
	case IntegHMACMD596:
		return PRFHMACMD5
	case IntegHMACSHA196:
		return PRFHMACSHA1
	case IntegHMACSHA256128:
		return PRFHMACSHA256
	case IntegHMACSHA384192:
		return PRFHMACSHA384
	case IntegHMACSHA512256:
		return PRFHMACSHA512
	}
	return 0
}

// Supported reports whether the registry knows the transform ID for the type.
func Supported(t TransformType, id uint16) bool {
	switch t {
	case TransformENCR:
		e := EncrID(id)
		return e == EncrDES || e == Encr3DES || e == EncrAESCBC || e == EncrAESGCM8 ||
			e == EncrAESGCM12 || e == EncrAESGCM16 || e == EncrChaCha20Poly1305
	case TransformPRF:
		return PRFID(id).hash() != nil
	case TransformINTEG:
		return IntegID(id).KeyBytes() != 0
	case TransformDH:
		_, err := NewGroup(GroupID(id))
		return err == nil
	case TransformESN:
		return id == 0 // no ESN: the data planes here do not implement it
	}
	return false
}
