package v1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// Quick Mode (RFC 2409 §5.5), after strongSwan's quick_mode task:
//
//	Initiator                              Responder
//	HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] -->
//	                                <--    HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]
//	HDR*, HASH(3)                   -->
//
// KE is present with PFS (the ESP proposal's group). The IDs are the
// subnets (ID_IPV4_ADDR_SUBNET), one pair per SA. The responder installs
// the SA on HASH(3); it retransmits QM2 until then. A Quick Mode for
// selectors that already have an SA rekeys it (make-before-break: the new
// SA comes up with Rekeyed and the old one leaves after rekeyGrace).

// rekeyGrace is how long a replaced IPsec SA keeps accepting traffic that
// was in flight when its successor came up.
const rekeyGrace = 5 * time.Second

// qmRetry spaces out a failed Quick Mode before it is tried again.
const qmRetry = 10 * time.Second

// protoESP is PROTO_IPSEC_ESP, hashed into KEYMAT (RFC 2409 §5.5).
const protoESP = 3

// quickMode is the state of one Quick Mode exchange.
type quickMode struct {
	initiator         bool
	step              int // 2: initiator waits for QM2; 3: responder waits for QM3
	inSPI, outSPI     uint32
	ni, nr            []byte
	dh                *ikecrypto.PrivateKey
	gxy               []byte
	choice            espChoice
	localTS, remoteTS netip.Prefix
	// replaces is the IPsec SA this one rekeys: on this ISAKMP SA, or
	// (re-authentication) a copy of one on the SA being replaced.
	replaces *child
	// replacesSPI is the inbound SPI of an IPsec SA of another ISAKMP SA
	// of the peer with the same selectors: the peer re-authenticates and
	// rebuilds its SAs on the new ISAKMP SA.
	replacesSPI uint32
}

// startQuickMode negotiates an IPsec SA: the configured subnet pair (c nil)
// or a rekey of c.
func (sa *isakmpSA) startQuickMode(c *child) {
	if sa.state != v2.StateEstablished {
		return
	}
	qm := &quickMode{initiator: true, step: 2, replaces: c}
	if c != nil {
		qm.localTS, qm.remoteTS = c.localTS, c.remoteTS
		if sa.ownChild(c) {
			c.state = v2.ChildRekeying
		}
	} else {
		qm.localTS, qm.remoteTS = sa.peer.localTS(), sa.peer.remoteTS()
	}
	if err := sa.buildQM1(qm); err != nil {
		sa.log.Warn("cannot start Quick Mode", "err", err)
		if qm.inSPI != 0 {
			sa.m.freeSPI(qm.inSPI)
		}
	}
}

func (sa *isakmpSA) ownChild(c *child) bool {
	for _, x := range sa.children {
		if x == c {
			return true
		}
	}
	return false
}

func (sa *isakmpSA) buildQM1(qm *quickMode) error {
	var err error
	if qm.inSPI, err = sa.m.allocSPI(); err != nil {
		return err
	}
	if qm.ni, err = sa.newNonce(); err != nil {
		return err
	}
	mid := sa.newMID()
	ex := sa.newExchange(mid, message.ExchangeQuickMode)
	ex.qm, ex.iv = qm, sa.phase2IV(mid)
	rest := []message.Payload{espSA(sa.peer.ESP, qm.inSPI, sa.peer.ChildLifetime, sa.encapMode()),
		&message.DataV1{PayloadType: message.PayloadV1Nonce, Data: qm.ni}}
	if g := sa.peer.ESP[0].DH; g != 0 {
		grp, err := ikecrypto.NewGroup(g)
		if err != nil {
			return err
		}
		if qm.dh, err = grp.GenerateKey(sa.m.rand); err != nil {
			return err
		}
		rest = append(rest, &message.KEV1{Data: qm.dh.Public()})
	}
	rest = append(rest, message.NewIDV1Prefix(qm.localTS), message.NewIDV1Prefix(qm.remoteTS))
	pkt, err := sa.sealHashed(ex, func(r []byte) []byte { return ikecrypto.V1Hash1(sa.prf, sa.keys.A, mid, r) }, rest)
	if err != nil {
		delete(sa.exchanges, mid)
		return err
	}
	ex.deadline = sa.now().Add(sa.m.retrans.Timeout)
	sa.log.Debug("Quick Mode initiated", "mid", mid, "in", spiStr(qm.inSPI), "ts", qm.localTS.String()+"<->"+qm.remoteTS.String())
	sa.transmit(ex, pkt, true)
	return nil
}

