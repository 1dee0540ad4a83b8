package v1

import (
	"fmt"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// Aggressive Mode with pre-shared keys (RFC 2409 §5, §5.4): three
// messages, identities in clear, so the responder can pick the PSK by the
// initiator's identity (an FQDN peer behind a dynamic address):
//
//	Initiator                         Responder
//	HDR, SA, KE, Ni, IDii       -->                                  (AM1)
//	                            <--   HDR, SA, KE, Nr, IDir, HASH_R
//	                                  [, NAT-D, NAT-D]               (AM2)
//	HDR*, HASH_I [, NAT-D, NAT-D] -->                                (AM3, port 4500 behind NAT)
//
// All proposals share one DH group, since KE goes out with the proposal.
// strongSwan encrypts AM3 (its message rules mark HASH as encrypted for the
// initiator); an unencrypted AM3 is accepted as well.

// sendAM1 sends the initiator's proposals, key share and identity.
func (sa *isakmpSA) sendAM1() error {
	p1 := sa.p1
	sap := phase1SA(sa.peer.IKE, sa.peer.IKELifetime)
	body, err := sap.AppendBody(nil)
	if err != nil {
		return err
	}
	p1.saiB = body
	if err := sa.setSuite(sa.peer.IKE[0]); err != nil { // group and hash for now; AM2 fixes the suite
		return err
	}
	if err := sa.newDH(); err != nil {
		return err
	}
	if p1.ni, err = sa.newNonce(); err != nil {
		return err
	}
	p1.gxi = p1.dh.Public()
	p1.idi = idPayload(sa.peer.localID())
	ps := []message.Payload{sap, &message.KEV1{Data: p1.gxi}, &message.DataV1{PayloadType: message.PayloadV1Nonce, Data: p1.ni}, p1.idi}
	ps = append(ps, sa.vendorIDs()...)
	pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeAggressive, 0), Payloads: ps}).Marshal()
	if err != nil {
		return err
	}
	p1.step = 2
	sa.transmit(p1.ex, pkt, true)
	return nil
}

// amInitiator processes AM2 and sends AM3.
func (sa *isakmpSA) amInitiator(p inPacket, msg *message.MessageV1, ps []message.Payload, _ []byte) error {
	p1 := sa.p1
	if p1.step != 2 || msg.Ciphertext != nil || msg.SPIr == 0 {
		return errMissing
	}
	ke, nr, hash, ids := findKE(ps), findData(ps, message.PayloadV1Nonce), findData(ps, message.PayloadV1HASH), findIDs(ps)
	if ke == nil || nr == nil || hash == nil || len(ids) != 1 {
		return errMissing
	}
	suite, err := sa.chosenPhase1(findSA(ps))
	if err != nil {
		return err
	}
	if suite.DH != p1.dh.Group().ID() {
		return fmt.Errorf("v1: responder chose group %v, our KE is %v", suite.DH, p1.dh.Group().ID())
	}
	prev, prevPRF := sa.suite, sa.prf
	if err := sa.setSuite(suite); err != nil {
		return err
	}
	sa.spiR = msg.SPIr
	p1.nr, p1.gxr, p1.idr = nr, ke, ids[0]
	_, iv, err := sa.phase1Keys(ke)
	if err == nil && !ikecrypto.Equal(hash, sa.hashR()) {
		err = errAuth
		sa.authFailedHint(errAuth)
	}
	if err != nil {
		// Unauthenticated: forget everything this message set.
		sa.suite, sa.prf, sa.spiR, sa.block = prev, prevPRF, 0, nil
		p1.nr, p1.gxr, p1.idr = nil, nil, nil
		return err
	}
	if err := sa.checkRemoteID(ids[0]); err != nil {
		sa.sendClearNotify(message.V1InvalidIDInformation)
		sa.failPhase1(fmt.Errorf("%w: %w", errAuth, err))
		return nil
	}
	sa.processVendorIDs(ps)
	sa.authenticated(p)
	sa.detectNAT(ps, p.local, p.remote)
	sa.float()
	out := []message.Payload{&message.DataV1{PayloadType: message.PayloadV1HASH, Data: sa.hashI()}}
	out = append(out, sa.natdPayloads()...)
	if sa.wantInitialContact() {
		out = append(out, sa.initialContactNotify())
	}
	pkt, niv, err := sa.encrypt(sa.header(message.ExchangeAggressive, 0), out, iv)
	if err != nil {
		return err
	}
	p1.ex.iv = niv
	p1.ex.received(p.raw)
	sa.transmit(p1.ex, pkt, false)
	sa.establish(false)
	return nil
}

