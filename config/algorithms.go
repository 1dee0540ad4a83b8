package config

import "github.com/ipsecgw/ipsecgw/ike/ikecrypto"

// Algorithm names of SPEC §1 and the extras of SPEC §4, and their IKEv2
// transform IDs (IANA "Internet Key Exchange Version 2 (IKEv2) Parameters",
// RFC 7296 §3.3.2). Enums are strings so an unknown name decodes and is then
// reported by validation with its field path, together with every other
// error.

// Encryption is a cipher name.
type Encryption string

// Encryption names. aes is AES-128-CBC.
const (
	EncAES              Encryption = "aes"
	EncAES192           Encryption = "aes192"
	EncAES256           Encryption = "aes256"
	EncDES              Encryption = "des"
	Enc3DES             Encryption = "3des"
	EncAES128GCM16      Encryption = "aes128gcm16"      // RFC 4106, 16-octet ICV
	EncAES256GCM16      Encryption = "aes256gcm16"      // RFC 4106, 16-octet ICV
	EncChaCha20Poly1305 Encryption = "chacha20poly1305" // RFC 7634
)

// Encryptions lists every accepted cipher, in documentation order.
func Encryptions() []Encryption { return append([]Encryption(nil), encryptions...) }

var encryptions = []Encryption{EncAES, EncAES192, EncAES256, EncDES, Enc3DES,
	EncAES128GCM16, EncAES256GCM16, EncChaCha20Poly1305}

// String returns the configuration spelling.
func (e Encryption) String() string { return string(e) }

// Valid reports whether e is an accepted cipher.
func (e Encryption) Valid() bool {
	_, ok := encTransforms[e]
	return ok
}

// AEAD reports whether e is an AEAD cipher (integrity built in, so the
// authentication key must be omitted).
func (e Encryption) AEAD() bool {
	return e == EncAES128GCM16 || e == EncAES256GCM16 || e == EncChaCha20Poly1305
}

// Authentication is a hash name: the integrity algorithm and, in IKE, also
// the PRF.
type Authentication string

// Authentication names.
const (
	AuthMD5    Authentication = "md5"
	AuthSHA1   Authentication = "sha1"
	AuthSHA256 Authentication = "sha256"
	AuthSHA384 Authentication = "sha384"
	AuthSHA512 Authentication = "sha512"
)

// Authentications lists every accepted hash.
func Authentications() []Authentication { return append([]Authentication(nil), authentications...) }

var authentications = []Authentication{AuthMD5, AuthSHA1, AuthSHA256, AuthSHA384, AuthSHA512}

// String returns the configuration spelling.
func (a Authentication) String() string { return string(a) }

// Valid reports whether a is an accepted hash.
func (a Authentication) Valid() bool {
	_, ok := integTransforms[a]
	return ok
}

// DHGroup is a Diffie-Hellman group name; "disabled" is only valid for the
// IPsec PFS group.
type DHGroup string

// DH group names.
const (
	GroupDisabled DHGroup = "disabled" // IPsec only: no PFS
	Group1        DHGroup = "group1"   // MODP-768 (RFC 2409)
	Group2        DHGroup = "group2"   // MODP-1024 (RFC 2409)
	Group5        DHGroup = "group5"   // MODP-1536 (RFC 3526)
	Group14       DHGroup = "group14"  // MODP-2048 (RFC 3526)
	Group19       DHGroup = "group19"  // ECP-256 (RFC 5903)
	Group20       DHGroup = "group20"  // ECP-384 (RFC 5903)
	Group21       DHGroup = "group21"  // ECP-521 (RFC 5903)
	Group31       DHGroup = "group31"  // Curve25519 (RFC 8031)
)

// DHGroups lists every accepted IKE DH group (IPsec also accepts
// [GroupDisabled]).
func DHGroups() []DHGroup { return append([]DHGroup(nil), dhGroups...) }

var dhGroups = []DHGroup{Group1, Group2, Group5, Group14, Group19, Group20, Group21, Group31}

// String returns the configuration spelling.
func (g DHGroup) String() string { return string(g) }

// Valid reports whether g is an accepted DH group; disabled is not (it is
// checked separately where PFS may be off).
func (g DHGroup) Valid() bool {
	_, ok := dhTransforms[g]
	return ok
}

