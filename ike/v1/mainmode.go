package v1

import (
	"fmt"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// Main Mode with pre-shared keys (RFC 2409 §5, §5.4), identity protection:
//
//	Initiator                         Responder
//	HDR, SA                     -->                          (MM1)
//	                            <--   HDR, SA                (MM2)
//	HDR, KE, Ni [, NAT-D, NAT-D] -->                         (MM3)
//	                            <--   HDR, KE, Nr [, NAT-D, NAT-D] (MM4)
//	HDR*, IDii, HASH_I [, N(INITIAL-CONTACT)] -->            (MM5, port 4500 behind NAT)
//	                            <--   HDR*, IDir, HASH_R     (MM6)
//
// The PSK must be chosen before the identities are seen (they are
// encrypted with a key derived from it), so the responder finds the peer
// by address (Config.Lookup with a nil identity).

// sendMM1 sends the initiator's proposals.
func (sa *isakmpSA) sendMM1() error {
	sap := phase1SA(sa.peer.IKE, sa.peer.IKELifetime)
	body, err := sap.AppendBody(nil)
	if err != nil {
		return err
	}
	sa.p1.saiB = body
	sa.p1.step = 2
	ps := append([]message.Payload{sap}, sa.vendorIDs()...)
	pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeIdentityProtection, 0), Payloads: ps}).Marshal()
	if err != nil {
		return err
	}
	sa.transmit(sa.p1.ex, pkt, true)
	return nil
}

// chosenPhase1 checks the responder's choice: one transform that we
// offered (RFC 2408 §4.2).
func (sa *isakmpSA) chosenPhase1(s *message.SAV1) (ikecrypto.IKESuite, error) {
	if s == nil || len(s.Proposals) != 1 || len(s.Proposals[0].Transforms) != 1 {
		return ikecrypto.IKESuite{}, fmt.Errorf("v1: responder SA must hold one transform")
	}
	got, life, ok := parsePhase1Transform(&s.Proposals[0].Transforms[0])
	if ok {
		for _, want := range sa.peer.IKE {
			if got == want {
				sa.p1.peerLife = life
				return got, nil
			}
		}
	}
	return ikecrypto.IKESuite{}, fmt.Errorf("v1: responder chose a transform we did not offer")
}

// mmInitiator processes MM2, MM4 and MM6.
func (sa *isakmpSA) mmInitiator(p inPacket, msg *message.MessageV1, ps []message.Payload, next []byte) error {
	p1 := sa.p1
	switch p1.step {
	case 2:
		if msg.Ciphertext != nil || msg.SPIr == 0 {
			return errMissing
		}
		suite, err := sa.chosenPhase1(findSA(ps))
		if err != nil {
			return err
		}
		if err := sa.setSuite(suite); err != nil {
			return err
		}
		sa.spiR = msg.SPIr
		sa.processVendorIDs(ps)
		if err := sa.newDH(); err != nil {
			return err
		}
		if p1.ni, err = sa.newNonce(); err != nil {
			return err
		}
		p1.gxi = p1.dh.Public()
		out := []message.Payload{&message.KEV1{Data: p1.gxi}, &message.DataV1{PayloadType: message.PayloadV1Nonce, Data: p1.ni}}
		out = append(out, sa.natdPayloads()...)
		pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeIdentityProtection, 0), Payloads: out}).Marshal()
		if err != nil {
			return err
		}
		p1.ex.received(p.raw)
		p1.step = 4
		sa.transmit(p1.ex, pkt, true)
	case 4:
		ke, nr := findKE(ps), findData(ps, message.PayloadV1Nonce)
		if msg.Ciphertext != nil || ke == nil || nr == nil {
			return errMissing
		}
		p1.nr, p1.gxr = nr, ke
		_, iv, err := sa.phase1Keys(ke)
		if err != nil {
			p1.nr, p1.gxr = nil, nil
			return err
		}
		sa.detectNAT(ps, p.local, p.remote)
		sa.float()
		p1.idi = idPayload(sa.peer.localID())
		out := []message.Payload{p1.idi, &message.DataV1{PayloadType: message.PayloadV1HASH, Data: sa.hashI()}}
		if sa.wantInitialContact() {
			out = append(out, sa.initialContactNotify())
		}
		pkt, niv, err := sa.encrypt(sa.header(message.ExchangeIdentityProtection, 0), out, iv)
		if err != nil {
			return err
		}
		p1.ex.iv = niv
		p1.ex.received(p.raw)
		p1.step = 6
		sa.transmit(p1.ex, pkt, true)
	case 6:
		if msg.Ciphertext == nil {
			return errMissing
		}
		if failed, err := sa.verifyPeer(ps, &p1.idr, sa.hashR); failed || err != nil {
			return err
		}
		p1.ex.iv = next
		p1.ex.received(p.raw)
		sa.authenticated(p)
		sa.establish(hasInitialContact(ps))
	}
	return nil
}