// sealHashed encrypts HASH | rest in the exchange's IV chain, where the
// hash covers the encoded rest (RFC 2409 §5.5, §5.7).
func (sa *isakmpSA) sealHashed(ex *exchange, hash func(rest []byte) []byte, rest []message.Payload) ([]byte, error) {
	hp := &message.DataV1{PayloadType: message.PayloadV1HASH, Data: make([]byte, sa.prf.Size())}
	_, plain, err := message.MarshalPayloadsV1(append([]message.Payload{hp}, rest...))
	if err != nil {
		return nil, err
	}
	hl := 4 + sa.prf.Size()
	copy(plain[4:hl], hash(plain[hl:]))
	h := sa.header(ex.typ, ex.mid)
	h.NextPayload = message.PayloadV1HASH
	ct, next := ikecrypto.V1Encrypt(sa.block, ex.iv, plain)
	ex.iv = next
	return (&message.MessageV1{Header: h, Ciphertext: ct}).Marshal()
}

// hashedRest splits a decrypted chain that must start with HASH into the
// hash value and the encoded payloads after it (without padding).
func hashedRest(first message.PayloadType, pt []byte) (hash, rest []byte, ok bool) {
	if first != message.PayloadV1HASH || len(pt) < 4 {
		return nil, nil, false
	}
	hl := int(binary.BigEndian.Uint16(pt[2:4]))
	off, next := 0, first
	for next != message.PayloadNone {
		if len(pt)-off < 4 {
			return nil, nil, false
		}
		l := int(binary.BigEndian.Uint16(pt[off+2:]))
		if l < 4 || l > len(pt)-off {
			return nil, nil, false
		}
		next = message.PayloadType(pt[off])
		off += l
	}
	if hl < 4 || hl > off {
		return nil, nil, false
	}
	return pt[4:hl], pt[hl:off], true
}

// quickModePacket processes an encrypted Quick Mode message.
func (sa *isakmpSA) quickModePacket(p inPacket, msg *message.MessageV1) {
	mid := msg.MessageID
	if mid == 0 {
		return
	}
	ex := sa.exchanges[mid]
	iv := sa.phase2IV(mid)
	if ex != nil {
		if ex.qm == nil {
			return
		}
		iv = ex.iv
	}
	ps, pt, next, err := sa.decrypt(msg, iv)
	if err != nil {
		sa.log.Debug("undecryptable Quick Mode message", "err", err)
		return
	}
	hash, rest, ok := hashedRest(msg.NextPayload, pt)
	if !ok {
		return
	}
	switch {
	case ex == nil:
		if !ikecrypto.Equal(hash, ikecrypto.V1Hash1(sa.prf, sa.keys.A, mid, rest)) {
			sa.log.Info("Quick Mode HASH(1) mismatch")
			return
		}
		ex = sa.newExchange(mid, message.ExchangeQuickMode)
		ex.iv = next
		ex.received(p.raw)
		sa.sawMID(mid)
		sa.authenticated(p)
		if err := sa.qmRespond(ex, ps); err != nil {
			sa.log.Info("Quick Mode refused", "err", err)
			delete(sa.exchanges, mid)
			sa.sendInformational(&message.NotifyV1{DOI: message.DOIIPsec, Protocol: message.ProtocolESP, NotifyType: qmErrType(err)})
		}
	case ex.qm.initiator && ex.qm.step == 2:
		if !ikecrypto.Equal(hash, ikecrypto.V1Hash2(sa.prf, sa.keys.A, mid, ex.qm.ni, rest)) {
			sa.log.Info("Quick Mode HASH(2) mismatch")
			return
		}
		ex.iv = next
		ex.received(p.raw)
		sa.authenticated(p)
		if err := sa.qmComplete(ex, ps); err != nil {
			sa.log.Warn("Quick Mode reply unusable", "err", err)
			sa.quickModeTimeout(ex)
		}
	case !ex.qm.initiator && ex.qm.step == 3:
		if len(rest) != 0 || !ikecrypto.Equal(hash, ikecrypto.V1Hash3(sa.prf, sa.keys.A, mid, ex.qm.ni, ex.qm.nr)) {
			sa.log.Info("Quick Mode HASH(3) mismatch")
			return
		}
		ex.iv = next
		ex.received(p.raw)
		sa.authenticated(p)
		ex.qm.step = 0
		sa.finish(ex)
		sa.install(ex.qm)
	}
}