// TransformType is the IKEv2 transform type (RFC 7296 §3.3.2); the
// registry in ike/ikecrypto is the one source of transform numbers.
type TransformType = ikecrypto.TransformType

// IKEv2 transform types.
const (
	TransformENCR  = ikecrypto.TransformENCR
	TransformPRF   = ikecrypto.TransformPRF
	TransformINTEG = ikecrypto.TransformINTEG
	TransformDH    = ikecrypto.TransformDH
)

// Transform is one IKEv2 transform: type, IANA ID and, for variable-key
// ciphers, the key length in bits (the Key Length attribute, RFC 7296
// §3.3.5; 0 means the attribute is not sent).
type Transform struct {
	Type      TransformType
	ID        uint16
	KeyLength int
}

func encr(id ikecrypto.EncrID, bits int) Transform {
	return Transform{TransformENCR, uint16(id), bits}
}
func integ(id ikecrypto.IntegID) Transform { return Transform{TransformINTEG, uint16(id), 0} }
func prf(id ikecrypto.PRFID) Transform     { return Transform{TransformPRF, uint16(id), 0} }
func dh(id ikecrypto.GroupID) Transform    { return Transform{TransformDH, uint16(id), 0} }

var encTransforms = map[Encryption]Transform{
	EncAES:              encr(ikecrypto.EncrAESCBC, 128),
	EncAES192:           encr(ikecrypto.EncrAESCBC, 192),
	EncAES256:           encr(ikecrypto.EncrAESCBC, 256),
	EncDES:              encr(ikecrypto.EncrDES, 0),
	Enc3DES:             encr(ikecrypto.Encr3DES, 0),
	EncAES128GCM16:      encr(ikecrypto.EncrAESGCM16, 128),
	EncAES256GCM16:      encr(ikecrypto.EncrAESGCM16, 256),
	EncChaCha20Poly1305: encr(ikecrypto.EncrChaCha20Poly1305, 0),
}

var integTransforms = map[Authentication]Transform{
	AuthMD5:    integ(ikecrypto.IntegHMACMD596),
	AuthSHA1:   integ(ikecrypto.IntegHMACSHA196),
	AuthSHA256: integ(ikecrypto.IntegHMACSHA256128),
	AuthSHA384: integ(ikecrypto.IntegHMACSHA384192),
	AuthSHA512: integ(ikecrypto.IntegHMACSHA512256),
}

var prfTransforms = map[Authentication]Transform{
	AuthMD5:    prf(ikecrypto.PRFHMACMD5),
	AuthSHA1:   prf(ikecrypto.PRFHMACSHA1),
	AuthSHA256: prf(ikecrypto.PRFHMACSHA256),
	AuthSHA384: prf(ikecrypto.PRFHMACSHA384),
	AuthSHA512: prf(ikecrypto.PRFHMACSHA512),
}

var dhTransforms = map[DHGroup]Transform{
	Group1:  dh(1),
	Group2:  dh(2),
	Group5:  dh(5),
	Group14: dh(14),
	Group19: dh(19),
	Group20: dh(20),
	Group21: dh(21),
	Group31: dh(31),
}

// strongSwan proposal keywords, for swanctl.conf in interop tests and docs.
var (
	encSwan = map[Encryption]string{
		EncAES: "aes128", EncAES192: "aes192", EncAES256: "aes256",
		EncDES: "des", Enc3DES: "3des",
		EncAES128GCM16: "aes128gcm16", EncAES256GCM16: "aes256gcm16",
		EncChaCha20Poly1305: "chacha20poly1305",
	}
	dhSwan = map[DHGroup]string{
		Group1: "modp768", Group2: "modp1024", Group5: "modp1536", Group14: "modp2048",
		Group19: "ecp256", Group20: "ecp384", Group21: "ecp521", Group31: "curve25519",
	}
)

// AEADPRF is the IKE PRF used with an AEAD cipher, which has no
// authentication key to derive it from: PRF_HMAC_SHA2_256. Peers configure
// it explicitly, e.g. strongSwan "aes256gcm16-prfsha256-modp2048".
const AEADPRF = AuthSHA256

