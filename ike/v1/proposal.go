package v1

import (
	"encoding/binary"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// Phase 1 encryption and hash algorithm values (RFC 2409 Appendix A; AES
// from RFC 3602 §5) and IPsec DOI values (RFC 2407 §4.4.4, §4.5; RFC 4868
// §2.4 for HMAC-SHA2; RFC 4106 §8.1 for AES-GCM), mapped to the IKEv2
// numbering that ikecrypto and the data plane use.
const (
	p1EncrDES    = 1
	p1Encr3DES   = 5
	p1EncrAESCBC = 7

	p1HashMD5    = 1
	p1HashSHA1   = 2
	p1HashSHA256 = 4
	p1HashSHA384 = 5
	p1HashSHA512 = 6

	espAuthMD5    = 1
	espAuthSHA1   = 2
	espAuthSHA256 = 5
	espAuthSHA384 = 6
	espAuthSHA512 = 7
)

func v1Encr(e ikecrypto.EncrID) (uint16, bool) {
	switch e {
	case ikecrypto.EncrDES:
		return p1EncrDES, true
	case ikecrypto.Encr3DES:
		return p1Encr3DES, true
	case ikecrypto.EncrAESCBC:
		return p1EncrAESCBC, true
	}
	return 0, false
}

func fromV1Encr(v uint64) (ikecrypto.EncrID, bool) {
	switch v {
	case p1EncrDES:
		return ikecrypto.EncrDES, true
	case p1Encr3DES:
		return ikecrypto.Encr3DES, true
	case p1EncrAESCBC:
		return ikecrypto.EncrAESCBC, true
	}
	return 0, false
}

// v1Hash maps the integrity transform standing for a hash to the phase 1
// hash algorithm.
func v1Hash(i ikecrypto.IntegID) (uint16, bool) {
	switch i {
	case ikecrypto.IntegHMACMD596:
		return p1HashMD5, true
	case ikecrypto.IntegHMACSHA196:
		return p1HashSHA1, true
	case ikecrypto.IntegHMACSHA256128:
		return p1HashSHA256, true
	case ikecrypto.IntegHMACSHA384192:
		return p1HashSHA384, true
	case ikecrypto.IntegHMACSHA512256:
		return p1HashSHA512, true
	}
	return 0, false
}

func fromV1Hash(v uint64) (ikecrypto.IntegID, bool) {
	for _, i := range []ikecrypto.IntegID{ikecrypto.IntegHMACMD596, ikecrypto.IntegHMACSHA196,
		ikecrypto.IntegHMACSHA256128, ikecrypto.IntegHMACSHA384192, ikecrypto.IntegHMACSHA512256} {
		if h, _ := v1Hash(i); uint64(h) == v {
			return i, true
		}
	}
	return 0, false
}

// espTransformID: the IPsec DOI ESP transform IDs of the ciphers here equal
// IKEv2's ENCR numbers (ESP_DES 2, ESP_3DES 3, ESP_AES 12, ESP_AES_GCM_16
// 20...).
func espTransformID(e ikecrypto.EncrID) (uint8, bool) {
	switch e {
	case ikecrypto.EncrDES, ikecrypto.Encr3DES, ikecrypto.EncrAESCBC,
		ikecrypto.EncrAESGCM8, ikecrypto.EncrAESGCM12, ikecrypto.EncrAESGCM16:
		return uint8(e), true
	}
	return 0, false
}

func espAuthAlg(i ikecrypto.IntegID) (uint16, bool) {
	switch i {
	case ikecrypto.IntegHMACMD596:
		return espAuthMD5, true
	case ikecrypto.IntegHMACSHA196:
		return espAuthSHA1, true
	case ikecrypto.IntegHMACSHA256128:
		return espAuthSHA256, true
	case ikecrypto.IntegHMACSHA384192:
		return espAuthSHA384, true
	case ikecrypto.IntegHMACSHA512256:
		return espAuthSHA512, true
	}
	return 0, false
}

func fromESPAuth(v uint64) (ikecrypto.IntegID, bool) {
	for _, i := range []ikecrypto.IntegID{ikecrypto.IntegHMACMD596, ikecrypto.IntegHMACSHA196,
		ikecrypto.IntegHMACSHA256128, ikecrypto.IntegHMACSHA384192, ikecrypto.IntegHMACSHA512256} {
		if a, _ := espAuthAlg(i); uint64(a) == v {
			return i, true
		}
	}
	return 0, false
}

// phase1SA builds the phase 1 SA payload: one ISAKMP proposal whose
// transforms are the alternatives, in preference order (RFC 2409 §5: the
// initiator offers several transforms in one proposal).
func phase1SA(suites []ikecrypto.IKESuite, life time.Duration) *message.SAV1 {
	p := message.ProposalV1{Number: 1, Protocol: message.ProtocolIKE}
	for i, s := range suites {
		e, _ := v1Encr(s.Encr)
		h, _ := v1Hash(s.Integ)
		attrs := []message.Attribute{message.AttrUint(message.AttrV1EncryptionAlgorithm, uint64(e))}
		if s.EncrKey != 0 {
			attrs = append(attrs, message.AttrUint(message.AttrV1KeyLength, uint64(s.EncrKey)))
		}
		attrs = append(attrs,
			message.AttrUint(message.AttrV1HashAlgorithm, uint64(h)),
			message.AttrUint(message.AttrV1AuthMethod, uint64(message.IKEv1AuthPreSharedKey)),
			message.AttrUint(message.AttrV1GroupDescription, uint64(s.DH)))
		if life > 0 {
			attrs = append(attrs,
				message.AttrUint(message.AttrV1LifeType, uint64(message.LifeTypeSeconds)),
				lifeAttr(message.AttrV1LifeDuration, life))
		}
		p.Transforms = append(p.Transforms, message.TransformV1{Number: uint8(i + 1), ID: message.TransformIDKeyIKE, Attributes: attrs})
	}
	return &message.SAV1{DOI: message.DOIIPsec, Situation: message.SituationIdentityOnly, Proposals: []message.ProposalV1{p}}
}

// lifeAttr encodes a life duration as a 4-byte variable attribute, as
// strongSwan does (RFC 2409 Appendix A allows either form).
func lifeAttr(t message.AttributeType, d time.Duration) message.Attribute {
	return message.Attribute{Type: t, Value: binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))}
}

