package v2

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// nonceLen is the size of our nonces: at least half the PRF key size and
// 128 bits (RFC 7296 §2.10); 32 bytes covers every PRF here.
const nonceLen = 32

// handshake is the state of IKE_SA_INIT and IKE_AUTH, dropped once the SA
// is established. The raw IKE_SA_INIT messages are kept because AUTH signs
// them (§2.15).
type handshake struct {
	dh       *ikecrypto.PrivateKey
	ni, nr   []byte
	initReq  []byte // IKE_SA_INIT request as sent/received
	initResp []byte // IKE_SA_INIT response as sent/received
	cookie   []byte // from the responder (§2.6)
	childSPI uint32 // our inbound SPI offered in IKE_AUTH
	tsi, tsr []message.Selector
	retries  int
}

func (sa *ikeSA) nonce() ([]byte, error) {
	n := make([]byte, nonceLen)
	if _, err := io.ReadFull(sa.m.rand, n); err != nil {
		return nil, fmt.Errorf("v2: nonce: %w", err)
	}
	return n, nil
}

func (sa *ikeSA) newDH(g ikecrypto.GroupID) (*ikecrypto.PrivateKey, error) {
	grp, err := ikecrypto.NewGroup(g)
	if err != nil {
		return nil, err
	}
	return grp.GenerateKey(sa.m.rand)
}

// natdPayloads returns NAT_DETECTION_SOURCE_IP and _DESTINATION_IP
// (§2.23). With ForceEncap the source hash is random, so the peer sees a
// NAT in front of us and both ends move ESP into UDP.
func (sa *ikeSA) natdPayloads() []message.Payload {
	src := message.NATDetectionData(sa.spiI, sa.spiR, sa.local)
	if sa.peer.ForceEncap {
		src = make([]byte, len(src))
		io.ReadFull(sa.m.rand, src)
	}
	return []message.Payload{
		message.NewNotify(message.NAT_DETECTION_SOURCE_IP, src),
		message.NewNotify(message.NAT_DETECTION_DESTINATION_IP, message.NATDetectionData(sa.spiI, sa.spiR, sa.remote)),
	}
}

// detectNAT evaluates the peer's NAT-D notifies against the addresses the
// message really travelled between (§2.23). It reports whether the peer
// sent them at all.
func (sa *ikeSA) detectNAT(ps []message.Payload, rc *received, spiR uint64) bool {
	srcs := message.Notifies(ps, message.NAT_DETECTION_SOURCE_IP)
	dst := message.FindNotify(ps, message.NAT_DETECTION_DESTINATION_IP)
	if len(srcs) == 0 || dst == nil {
		return false
	}
	want := message.NATDetectionData(sa.spiI, spiR, rc.remote)
	sa.natRemote = true
	for _, s := range srcs {
		if bytes.Equal(s.Data, want) {
			sa.natRemote = false
		}
	}
	sa.natLocal = !bytes.Equal(dst.Data, message.NATDetectionData(sa.spiI, spiR, rc.local)) || sa.peer.ForceEncap
	return true
}

// startInit queues the initiator's IKE_SA_INIT (§1.2):
//
//	HDR, SAi1, KEi, Ni, [N(NAT_DETECTION_*)]  -->
//	                       <--  HDR, SAr1, KEr, Nr, [N(NAT_DETECTION_*)]
func (sa *ikeSA) startInit() {
	hs := &handshake{}
	sa.hs = hs
	var err error
	if hs.ni, err = sa.nonce(); err == nil {
		hs.dh, err = sa.newDH(sa.peer.IKE[0].DH)
	}
	if err != nil {
		sa.close(ReasonProtocolError, err)
		return
	}
	r := &request{exch: message.IKE_SA_INIT}
	r.build = func() ([]message.Payload, error) {
		var ps []message.Payload
		if hs.cookie != nil {
			// §2.6: the cookie notify must be the first payload.
			ps = append(ps, message.NewCookie(hs.cookie))
		}
		ps = append(ps, ikeProposals(sa.peer.IKE, nil),
			&message.KE{Group: uint16(hs.dh.Group().ID()), Data: hs.dh.Public()},
			&message.Nonce{Data: hs.ni})
		if sa.peer.NATT {
			ps = append(ps, sa.natdPayloads()...)
		}
		return ps, nil
	}
	r.onResponse = func(rc *received) (bool, error) { return sa.onInitResponse(r, rc) }
	sa.enqueue(r)
}

// maxInitRetries bounds cookie and INVALID_KE_PAYLOAD round trips.
const maxInitRetries = 4