var (
	errQMProposal = errors.New("v1: no acceptable ESP proposal")
	errQMID       = errors.New("v1: Quick Mode identities do not match the configured subnets")
)

func qmErrType(err error) message.NotifyTypeV1 {
	switch {
	case errors.Is(err, errQMProposal):
		return message.V1NoProposalChosen
	case errors.Is(err, errQMID):
		return message.V1InvalidIDInformation
	}
	return message.V1PayloadMalformed
}

// qmRespond processes QM1 and sends QM2.
func (sa *isakmpSA) qmRespond(ex *exchange, ps []message.Payload) error {
	in, ni := findSA(ps), findData(ps, message.PayloadV1Nonce)
	if in == nil || ni == nil {
		return errMissing
	}
	prop, choice, ok := selectESP(sa.peer.ESP, in, sa.encapOK)
	if !ok {
		return errQMProposal
	}
	qm := &quickMode{step: 3, ni: ni, choice: choice, outSPI: choice.spi}
	ids := findIDs(ps)
	switch len(ids) {
	case 0: // RFC 2409 §5.5: the phase 1 addresses
		qm.remoteTS = netip.PrefixFrom(sa.remote.Addr(), sa.remote.Addr().BitLen())
		qm.localTS = netip.PrefixFrom(sa.local.Addr(), sa.local.Addr().BitLen())
	case 2:
		r, ok1 := ids[0].Prefix()
		l, ok2 := ids[1].Prefix()
		if !ok1 || !ok2 || ids[0].Protocol != 0 || ids[1].Protocol != 0 {
			return errQMID
		}
		qm.remoteTS, qm.localTS = r, l
	default:
		return errMissing
	}
	if !within(qm.remoteTS, sa.peer.remoteTS()) || !within(qm.localTS, sa.peer.localTS()) {
		return errQMID
	}
	if choice.suite.DH != 0 {
		ke := findKE(ps)
		g, err := ikecrypto.NewGroup(choice.suite.DH)
		if err != nil || len(ke) != g.PublicLen() {
			return errQMProposal
		}
		if qm.dh, err = g.GenerateKey(sa.m.rand); err != nil {
			return err
		}
		if qm.gxy, err = qm.dh.SharedSecret(ke); err != nil {
			return err
		}
	}
	var err error
	if qm.nr, err = sa.newNonce(); err != nil {
		return err
	}
	if qm.inSPI, err = sa.m.allocSPI(); err != nil {
		return err
	}
	qm.replaces = sa.oldestFor(qm.localTS, qm.remoteTS)
	if qm.replaces == nil {
		qm.replacesSPI = sa.m.siblingChild(sa, qm.localTS, qm.remoteTS)
	}
	ex.qm = qm
	prop.SPI = binary.BigEndian.AppendUint32(nil, qm.inSPI)
	out := &message.SAV1{DOI: message.DOIIPsec, Situation: message.SituationIdentityOnly, Proposals: []message.ProposalV1{prop}}
	rest := []message.Payload{out, &message.DataV1{PayloadType: message.PayloadV1Nonce, Data: qm.nr}}
	if qm.dh != nil {
		rest = append(rest, &message.KEV1{Data: qm.dh.Public()})
	}
	for _, id := range ids {
		rest = append(rest, id)
	}
	mid := ex.mid
	pkt, err := sa.sealHashed(ex, func(r []byte) []byte { return ikecrypto.V1Hash2(sa.prf, sa.keys.A, mid, ni, r) }, rest)
	if err != nil {
		sa.m.freeSPI(qm.inSPI)
		return err
	}
	ex.deadline = sa.now().Add(sa.m.retrans.Timeout)
	sa.transmit(ex, pkt, true)
	return nil
}