// parsePhase1Transform reads one phase 1 transform; ok is false for
// anything this implementation cannot do (another auth method, an unknown
// algorithm, a kilobyte lifetime alone).
func parsePhase1Transform(t *message.TransformV1) (s ikecrypto.IKESuite, life time.Duration, ok bool) {
	if t.ID != message.TransformIDKeyIKE {
		return s, 0, false
	}
	var lifeType uint64
	var haveEncr, haveHash, haveAuth bool
	for _, a := range t.Attributes {
		v, vok := a.Uint()
		if !vok {
			if a.Type == message.AttrV1LifeDuration {
				continue // absurdly long: no limit from the peer
			}
			return s, 0, false
		}
		switch a.Type {
		case message.AttrV1EncryptionAlgorithm:
			s.Encr, haveEncr = fromV1Encr(v)
		case message.AttrV1KeyLength:
			s.EncrKey = int(v)
		case message.AttrV1HashAlgorithm:
			s.Integ, haveHash = fromV1Hash(v)
			s.PRF = s.Integ.PRF()
		case message.AttrV1AuthMethod:
			haveAuth = v == uint64(message.IKEv1AuthPreSharedKey)
		case message.AttrV1GroupDescription:
			s.DH = ikecrypto.GroupID(v)
		case message.AttrV1LifeType:
			lifeType = v
		case message.AttrV1LifeDuration:
			if lifeType == uint64(message.LifeTypeSeconds) {
				life = time.Duration(min(v, 1<<31)) * time.Second
			}
		case message.AttrV1PRF, message.AttrV1GroupType:
			return s, 0, false // RFC 2409: no PRF attribute means HMAC; other group types unsupported
		}
	}
	if !haveEncr || !haveHash || !haveAuth || s.DH == 0 {
		return s, 0, false
	}
	if s.Encr == ikecrypto.EncrAESCBC && s.EncrKey == 0 {
		s.EncrKey = 128 // RFC 3602 §5: the key length attribute is mandatory; strongSwan defaults to 128
	}
	if s.Validate() != nil {
		return s, 0, false
	}
	if _, err := ikecrypto.NewGroup(s.DH); err != nil {
		return s, 0, false
	}
	return s, life, true
}

// selectPhase1 picks, in our order of preference, the first of our suites
// that the peer's SA offers; it returns the peer's transform (echoed back
// as is, RFC 2408 §4.2) with the suite.
func selectPhase1(ours []ikecrypto.IKESuite, sa *message.SAV1) (message.TransformV1, ikecrypto.IKESuite, time.Duration, bool) {
	for _, want := range ours {
		for _, p := range sa.Proposals {
			if p.Protocol != message.ProtocolIKE {
				continue
			}
			for i := range p.Transforms {
				s, life, ok := parsePhase1Transform(&p.Transforms[i])
				if ok && s == want {
					return p.Transforms[i], s, life, true
				}
			}
		}
	}
	return message.TransformV1{}, ikecrypto.IKESuite{}, 0, false
}