// Transform returns the ENCR transform of e; ok is false for unknown names.
func (e Encryption) Transform() (t Transform, ok bool) {
	t, ok = encTransforms[e]
	return t, ok
}

// Integrity returns the INTEG transform of a; ok is false for unknown names.
func (a Authentication) Integrity() (t Transform, ok bool) {
	t, ok = integTransforms[a]
	return t, ok
}

// PRF returns the PRF transform of a; ok is false for unknown names.
func (a Authentication) PRF() (t Transform, ok bool) {
	t, ok = prfTransforms[a]
	return t, ok
}

// Transform returns the DH transform of g; ok is false for unknown names and
// for disabled (no PFS: no DH transform is proposed).
func (g DHGroup) Transform() (t Transform, ok bool) {
	t, ok = dhTransforms[g]
	return t, ok
}

// Transforms returns the IKE SA proposal of k with defaults applied
// (ENCR, PRF, INTEG unless AEAD, DH), for IKE_SA_INIT or main mode.
// ok is false if a name is unknown.
func (k *IKEConfig) Transforms() (ts []Transform, ok bool) {
	enc := orEnc(k.Encryption)
	auth := k.Authentication
	if auth == "" && !enc.AEAD() {
		auth = AuthSHA1
	}
	e, ok1 := enc.Transform()
	prfName := auth
	if enc.AEAD() {
		prfName = AEADPRF
	}
	p, ok2 := prfName.PRF()
	d, ok3 := orDH(k.DHGroup).Transform()
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	ts = []Transform{e, p}
	if !enc.AEAD() {
		i, ok := auth.Integrity()
		if !ok {
			return nil, false
		}
		ts = append(ts, i)
	}
	return append(ts, d), true
}

// Transforms returns the CHILD SA (ESP) proposal of p with defaults applied:
// ENCR, INTEG unless AEAD, and DH when PFS is on. ok is false if a name is
// unknown.
func (p *IPsecConfig) Transforms() (ts []Transform, ok bool) {
	enc := orEnc(p.Encryption)
	e, ok := enc.Transform()
	if !ok {
		return nil, false
	}
	ts = []Transform{e}
	if !enc.AEAD() {
		auth := p.Authentication
		if auth == "" {
			auth = AuthSHA1
		}
		i, ok := auth.Integrity()
		if !ok {
			return nil, false
		}
		ts = append(ts, i)
	}
	if g := orDH(p.DHGroup); g != GroupDisabled {
		d, ok := g.Transform()
		if !ok {
			return nil, false
		}
		ts = append(ts, d)
	}
	return ts, true
}

// StrongSwanProposal returns the swanctl.conf proposal matching k, e.g.
// "aes128-sha1-modp1024" or "aes256gcm16-prfsha256-ecp256"; empty if a
// name is unknown.
func (k *IKEConfig) StrongSwanProposal() string {
	enc := orEnc(k.Encryption)
	e, d := encSwan[enc], dhSwan[orDH(k.DHGroup)]
	if e == "" || d == "" {
		return ""
	}
	if enc.AEAD() {
		return e + "-prf" + string(AEADPRF) + "-" + d
	}
	auth := k.Authentication
	if auth == "" {
		auth = AuthSHA1
	}
	if !auth.Valid() {
		return ""
	}
	return e + "-" + string(auth) + "-" + d
}

// StrongSwanProposal returns the swanctl.conf esp_proposals entry matching
// p, e.g. "aes128-sha1-modp1024" or "aes128gcm16" (no PFS); empty if a
// name is unknown.
func (p *IPsecConfig) StrongSwanProposal() string {
	enc := orEnc(p.Encryption)
	s := encSwan[enc]
	if s == "" {
		return ""
	}
	if !enc.AEAD() {
		auth := p.Authentication
		if auth == "" {
			auth = AuthSHA1
		}
		if !auth.Valid() {
			return ""
		}
		s += "-" + string(auth)
	}
	if g := orDH(p.DHGroup); g != GroupDisabled {
		d := dhSwan[g]
		if d == "" {
			return ""
		}
		s += "-" + d
	}
	return s
}

func orEnc(e Encryption) Encryption {
	if e == "" {
		return EncAES
	}
	return e
}

func orDH(g DHGroup) DHGroup {
	if g == "" {
		return Group2
	}
	return g
}