// within reports whether the peer's proposed subnet p lies inside the
// configured one (the peer may narrow, never widen).
func within(p, cfg netip.Prefix) bool {
	return p.Addr().Is4() == cfg.Addr().Is4() && cfg.Contains(p.Addr()) && p.Bits() >= cfg.Bits()
}

// qmComplete processes QM2, sends QM3 and installs the SA.
func (sa *isakmpSA) qmComplete(ex *exchange, ps []message.Payload) error {
	qm := ex.qm
	in, nr := findSA(ps), findData(ps, message.PayloadV1Nonce)
	if in == nil || nr == nil || len(in.Proposals) != 1 || len(in.Proposals[0].Transforms) != 1 {
		return errMissing
	}
	choice, ok := parseESPTransform(&in.Proposals[0], &in.Proposals[0].Transforms[0])
	if !ok || !sa.encapOK(choice.encap) {
		return errQMProposal
	}
	offered := false
	for _, s := range sa.peer.ESP {
		offered = offered || s == choice.suite
	}
	if !offered {
		return errQMProposal
	}
	if ids := findIDs(ps); len(ids) == 2 {
		l, ok1 := ids[0].Prefix()
		r, ok2 := ids[1].Prefix()
		if !ok1 || !ok2 || l != qm.localTS || r != qm.remoteTS {
			return errQMID
		}
	}
	if qm.dh != nil {
		ke := findKE(ps)
		if len(ke) != qm.dh.Group().PublicLen() {
			return errQMProposal
		}
		var err error
		if qm.gxy, err = qm.dh.SharedSecret(ke); err != nil {
			return err
		}
	}
	if life := responderLifetime(ps); life > 0 && (choice.life == 0 || life < choice.life) {
		choice.life = life
	}
	qm.nr, qm.choice, qm.outSPI = nr, choice, choice.spi
	mid := ex.mid
	h := ikecrypto.V1Hash3(sa.prf, sa.keys.A, mid, qm.ni, qm.nr)
	hdr := sa.header(message.ExchangeQuickMode, mid)
	pkt, next, err := sa.encrypt(hdr, []message.Payload{&message.DataV1{PayloadType: message.PayloadV1HASH, Data: h}}, ex.iv)
	if err != nil {
		return err
	}
	ex.iv = next
	qm.step = 0
	sa.transmit(ex, pkt, false)
	sa.finish(ex)
	sa.install(qm)
	return nil
}