// espSA builds the Quick Mode SA payload: one ESP proposal per suite, each
// carrying our inbound SPI (RFC 2408 §4.2, RFC 2407 §4.5).
func espSA(suites []ikecrypto.ChildSuite, spi uint32, life time.Duration, encap uint16) *message.SAV1 {
	sa := &message.SAV1{DOI: message.DOIIPsec, Situation: message.SituationIdentityOnly}
	for i, s := range suites {
		id, _ := espTransformID(s.Encr)
		var attrs []message.Attribute
		if life > 0 {
			attrs = append(attrs,
				message.AttrUint(message.AttrIPsecSALifeType, uint64(message.LifeTypeSeconds)),
				lifeAttr(message.AttrIPsecSALifeDuration, life))
		}
		if s.DH != 0 {
			attrs = append(attrs, message.AttrUint(message.AttrIPsecGroupDescription, uint64(s.DH)))
		}
		attrs = append(attrs, message.AttrUint(message.AttrIPsecEncapsulation, uint64(encap)))
		if a, ok := espAuthAlg(s.Integ); ok {
			attrs = append(attrs, message.AttrUint(message.AttrIPsecAuthAlgorithm, uint64(a)))
		}
		if s.EncrKey != 0 {
			attrs = append(attrs, message.AttrUint(message.AttrIPsecKeyLength, uint64(s.EncrKey)))
		}
		sa.Proposals = append(sa.Proposals, message.ProposalV1{
			Number: uint8(i + 1), Protocol: message.ProtocolESP, SPI: binary.BigEndian.AppendUint32(nil, spi),
			Transforms: []message.TransformV1{{Number: 1, ID: id, Attributes: attrs}},
		})
	}
	return sa
}

// espChoice is a parsed ESP transform.
type espChoice struct {
	suite ikecrypto.ChildSuite
	encap uint16
	life  time.Duration
	spi   uint32 // the proposal's SPI
}

func parseESPTransform(p *message.ProposalV1, t *message.TransformV1) (c espChoice, ok bool) {
	if p.Protocol != message.ProtocolESP || len(p.SPI) != 4 {
		return c, false
	}
	c.spi = binary.BigEndian.Uint32(p.SPI)
	c.suite.Encr = ikecrypto.EncrID(t.ID)
	if _, ok := espTransformID(c.suite.Encr); !ok {
		return c, false
	}
	var lifeType uint64
	haveAuth := false
	for _, a := range t.Attributes {
		v, vok := a.Uint()
		if !vok {
			if a.Type == message.AttrIPsecSALifeDuration {
				continue
			}
			return c, false
		}
		switch a.Type {
		case message.AttrIPsecSALifeType:
			lifeType = v
		case message.AttrIPsecSALifeDuration:
			if lifeType == uint64(message.LifeTypeSeconds) {
				c.life = time.Duration(min(v, 1<<31)) * time.Second
			}
		case message.AttrIPsecGroupDescription:
			c.suite.DH = ikecrypto.GroupID(v)
		case message.AttrIPsecEncapsulation:
			c.encap = uint16(v)
		case message.AttrIPsecAuthAlgorithm:
			c.suite.Integ, haveAuth = fromESPAuth(v)
			if !haveAuth {
				return c, false
			}
		case message.AttrIPsecKeyLength:
			c.suite.EncrKey = int(v)
		case message.AttrIPsecKeyRounds:
			return c, false
		}
	}
	if c.suite.Encr == ikecrypto.EncrAESCBC && c.suite.EncrKey == 0 {
		c.suite.EncrKey = 128
	}
	if c.suite.Encr.KeyBytes(c.suite.EncrKey) == 0 || c.suite.Encr.AEAD() == haveAuth {
		return c, false
	}
	return c, true
}

// selectESP picks, in our preference order, the first of our suites that
// one of the peer's ESP proposals offers with an acceptable encapsulation
// mode. Combined proposals (ESP with AH) are not accepted.
func selectESP(ours []ikecrypto.ChildSuite, sa *message.SAV1, encapOK func(uint16) bool) (message.ProposalV1, espChoice, bool) {
	count := map[uint8]int{}
	for _, p := range sa.Proposals {
		count[p.Number]++
	}
	for _, want := range ours {
		for _, p := range sa.Proposals {
			if count[p.Number] != 1 {
				continue
			}
			for i := range p.Transforms {
				c, ok := parseESPTransform(&p, &p.Transforms[i])
				if ok && c.suite == want && encapOK(c.encap) {
					out := p
					out.Transforms = []message.TransformV1{p.Transforms[i]}
					return out, c, true
				}
			}
		}
	}
	return message.ProposalV1{}, espChoice{}, false
}