// amResponder processes AM1 (sending AM2) and AM3.
func (sa *isakmpSA) amResponder(p inPacket, msg *message.MessageV1, ps []message.Payload, next []byte) error {
	p1 := sa.p1
	switch p1.step {
	case 0:
		in, ke, ni, ids := findSA(ps), findKE(ps), findData(ps, message.PayloadV1Nonce), findIDs(ps)
		if in == nil || ke == nil || ni == nil || len(ids) != 1 || msg.Ciphertext != nil {
			return errMissing
		}
		if err := sa.checkRemoteID(ids[0]); err != nil {
			sa.sendClearNotify(message.V1InvalidIDInformation)
			sa.failPhase1(fmt.Errorf("%w: %w", errAuth, err))
			return nil
		}
		t, suite, life, ok := selectPhase1(sa.peer.IKE, in)
		if ok {
			if g, err := ikecrypto.NewGroup(suite.DH); err != nil || g.PublicLen() != len(ke) {
				ok = false
			}
		}
		if !ok {
			sa.sendClearNotify(message.V1NoProposalChosen)
			sa.failPhase1(errProposal)
			return nil
		}
		if err := sa.setSuite(suite); err != nil {
			return err
		}
		p1.peerLife, p1.saiB, p1.idi = life, in.Raw, ids[0]
		sa.processVendorIDs(ps)
		if err := sa.newDH(); err != nil {
			return err
		}
		nr, err := sa.newNonce()
		if err != nil {
			return err
		}
		p1.ni, p1.nr, p1.gxi, p1.gxr = ni, nr, ke, p1.dh.Public()
		_, iv, err := sa.phase1Keys(ke)
		if err != nil {
			sa.failPhase1(err)
			return nil
		}
		p1.ex.iv = iv
		p1.idr = idPayload(sa.peer.localID())
		out := &message.SAV1{DOI: message.DOIIPsec, Situation: message.SituationIdentityOnly,
			Proposals: []message.ProposalV1{{Number: in.Proposals[0].Number, Protocol: message.ProtocolIKE, Transforms: []message.TransformV1{t}}}}
		reply := []message.Payload{out, &message.KEV1{Data: p1.gxr}, &message.DataV1{PayloadType: message.PayloadV1Nonce, Data: nr},
			p1.idr, &message.DataV1{PayloadType: message.PayloadV1HASH, Data: sa.hashR()}}
		reply = append(reply, sa.vendorIDs()...)
		reply = append(reply, sa.natdPayloads()...)
		pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeAggressive, 0), Payloads: reply}).Marshal()
		if err != nil {
			return err
		}
		p1.ex.received(p.raw)
		p1.step = 3
		// AM2 expects AM3: retransmit it until then.
		p1.ex.deadline = sa.created.Add(sa.m.halfOpenTimeout)
		sa.transmit(p1.ex, pkt, true)
	case 3:
		hash := findData(ps, message.PayloadV1HASH)
		if hash == nil {
			return errMissing
		}
		if !ikecrypto.Equal(hash, sa.hashI()) {
			sa.authFailedHint(errAuth)
			return errAuth
		}
		if next != nil {
			p1.ex.iv = next
		}
		p1.ex.received(p.raw)
		sa.detectNAT(ps, p.local, p.remote)
		sa.authenticated(p)
		sa.establish(hasInitialContact(ps))
	}
	return nil
}
