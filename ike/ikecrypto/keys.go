package ikecrypto

import (
	"crypto/subtle"
	"fmt"
)

// Key is secret key material that redacts itself when printed or logged.
type Key []byte

// String never reveals the key.
func (k Key) String() string { return fmt.Sprintf("Key(%d bytes)", len(k)) }

// GoString never reveals the key.
func (k Key) GoString() string { return k.String() }

// IKEKeys holds the seven keys of an IKE SA (RFC 7296 §2.14).
type IKEKeys struct {
	D, Ai, Ar, Ei, Er, Pi, Pr Key
}

// IKESuite names the transforms of an IKE SA with their key lengths.
type IKESuite struct {
	Encr    EncrID
	EncrKey int // key length in bits; 0 for fixed-size ciphers
	PRF     PRFID
	Integ   IntegID // IntegNone with an AEAD cipher
	DH      GroupID
}

// String is the suite as strongSwan writes it in its logs, roughly.
func (s IKESuite) String() string {
	str := s.Encr.String()
	if s.EncrKey != 0 {
		str += fmt.Sprintf("_%d", s.EncrKey)
	}
	if s.Integ != IntegNone {
		str += "/" + s.Integ.String()
	}
	return str + "/" + s.PRF.String() + "/" + s.DH.String()
}

// Validate checks that every transform is supported and coherent.
func (s IKESuite) Validate() error {
	if s.Encr.KeyBytes(s.EncrKey) == 0 {
		return fmt.Errorf("ikecrypto: unsupported cipher %v/%d", s.Encr, s.EncrKey)
	}
	if s.PRF.hash() == nil {
		return fmt.Errorf("ikecrypto: unsupported PRF %v", s.PRF)
	}
	if s.Encr.AEAD() != (s.Integ == IntegNone) {
		return fmt.Errorf("ikecrypto: cipher %v with integrity %v", s.Encr, s.Integ)
	}
	return nil
}

// SKEYSEED computes prf(Ni | Nr, g^ir) for a new IKE SA (RFC 7296 §2.14).
// HMAC PRFs take the whole nonce concatenation as key.
func SKEYSEED(p PRF, ni, nr, gir []byte) []byte {
	k := make([]byte, 0, len(ni)+len(nr))
	k = append(append(k, ni...), nr...)
	return p.Sum(k, gir)
}

// RekeySKEYSEED computes prf(SK_d (old), g^ir (new) | Ni | Nr) for an IKE
// SA created by rekeying (RFC 7296 §2.18); p is the old SA's PRF.
func RekeySKEYSEED(p PRF, oldSKd, gir, ni, nr []byte) []byte {
	return p.Sum(oldSKd, gir, ni, nr)
}

// DeriveIKEKeys expands SKEYSEED into the seven keys (RFC 7296 §2.14):
//
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
func DeriveIKEKeys(s IKESuite, skeyseed, ni, nr []byte, spii, spir uint64) (IKEKeys, error) {
	if err := s.Validate(); err != nil {
		return IKEKeys{}, err
	}
	p, _ := NewPRF(s.PRF)
	prfLen := p.Size()
	eLen := s.Encr.KeyBytes(s.EncrKey)
	aLen := s.Integ.KeyBytes()
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(seed, ni...), nr...)
	seed = appendUint64(appendUint64(seed, spii), spir)
	km, err := p.PlusExpand(skeyseed, seed, 3*prfLen+2*aLen+2*eLen)
	if err != nil {
		return IKEKeys{}, err
	}
	var k IKEKeys
	take := func(n int) Key {
		b := Key(km[:n:n])
		km = km[n:]
		return b
	}
	k.D = take(prfLen)
	k.Ai = take(aLen)
	k.Ar = take(aLen)
	k.Ei = take(eLen)
	k.Er = take(eLen)
	k.Pi = take(prfLen)
	k.Pr = take(prfLen)
	return k, nil
}

func appendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// ChildSuite names the transforms of an ESP CHILD_SA.
type ChildSuite struct {
	Encr    EncrID
	EncrKey int // bits; 0 for fixed-size ciphers
	Integ   IntegID
	DH      GroupID // PFS group, 0 for none
}

// String is a short human form of the suite.
func (s ChildSuite) String() string {
	str := s.Encr.String()
	if s.EncrKey != 0 {
		str += fmt.Sprintf("_%d", s.EncrKey)
	}
	if s.Integ != IntegNone {
		str += "/" + s.Integ.String()
	}
	if s.DH != 0 {
		str += "/" + s.DH.String()
	}
	return str
}

// ChildKeys is the keying material of one CHILD_SA pair. "I" keys protect
// traffic from the IKE SA's initiator of the CREATE_CHILD_SA (or IKE_AUTH)
// exchange to its responder; "R" keys the other direction (RFC 7296 §2.17).
// AEAD encryption keys include the trailing 4-byte salt.
type ChildKeys struct {
	EncrI, IntegI, EncrR, IntegR Key
}

// DeriveChildKeys computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) and
// splits it (RFC 7296 §2.17): the initiator-to-responder SA takes its
// encryption then integrity key first, then the other direction. gir is nil
// without PFS.
func DeriveChildKeys(p PRF, s ChildSuite, skd, gir, ni, nr []byte) (ChildKeys, error) {
	eLen := s.Encr.KeyBytes(s.EncrKey)
	if eLen == 0 {
		return ChildKeys{}, fmt.Errorf("ikecrypto: unsupported ESP cipher %v/%d", s.Encr, s.EncrKey)
	}
	aLen := s.Integ.KeyBytes()
	if s.Encr.AEAD() != (s.Integ == IntegNone) {
		return ChildKeys{}, fmt.Errorf("ikecrypto: ESP cipher %v with integrity %v", s.Encr, s.Integ)
	}
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	km, err := p.PlusExpand(skd, seed, 2*(eLen+aLen))
	if err != nil {
		return ChildKeys{}, err
	}
	take := func(n int) Key {
		if n == 0 {
			return nil
		}
		b := Key(km[:n:n])
		km = km[n:]
		return b
	}
	var k ChildKeys
	k.EncrI = take(eLen)
	k.IntegI = take(aLen)
	k.EncrR = take(eLen)
	k.IntegR = take(aLen)
	return k, nil
}

// keyPad is the fixed string of RFC 7296 §2.15.
const keyPad = "Key Pad for IKEv2"

// PSKAuth computes the AUTH value of shared-key authentication
// (RFC 7296 §2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//	<SignedOctets> = RealMessage | NonceData(peer) | prf(SK_p, RestOfIDPayload)
//
// realMessage is the sender's IKE_SA_INIT message as sent, peerNonce the
// other side's nonce data, skp the sender's SK_pi or SK_pr and idBody the ID
// payload body after its generic header (ID type, reserved, data).
func PSKAuth(p PRF, psk, realMessage, peerNonce, skp, idBody []byte) []byte {
	maced := p.Sum(skp, idBody)
	return p.Sum(p.Sum(psk, []byte(keyPad)), realMessage, peerNonce, maced)
}

// Equal compares two MACs in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