// install derives the keys of both directions (RFC 2409 §5.5: KEYMAT for
// each SPI, the receiver's choice) and brings the IPsec SA up.
func (sa *isakmpSA) install(qm *quickMode) {
	s := qm.choice.suite
	e, a := s.Encr.KeyBytes(s.EncrKey), s.Integ.KeyBytes()
	kin := ikecrypto.V1KeyMat(sa.prf, sa.keys.D, qm.gxy, protoESP, qm.inSPI, qm.ni, qm.nr, e+a)
	kout := ikecrypto.V1KeyMat(sa.prf, sa.keys.D, qm.gxy, protoESP, qm.outSPI, qm.ni, qm.nr, e+a)
	now := sa.now()
	c := &child{inSPI: qm.inSPI, outSPI: qm.outSPI, suite: s, localTS: qm.localTS, remoteTS: qm.remoteTS,
		encap: sa.natDetected(), state: v2.ChildInstalled, installed: now}
	c.life = sa.peer.ChildLifetime
	if qm.choice.life > 0 && (c.life == 0 || qm.choice.life < c.life) {
		c.life = qm.choice.life
	}
	if c.life > 0 {
		c.expireAt = now.Add(c.life)
		d := sa.m.rekeyDelay(c.life)
		if !qm.initiator {
			d = c.life*19/20 - sa.m.jitter(c.life/40)
		}
		c.rekeyAt = now.Add(d)
	}
	up := v2.ChildUp{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Suite: s,
		EncKeyIn: kin[:e:e], IntegKeyIn: nilIfEmpty(kin[e:]), EncKeyOut: kout[:e:e], IntegKeyOut: nilIfEmpty(kout[e:]),
		LocalTS: []netip.Prefix{c.localTS}, RemoteTS: []netip.Prefix{c.remoteTS},
		Local: sa.local, Remote: sa.remote, Encap: c.encap}
	if qm.replaces == nil {
		// An IPsec SA for these selectors may have arrived meanwhile
		// (adopted from an older ISAKMP SA): this one replaces it.
		qm.replaces = sa.oldestFor(c.localTS, c.remoteTS)
	}
	c.nonceKey = qm.ni
	if bytes.Compare(qm.nr, qm.ni) < 0 {
		c.nonceKey = qm.nr
	}
	if r := qm.replaces; r != nil {
		c.gen = r.gen + 1
	}
	sa.children = append(sa.children, c)
	sa.initialDone = true
	// A rekey collision: both ends rekeyed the same SA at once.
	for _, x := range sa.children {
		if x == c || x.gen != c.gen || x.localTS != c.localTS || x.remoteTS != c.remoteTS ||
			(x.state != v2.ChildInstalled && x.state != v2.ChildRekeying) {
			continue
		}
		if bytes.Compare(c.nonceKey, x.nonceKey) < 0 {
			sa.log.Info("rekey collision: the new IPsec SA loses", "in", spiStr(c.inSPI), "keeps", spiStr(x.inSPI))
			c.state = v2.ChildRekeyed
			sa.deleteChild(c, v2.ReasonRekeyed, true)
			return
		}
		sa.log.Info("rekey collision: the other new IPsec SA loses", "in", spiStr(x.inSPI), "keeps", spiStr(c.inSPI))
		x.state, x.rekeyAt, x.retireAt = v2.ChildRekeyed, time.Time{}, now.Add(rekeyGrace)
		qm.replaces, qm.replacesSPI = x, 0
	}
	if qm.replacesSPI != 0 {
		up.Rekeyed, up.ReplacesSPI = true, qm.replacesSPI
	}
	if r := qm.replaces; r != nil {
		up.Rekeyed, up.ReplacesSPI = true, r.inSPI
		if sa.ownChild(r) && r.state != v2.ChildRekeyed {
			r.state, r.rekeyAt, r.retireAt = v2.ChildRekeyed, time.Time{}, now.Add(rekeyGrace)
		}
	}
	c.announced = true
	sa.log.Info("IPsec SA established", "in", spiStr(c.inSPI), "out", spiStr(c.outSPI), "suite", s,
		"ts", c.localTS.String()+"<->"+c.remoteTS.String(), "encap", c.encap, "rekey", up.Rekeyed)
	sa.m.emit(up)
	if qm.replaces != nil && !sa.ownChild(qm.replaces) && sa.reauth != nil {
		sa.reauthDone(qm.replaces)
	}
}