// mmResponder processes MM1, MM3 and MM5.
func (sa *isakmpSA) mmResponder(p inPacket, msg *message.MessageV1, ps []message.Payload, next []byte) error {
	p1 := sa.p1
	switch p1.step {
	case 0:
		in := findSA(ps)
		if in == nil || msg.Ciphertext != nil {
			return errMissing
		}
		t, suite, life, ok := selectPhase1(sa.peer.IKE, in)
		if !ok {
			sa.sendClearNotify(message.V1NoProposalChosen)
			sa.failPhase1(errProposal)
			return nil
		}
		if err := sa.setSuite(suite); err != nil {
			return err
		}
		p1.peerLife = life
		p1.saiB = in.Raw
		sa.processVendorIDs(ps)
		num := in.Proposals[0].Number
		out := &message.SAV1{DOI: message.DOIIPsec, Situation: message.SituationIdentityOnly,
			Proposals: []message.ProposalV1{{Number: num, Protocol: message.ProtocolIKE, Transforms: []message.TransformV1{t}}}}
		pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeIdentityProtection, 0),
			Payloads: append([]message.Payload{out}, sa.vendorIDs()...)}).Marshal()
		if err != nil {
			return err
		}
		p1.ex.received(p.raw)
		p1.step = 3
		sa.transmit(p1.ex, pkt, false)
	case 3:
		ke, ni := findKE(ps), findData(ps, message.PayloadV1Nonce)
		if msg.Ciphertext != nil || ke == nil || ni == nil {
			return errMissing
		}
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
			p1.ni, p1.gxi = nil, nil
			return err
		}
		p1.ex.iv = iv
		sa.detectNAT(ps, p.local, p.remote)
		out := []message.Payload{&message.KEV1{Data: p1.gxr}, &message.DataV1{PayloadType: message.PayloadV1Nonce, Data: nr}}
		out = append(out, sa.natdPayloads()...)
		pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeIdentityProtection, 0), Payloads: out}).Marshal()
		if err != nil {
			return err
		}
		p1.ex.received(p.raw)
		p1.step = 5
		sa.transmit(p1.ex, pkt, false)
	case 5:
		if msg.Ciphertext == nil {
			return errMissing
		}
		if failed, err := sa.verifyPeer(ps, &p1.idi, sa.hashI); failed || err != nil {
			if err == errMissing {
				sa.authFailedHint(errMissing)
			}
			return err
		}
		p1.ex.iv = next
		p1.ex.received(p.raw)
		sa.authenticated(p)
		p1.idr = idPayload(sa.peer.localID())
		out := []message.Payload{p1.idr, &message.DataV1{PayloadType: message.PayloadV1HASH, Data: sa.hashR()}}
		pkt, niv, err := sa.encrypt(sa.header(message.ExchangeIdentityProtection, 0), out, p1.ex.iv)
		if err != nil {
			return err
		}
		p1.ex.iv = niv
		sa.transmit(p1.ex, pkt, false)
		sa.establish(hasInitialContact(ps))
	}
	return nil
}

// verifyPeer checks the peer's identity and its HASH in MM5/MM6 (RFC 2409
// §5: HASH_I from the initiator, HASH_R from the responder). The ID is
// stored in *peerID before want computes the expected hash, which covers
// it. failed reports that phase 1 is over: the peer authenticated as an
// identity this connection does not accept (already notified).
func (sa *isakmpSA) verifyPeer(ps []message.Payload, peerID **message.IDV1, want func() []byte) (failed bool, err error) {
	ids, hash := findIDs(ps), findData(ps, message.PayloadV1HASH)
	if len(ids) != 1 || hash == nil {
		return false, errMissing
	}
	*peerID = ids[0]
	if !ikecrypto.Equal(hash, want()) {
		sa.authFailedHint(errAuth)
		return false, errAuth
	}
	if err := sa.checkRemoteID(ids[0]); err != nil {
		sa.sendClearNotify(message.V1InvalidIDInformation)
		sa.failPhase1(fmt.Errorf("%w: %w", errAuth, err))
		return true, nil
	}
	return false, nil
}