// onInitResponse processes IKE_SA_INIT's answer. Nothing in it is
// authenticated yet, so a bad answer only ends this attempt.
func (sa *ikeSA) onInitResponse(r *request, rc *received) (bool, error) {
	hs, ps := sa.hs, rc.payloads
	if c := message.FindNotify(ps, message.COOKIE); c != nil && message.Get(ps, message.PayloadSA) == nil {
		if hs.retries++; hs.retries > maxInitRetries || len(c.Data) == 0 || len(c.Data) > 64 {
			sa.close(ReasonProtocolError, errors.New("v2: cookie loop"))
			return false, nil
		}
		hs.cookie = append([]byte(nil), c.Data...)
		sa.log.Debug("responder asks for a cookie")
		return true, nil
	}
	if n := message.FindNotify(ps, message.INVALID_KE_PAYLOAD); n != nil {
		g, ok := n.Group()
		if hs.retries++; !ok || hs.retries > maxInitRetries || !sa.offersGroup(ikecrypto.GroupID(g)) {
			sa.close(ReasonNoProposal, fmt.Errorf("v2: responder wants DH group %d, not offered", g))
			return false, nil
		}
		dh, err := sa.newDH(ikecrypto.GroupID(g))
		if err != nil {
			sa.close(ReasonProtocolError, err)
			return false, nil
		}
		sa.log.Info("INVALID_KE_PAYLOAD, retrying", "group", ikecrypto.GroupID(g))
		hs.dh = dh
		return true, nil
	}
	if err := errorNotify(ps); err != nil {
		sa.close(reasonFor(err), err)
		return false, nil
	}
	sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
	ke, _ := message.Get(ps, message.PayloadKE).(*message.KE)
	no, _ := message.Get(ps, message.PayloadNonce).(*message.Nonce)
	if sap == nil || ke == nil || no == nil || rc.msg.SPIr == 0 {
		sa.close(ReasonProtocolError, errors.New("v2: IKE_SA_INIT response lacks SA, KE or Nonce"))
		return false, nil
	}
	suite, _, err := acceptedIKE(sa.peer.IKE, sap, 0)
	if err != nil || ikecrypto.GroupID(ke.Group) != hs.dh.Group().ID() || suite.DH != hs.dh.Group().ID() {
		sa.close(ReasonNoProposal, fmt.Errorf("v2: responder chose something not offered: %v", err))
		return false, nil
	}
	gir, err := hs.dh.SharedSecret(ke.Data)
	if err != nil {
		sa.close(ReasonProtocolError, err)
		return false, nil
	}
	sa.spiR = rc.msg.SPIr
	hs.nr = append([]byte(nil), no.Data...)
	hs.initReq, hs.initResp = r.pkt, rc.msg.Raw
	if err := sa.deriveKeys(suite, ikecrypto.SKEYSEED(mustPRF(suite.PRF), hs.ni, hs.nr, gir), hs.ni, hs.nr); err != nil {
		sa.close(ReasonProtocolError, err)
		return false, nil
	}
	if sa.peer.NATT && sa.detectNAT(ps, rc, sa.spiR) && (sa.natLocal || sa.natRemote) {
		// §2.23: move to port 4500 from IKE_AUTH on.
		sa.local = withPort(sa.local, sa.m.nattPort)
		sa.remote = withPort(sa.remote, sa.m.nattPort)
	}
	sa.log.Debug("IKE_SA_INIT done", "suite", suite, "natLocal", sa.natLocal, "natRemote", sa.natRemote)
	sa.enqueue(sa.authRequest())
	return false, nil
}

func (sa *ikeSA) offersGroup(g ikecrypto.GroupID) bool {
	for _, s := range sa.peer.IKE {
		if s.DH == g {
			return true
		}
	}
	return false
}

func mustPRF(id ikecrypto.PRFID) ikecrypto.PRF {
	p, err := ikecrypto.NewPRF(id)
	if err != nil {
		panic(err) // suites are validated before use
	}
	return p
}

// deriveKeys installs the IKE SA's keys (§2.14) and its SK protectors.
func (sa *ikeSA) deriveKeys(s ikecrypto.IKESuite, skeyseed, ni, nr []byte) error {
	k, err := ikecrypto.DeriveIKEKeys(s, skeyseed, ni, nr, sa.spiI, sa.spiR)
	if err != nil {
		return err
	}
	encI, err := ikecrypto.NewProtector(s.Encr, s.Integ, k.Ei, k.Ai)
	if err != nil {
		return err
	}
	encR, err := ikecrypto.NewProtector(s.Encr, s.Integ, k.Er, k.Ar)
	if err != nil {
		return err
	}
	sa.suite, sa.prf, sa.keys = s, mustPRF(s.PRF), k
	if sa.initiator {
		sa.sealer, sa.opener = encI, encR
	} else {
		sa.sealer, sa.opener = encR, encI
	}
	return nil
}