// responderLifetime reads a RESPONDER-LIFETIME notification (RFC 2407
// §4.6.3.1): the responder's shorter IPsec SA lifetime, as SA Life Type /
// SA Life Duration attributes. Kilobyte lifetimes are ignored.
func responderLifetime(ps []message.Payload) time.Duration {
	for _, p := range ps {
		n, ok := p.(*message.NotifyV1)
		if !ok || n.NotifyType != message.V1ResponderLifetime {
			continue
		}
		b, seconds := n.Data, false
		for len(b) >= 4 {
			t := binary.BigEndian.Uint16(b)
			var v []byte
			if t&0x8000 != 0 {
				v, b = b[2:4], b[4:]
			} else {
				l := int(binary.BigEndian.Uint16(b[2:]))
				if len(b) < 4+l || l > 8 {
					return 0
				}
				v, b = b[4:4+l], b[4+l:]
			}
			var x uint64
			for _, c := range v {
				x = x<<8 | uint64(c)
			}
			switch message.AttributeType(t & 0x7fff) {
			case message.AttrIPsecSALifeType:
				seconds = x == uint64(message.LifeTypeSeconds)
			case message.AttrIPsecSALifeDuration:
				if seconds && x > 0 {
					return time.Duration(min(x, 1<<31)) * time.Second
				}
			}
		}
	}
	return 0
}

// oldestFor returns the IPsec SA with these selectors of the lowest
// generation that is not gone: the one a new Quick Mode for them rekeys.
func (sa *isakmpSA) oldestFor(local, remote netip.Prefix) *child {
	var best *child
	for _, c := range sa.children {
		if c.localTS == local && c.remoteTS == remote && (best == nil || c.gen < best.gen) {
			best = c
		}
	}
	return best
}

func nilIfEmpty(k []byte) ikecrypto.Key {
	if len(k) == 0 {
		return nil
	}
	return k
}

// reauthDone notes that an IPsec SA of the old ISAKMP SA was rebuilt; when
// all are, the old SA is deleted.
func (sa *isakmpSA) reauthDone(c *child) {
	if sa.reauth == nil {
		return
	}
	for i, x := range sa.reauth.children {
		if x == c {
			sa.reauth.children = append(sa.reauth.children[:i], sa.reauth.children[i+1:]...)
			break
		}
	}
	if len(sa.reauth.children) == 0 {
		sa.retireOld()
	}
}

// quickModeTimeout gives up a Quick Mode: a failed rekey is retried later;
// a failed first SA is retried while phase 1 lives; a failed rebuild
// during re-authentication abandons the new ISAKMP SA.
func (sa *isakmpSA) quickModeTimeout(ex *exchange) {
	delete(sa.exchanges, ex.mid)
	qm := ex.qm
	if qm == nil || qm.step == 0 {
		return
	}
	if qm.inSPI != 0 {
		sa.m.freeSPI(qm.inSPI)
	}
	if !qm.initiator {
		sa.log.Info("Quick Mode responder: no HASH(3)", "mid", ex.mid)
		return
	}
	sa.log.Warn("Quick Mode failed", "mid", ex.mid)
	switch r := qm.replaces; {
	case r != nil && sa.ownChild(r):
		r.state = v2.ChildInstalled
		r.rekeyAt = sa.now().Add(qmRetry)
	case r != nil && sa.reauth != nil:
		if old := sa.reauth.old; old != nil {
			old.post(func() { old.reauthing = false; old.reauthAt = old.now().Add(qmRetry) })
			sa.reauth.old = nil
		}
		sa.terminateWith(v2.ReasonTimeout)
	case !sa.initialDone:
		sa.retryQMAt = sa.now().Add(qmRetry)
	}
}

// deleteChild removes an IPsec SA, telling the peer with notify.
func (sa *isakmpSA) deleteChild(c *child, reason v2.Reason, notify bool) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			break
		}
	}
	if c.state == v2.ChildRekeyed {
		reason = v2.ReasonRekeyed
	}
	if notify && sa.state == v2.StateEstablished {
		sa.sendInformational(message.NewDeleteV1ESP(c.inSPI))
	}
	sa.log.Info("IPsec SA deleted", "in", spiStr(c.inSPI), "out", spiStr(c.outSPI), "reason", reason)
	if c.announced {
		sa.m.emit(v2.ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
	}
	sa.m.freeSPI(c.inSPI)
}
