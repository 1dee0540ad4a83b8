package v2

import (
	"encoding/binary"
	"errors"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// errNoProposal is the result of a failed proposal selection.
var errNoProposal = errors.New("v2: no proposal chosen")

func encrTransform(e ikecrypto.EncrID, bits int) message.Transform {
	t := message.Transform{Type: message.TransformENCR, ID: uint16(e)}
	if e.NeedsKeyLength() {
		t.KeyLength = bits
	}
	return t
}

// ikeProposals builds one proposal per suite (RFC 7296 §3.3). spi is nil in
// IKE_SA_INIT and the new 8-byte SPI when rekeying the IKE SA.
func ikeProposals(suites []ikecrypto.IKESuite, spi []byte) *message.SA {
	sa := &message.SA{}
	for i, s := range suites {
		p := message.Proposal{Number: uint8(i + 1), Protocol: message.ProtocolIKE, SPI: spi}
		p.Transforms = append(p.Transforms, encrTransform(s.Encr, s.EncrKey),
			message.Transform{Type: message.TransformPRF, ID: uint16(s.PRF)})
		if s.Integ != ikecrypto.IntegNone {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(s.Integ)})
		}
		p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(s.DH)})
		sa.Proposals = append(sa.Proposals, p)
	}
	return sa
}

// espProposals builds one ESP proposal per suite. withDH adds the PFS group
// (CREATE_CHILD_SA); IKE_AUTH proposals carry none (RFC 7296 §1.2).
func espProposals(suites []ikecrypto.ChildSuite, spi uint32, withDH bool) *message.SA {
	sa := &message.SA{}
	spiB := binary.BigEndian.AppendUint32(nil, spi)
	for i, s := range suites {
		p := message.Proposal{Number: uint8(i + 1), Protocol: message.ProtocolESP, SPI: spiB}
		p.Transforms = append(p.Transforms, encrTransform(s.Encr, s.EncrKey))
		if s.Integ != ikecrypto.IntegNone {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(s.Integ)})
		}
		if withDH && s.DH != 0 {
			p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(s.DH)})
		}
		p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformESN, ID: 0})
		sa.Proposals = append(sa.Proposals, p)
	}
	return sa
}

// offer is a proposal decoded into sets of transform IDs.
type offer struct {
	encr  []message.Transform
	prf   []uint16
	integ []uint16
	dh    []uint16
	esn   []uint16
}

func decodeOffer(p *message.Proposal) (offer, bool) {
	var o offer
	for _, t := range p.Transforms {
		if len(t.Attributes) > 0 {
			// RFC 7296 §3.3.6: an unknown attribute makes the transform
			// unacceptable.
			continue
		}
		switch t.Type {
		case message.TransformENCR:
			o.encr = append(o.encr, t)
		case message.TransformPRF:
			o.prf = append(o.prf, t.ID)
		case message.TransformINTEG:
			o.integ = append(o.integ, t.ID)
		case message.TransformDH:
			o.dh = append(o.dh, t.ID)
		case message.TransformESN:
			o.esn = append(o.esn, t.ID)
		default:
			// RFC 7296 §3.3.6: a proposal with an unknown transform type
			// is rejected.
			return o, false
		}
	}
	return o, true
}

func has(ids []uint16, id uint16) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (o *offer) hasEncr(e ikecrypto.EncrID, bits int) bool {
	for _, t := range o.encr {
		if t.ID == uint16(e) && (!e.NeedsKeyLength() || t.KeyLength == bits) {
			return true
		}
	}
	return false
}

// hasInteg accepts "none" as an absent INTEG transform or INTEG NONE.
func (o *offer) hasInteg(i ikecrypto.IntegID) bool {
	if i == ikecrypto.IntegNone {
		return len(o.integ) == 0 || has(o.integ, 0)
	}
	return has(o.integ, uint16(i))
}

func (o *offer) hasDH(g ikecrypto.GroupID) bool {
	if g == 0 {
		return len(o.dh) == 0 || has(o.dh, 0)
	}
	return has(o.dh, uint16(g))
}

// selectIKE picks our most preferred suite that one of the peer's IKE
// proposals contains (RFC 7296 §2.7). It returns the suite and the number
// of the proposal it came from.
func selectIKE(ours []ikecrypto.IKESuite, sa *message.SA, spiLen int) (ikecrypto.IKESuite, *message.Proposal, error) {
	for _, s := range ours {
		for i := range sa.Proposals {
			p := &sa.Proposals[i]
			if p.Protocol != message.ProtocolIKE || len(p.SPI) != spiLen {
				continue
			}
			o, ok := decodeOffer(p)
			if ok && o.hasEncr(s.Encr, s.EncrKey) && has(o.prf, uint16(s.PRF)) && o.hasInteg(s.Integ) && o.hasDH(s.DH) {
				return s, p, nil
			}
		}
	}
	return ikecrypto.IKESuite{}, nil, errNoProposal
}

// selectESP picks our most preferred ESP suite contained in a peer
// proposal. With ignoreDH (IKE_AUTH) the DH transforms are ignored and
// the result has no group.
func selectESP(ours []ikecrypto.ChildSuite, sa *message.SA, ignoreDH bool) (ikecrypto.ChildSuite, *message.Proposal, error) {
	for _, s := range ours {
		if ignoreDH {
			s.DH = 0
		}
		for i := range sa.Proposals {
			p := &sa.Proposals[i]
			if p.Protocol != message.ProtocolESP || len(p.SPI) != 4 {
				continue
			}
			o, ok := decodeOffer(p)
			if !ok || !o.hasEncr(s.Encr, s.EncrKey) || !o.hasInteg(s.Integ) {
				continue
			}
			if !ignoreDH && !o.hasDH(s.DH) {
				continue
			}
			if len(o.esn) > 0 && !has(o.esn, 0) {
				continue // we do not implement extended sequence numbers
			}
			return s, p, nil
		}
	}
	return ikecrypto.ChildSuite{}, nil, errNoProposal
}

// chosenIKE answers with the single chosen proposal, keeping its number.
func chosenIKE(s ikecrypto.IKESuite, num uint8, spi []byte) *message.SA {
	sa := ikeProposals([]ikecrypto.IKESuite{s}, spi)
	sa.Proposals[0].Number = num
	return sa
}

// chosenESP answers with the single chosen ESP proposal.
func chosenESP(s ikecrypto.ChildSuite, num uint8, spi uint32) *message.SA {
	sa := espProposals([]ikecrypto.ChildSuite{s}, spi, s.DH != 0)
	sa.Proposals[0].Number = num
	return sa
}

// acceptedIKE checks the responder's single proposal against what we
// offered and returns the suite.
func acceptedIKE(ours []ikecrypto.IKESuite, sa *message.SA, spiLen int) (ikecrypto.IKESuite, *message.Proposal, error) {
	if sa == nil || len(sa.Proposals) != 1 {
		return ikecrypto.IKESuite{}, nil, errors.New("v2: response must carry exactly one proposal")
	}
	return selectIKE(ours, sa, spiLen)
}

// acceptedESP checks the responder's single ESP proposal.
func acceptedESP(ours []ikecrypto.ChildSuite, sa *message.SA, ignoreDH bool) (ikecrypto.ChildSuite, uint32, error) {
	if sa == nil || len(sa.Proposals) != 1 {
		return ikecrypto.ChildSuite{}, 0, errors.New("v2: response must carry exactly one proposal")
	}
	s, p, err := selectESP(ours, sa, ignoreDH)
	if err != nil {
		return s, 0, err
	}
	return s, binary.BigEndian.Uint32(p.SPI), nil
}