// precheckInit is the responder's stateless look at an IKE_SA_INIT request
// (§1.2, §2.6, §2.7): a refusal (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD)
// is returned as payloads for an immediate unprotected answer, so no
// state is kept for requests that cannot succeed.
func precheckInit(p *Peer, ps []message.Payload) ([]message.Payload, ikecrypto.IKESuite) {
	sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
	ke, _ := message.Get(ps, message.PayloadKE).(*message.KE)
	no, _ := message.Get(ps, message.PayloadNonce).(*message.Nonce)
	if sap == nil || ke == nil || no == nil {
		return []message.Payload{message.NewNotify(message.INVALID_SYNTAX, nil)}, ikecrypto.IKESuite{}
	}
	suite, _, err := selectIKE(p.IKE, sap, 0)
	if err != nil {
		return []message.Payload{message.NewNotify(message.NO_PROPOSAL_CHOSEN, nil)}, suite
	}
	if ikecrypto.GroupID(ke.Group) != suite.DH {
		// §1.2: name the group we want; the initiator retries.
		return []message.Payload{message.NewInvalidKE(uint16(suite.DH))}, suite
	}
	return nil, suite
}

// handleInitRequest is the responder's IKE_SA_INIT once precheckInit
// passed: choose, compute keys, answer.
func (sa *ikeSA) handleInitRequest(rc *received) ([]message.Payload, error) {
	if sa.hs == nil || sa.state != StateConnecting {
		return nil, errDrop
	}
	ps := rc.payloads
	if refuse, _ := precheckInit(sa.peer, ps); refuse != nil {
		return refuse, nil
	}
	sap := message.Get(ps, message.PayloadSA).(*message.SA)
	ke := message.Get(ps, message.PayloadKE).(*message.KE)
	no := message.Get(ps, message.PayloadNonce).(*message.Nonce)
	suite, prop, _ := selectIKE(sa.peer.IKE, sap, 0)
	hs := sa.hs
	var err error
	if hs.dh, err = sa.newDH(suite.DH); err != nil {
		return nil, err
	}
	gir, err := hs.dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, &message.NotifyError{Type: message.INVALID_SYNTAX, Msg: err.Error()}
	}
	if hs.nr, err = sa.nonce(); err != nil {
		return nil, err
	}
	hs.ni = append([]byte(nil), no.Data...)
	hs.initReq = rc.msg.Raw
	if err := sa.deriveKeys(suite, ikecrypto.SKEYSEED(mustPRF(suite.PRF), hs.ni, hs.nr, gir), hs.ni, hs.nr); err != nil {
		return nil, err
	}
	out := []message.Payload{chosenIKE(suite, prop.Number, nil),
		&message.KE{Group: uint16(suite.DH), Data: hs.dh.Public()}, &message.Nonce{Data: hs.nr}}
	if sa.peer.NATT && sa.detectNAT(ps, rc, 0) {
		out = append(out, sa.natdPayloads()...)
	}
	// The response bytes are needed for AUTH: marshal here exactly as the
	// window will (the encoding is deterministic).
	resp, err := sa.marshal(message.IKE_SA_INIT, rc.msg.MessageID, true, out)
	if err != nil {
		return nil, err
	}
	hs.initResp = resp
	return out, nil
}

// errorNotify returns the first error notification (type < 16384, §3.10.1)
// as a *message.NotifyError, or nil.
func errorNotify(ps []message.Payload) error {
	for _, p := range ps {
		if n, ok := p.(*message.Notify); ok && n.NotifyType < 16384 {
			return &message.NotifyError{Type: n.NotifyType, Data: n.Data, Msg: "peer reported " + n.NotifyType.String()}
		}
	}
	return nil
}

// reasonFor maps an error notification to a down reason.
func reasonFor(err error) Reason {
	ne, ok := message.AsNotifyError(err)
	if !ok {
		return ReasonProtocolError
	}
	switch ne.Type {
	case message.AUTHENTICATION_FAILED:
		return ReasonAuthFailed
	case message.NO_PROPOSAL_CHOSEN, message.INVALID_KE_PAYLOAD:
		return ReasonNoProposal
	case message.TS_UNACCEPTABLE:
		return ReasonTSUnacceptable
	}
	return ReasonProtocolError
}
