package v1

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// nonceLen is the size of our nonces (RFC 2409 §5: 8 to 256 bytes).
const nonceLen = 32

var (
	errTimeout  = errors.New("v1: no answer from peer")
	errAuth     = errors.New("v1: peer's hash does not verify (wrong pre-shared key?)")
	errMissing  = errors.New("v1: message lacks a required payload")
	errProposal = errors.New("v1: no acceptable proposal")
)

// phase1 is the state of Main Mode or Aggressive Mode in progress.
type phase1 struct {
	ex       *exchange // message ID 0
	step     int       // the message number we expect next
	dh       *ikecrypto.PrivateKey
	gxi, gxr []byte // initiator's and responder's DH public values
	ni, nr   []byte // nonces (Ni_b, Nr_b)
	saiB     []byte // the initiator's SA payload body, hashed by HASH_I/HASH_R
	peerLife time.Duration
	idi, idr *message.IDV1
	authHint bool // an authentication failure notification was sent
}

// startPhase1 sends the first message as initiator.
func (sa *isakmpSA) startPhase1() {
	typ := message.ExchangeIdentityProtection
	if sa.aggressive {
		typ = message.ExchangeAggressive
	}
	sa.p1 = &phase1{}
	sa.p1.ex = sa.newExchange(0, typ)
	sa.p1.ex.deadline = sa.created.Add(sa.m.halfOpenTimeout)
	var err error
	if sa.aggressive {
		err = sa.sendAM1()
	} else {
		err = sa.sendMM1()
	}
	if err != nil {
		sa.failPhase1(err)
	}
}

// phase1Packet feeds a Main/Aggressive Mode message to the handshake.
// Handlers return an error for a message to ignore (no state changed);
// fatal outcomes close the SA themselves.
func (sa *isakmpSA) phase1Packet(p inPacket, msg *message.MessageV1) {
	p1 := sa.p1
	if p1.ex == nil {
		p1.ex = sa.newExchange(0, msg.Exchange)
		p1.ex.deadline = sa.created.Add(sa.m.halfOpenTimeout)
	}
	ps, next := msg.Payloads, []byte(nil)
	if msg.Ciphertext != nil {
		var err error
		ps, _, next, err = sa.decrypt(msg, p1.ex.iv)
		if err != nil {
			sa.authFailedHint(fmt.Errorf("v1: undecryptable phase 1 message: %w", err))
			return
		}
	}
	var err error
	switch {
	case sa.aggressive && sa.initiator:
		err = sa.amInitiator(p, msg, ps, next)
	case sa.aggressive:
		err = sa.amResponder(p, msg, ps, next)
	case sa.initiator:
		err = sa.mmInitiator(p, msg, ps, next)
	default:
		err = sa.mmResponder(p, msg, ps, next)
	}
	if err != nil && sa.state == v2.StateConnecting {
		sa.log.Debug("phase 1 message ignored", "exchange", msg.Exchange, "err", err)
	}
}

// authFailedHint records (and tells the peer, once, in clear) that its
// authenticated phase 1 message did not verify. Nothing else changes: the
// message is unauthenticated by definition, so the SA times out rather
// than dying on a forger's word; the timeout then reports
// ReasonAuthFailed.
func (sa *isakmpSA) authFailedHint(err error) {
	sa.log.Info("phase 1 authentication failed", "err", err)
	sa.m.stats.authFailures.Add(1)
	sa.peerErr = errAuth
	if sa.p1 != nil && !sa.p1.authHint {
		sa.p1.authHint = true
		sa.sendClearNotify(message.V1AuthenticationFailed)
	}
}

// failPhase1 ends a phase 1 that cannot complete.
func (sa *isakmpSA) failPhase1(err error) {
	reason := v2.ReasonTimeout
	switch {
	case errors.Is(err, errAuth) || errors.Is(sa.peerErr, errAuth):
		reason = v2.ReasonAuthFailed
	case errors.Is(err, errProposal) || errors.Is(sa.peerErr, errProposal):
		reason = v2.ReasonNoProposal
	}
	if sa.peerErr != nil && errors.Is(err, errTimeout) {
		err = fmt.Errorf("%w (peer said: %v)", err, sa.peerErr)
	}
	if sa.reauth != nil {
		old := sa.reauth.old
		old.post(func() {
			old.reauthing = false
			old.reauthAt = old.now().Add(sa.m.jitter(10*time.Second) + 5*time.Second)
		})
	}
	sa.close(reason, err)
}

// sendClearNotify sends an unauthenticated ISAKMP Informational with an
// error notification (RFC 2408 §5), as before phase 1 keys exist.
func (sa *isakmpSA) sendClearNotify(t message.NotifyTypeV1) {
	n := &message.NotifyV1{DOI: message.DOIIPsec, Protocol: message.ProtocolIKE, NotifyType: t,
		SPI: append(be64(sa.spiI), be64(sa.spiR)...)}
	pkt, err := (&message.MessageV1{Header: sa.header(message.ExchangeInformationalV1, 0), Payloads: []message.Payload{n}}).Marshal()
	if err == nil {
		sa.sendRaw(pkt)
	}
}

// newNonce returns a fresh nonce.
func (sa *isakmpSA) newNonce() ([]byte, error) {
	n := make([]byte, nonceLen)
	_, err := io.ReadFull(sa.m.rand, n)
	return n, err
}

// setSuite fixes the negotiated phase 1 suite.
func (sa *isakmpSA) setSuite(s ikecrypto.IKESuite) error {
	p, err := ikecrypto.NewPRF(s.PRF)
	if err != nil {
		return err
	}
	sa.suite, sa.prf = s, p
	return nil
}

// newDH creates our DH key in the negotiated group.
func (sa *isakmpSA) newDH() error {
	g, err := ikecrypto.NewGroup(sa.suite.DH)
	if err != nil {
		return err
	}
	sa.p1.dh, err = g.GenerateKey(sa.m.rand)
	return err
}

// phase1Keys computes SKEYID and its family, the cipher and the first IV
// from the DH exchange and the nonces, without committing them: a wrong
// HASH must leave the SA as it was.
func (sa *isakmpSA) phase1Keys(peerPub []byte) (ikecrypto.V1Keys, []byte, error) {
	p1 := sa.p1
	if len(peerPub) != p1.dh.Group().PublicLen() {
		return ikecrypto.V1Keys{}, nil, fmt.Errorf("v1: KE of %d bytes for %v", len(peerPub), sa.suite.DH)
	}
	gxy, err := p1.dh.SharedSecret(peerPub)
	if err != nil {
		return ikecrypto.V1Keys{}, nil, err
	}
	skeyid := ikecrypto.V1SKEYIDPSK(sa.prf, sa.peer.PSK, p1.ni, p1.nr)
	keys := ikecrypto.V1DeriveKeys(sa.prf, skeyid, gxy, sa.spiI, sa.spiR, sa.suite.Encr.KeyBytes(sa.suite.EncrKey))
	block, err := ikecrypto.NewBlock(sa.suite.Encr, keys.Enc)
	if err != nil {
		return ikecrypto.V1Keys{}, nil, err
	}
	sa.keys, sa.block = keys, block
	return keys, ikecrypto.V1Phase1IV(sa.prf.Hash(), p1.gxi, p1.gxr, block.BlockSize()), nil
}

func (sa *isakmpSA) hashI() []byte {
	p1 := sa.p1
	return ikecrypto.V1HashI(sa.prf, sa.keys.SKEYID, p1.gxi, p1.gxr, sa.spiI, sa.spiR, p1.saiB, p1.idi.Body())
}

func (sa *isakmpSA) hashR() []byte {
	p1 := sa.p1
	return ikecrypto.V1HashR(sa.prf, sa.keys.SKEYID, p1.gxi, p1.gxr, sa.spiI, sa.spiR, p1.saiB, p1.idr.Body())
}

// checkRemoteID verifies the peer's phase 1 identity against the
// configuration (an empty RemoteID accepts any).
func (sa *isakmpSA) checkRemoteID(id *message.IDV1) error {
	sa.remoteID = idString(id)
	want := sa.peer.RemoteID
	if want == "" {
		return nil
	}
	if a, err := netip.ParseAddr(string(want)); err == nil {
		if b, ok := id.Prefix(); ok && b.IsSingleIP() && b.Addr().Unmap() == a.Unmap() {
			return nil
		}
	} else if (id.IDType == message.IDFQDN || id.IDType == message.IDRFC822Addr) && string(id.Data) == string(want) {
		return nil
	}
	return fmt.Errorf("v1: peer identity %s, want %s", sa.remoteID, want)
}

// establish completes phase 1.
func (sa *isakmpSA) establish(initialContact bool) {
	p1 := sa.p1
	now := sa.now()
	sa.state, sa.established = v2.StateEstablished, now
	sa.p1LastIV = p1.ex.iv
	sa.finish(p1.ex)
	sa.p1 = nil
	sa.lifetime = sa.peer.IKELifetime
	if p1.peerLife > 0 && (sa.lifetime == 0 || p1.peerLife < sa.lifetime) {
		sa.lifetime = p1.peerLife
	}
	if sa.lifetime > 0 {
		sa.expireAt = now.Add(sa.lifetime)
		d := sa.m.rekeyDelay(sa.lifetime)
		if !sa.initiator {
			d = sa.lifetime*19/20 - sa.m.jitter(sa.lifetime/40) // leave the first go to the initiator
		}
		sa.reauthAt = now.Add(d)
	}
	if sa.peer.DPD && sa.peerDPD {
		sa.dpd = dpd.New(dpd.Config{Delay: sa.peer.DPDDelay, Timeout: sa.peer.DPDTimeout}, now)
	}
	sa.m.established(sa)
	sa.log.Info("ISAKMP SA established", "mode", p1.ex.typ, "initiator", sa.initiator,
		"suite", sa.suite, "local", sa.local, "remote", sa.remote, "remote_id", sa.remoteID,
		"nat_local", sa.natLocal, "nat_remote", sa.natRemote)
	up := v2.IKEUp{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, Local: sa.local, Remote: sa.remote,
		Initiator: sa.initiator, Suite: sa.suite}
	if sa.reauth != nil {
		up.Rekeyed, up.ReplacesSPIi, up.ReplacesSPIr = true, sa.reauth.spiI, sa.reauth.spiR
	} else if !sa.initiator && !initialContact {
		// The peer re-authenticates: this SA takes over the older one's
		// IPsec SAs (adoptChildren below).
		if st, ok := sa.m.siblingSA(sa); ok {
			up.Rekeyed, up.ReplacesSPIi, up.ReplacesSPIr = true, st.SPIi, st.SPIr
		}
	}
	sa.m.emit(up)
	sa.publish()
	if initialContact {
		sa.m.initialContact(sa)
	} else if !sa.initiator {
		sa.m.adoptChildren(sa)
	}
	if sa.initiator {
		if sa.reauth != nil && len(sa.reauth.children) > 0 {
			for _, c := range sa.reauth.children {
				sa.startQuickMode(c)
			}
		} else {
			sa.startQuickMode(nil)
		}
		if sa.reauth != nil && len(sa.reauth.children) == 0 {
			sa.retireOld()
		}
	}
	q := sa.queued
	sa.queued = nil
	for _, p := range q {
		sa.handlePacket(p)
	}
}

// wantInitialContact: we announce INITIAL-CONTACT when we hold no other SA
// with the peer (RFC 2407 §4.6.3.3), never when re-authenticating.
func (sa *isakmpSA) wantInitialContact() bool {
	if sa.reauth != nil {
		return false
	}
	sa.m.mu.Lock()
	defer sa.m.mu.Unlock()
	for _, o := range sa.m.sas {
		if o != sa && o.peer.Name == sa.peer.Name {
			return false
		}
	}
	return true
}

func (sa *isakmpSA) initialContactNotify() *message.NotifyV1 {
	return &message.NotifyV1{DOI: message.DOIIPsec, Protocol: message.ProtocolIKE, NotifyType: message.V1InitialContact,
		SPI: append(be64(sa.spiI), be64(sa.spiR)...)}
}

func hasInitialContact(ps []message.Payload) bool {
	for _, p := range ps {
		if n, ok := p.(*message.NotifyV1); ok && n.NotifyType == message.V1InitialContact {
			return true
		}
	}
	return false
}

// startReauth re-authenticates: a new ISAKMP SA to the same peer, its
// IPsec SAs rebuilt on it by Quick Mode, then this SA deleted (IKEv1 has
// no in-place rekey of phase 1).
func (sa *isakmpSA) startReauth() {
	if sa.reauthing || sa.state != v2.StateEstablished {
		return
	}
	sa.reauthing = true
	info := &reauthInfo{old: sa, spiI: sa.spiI, spiR: sa.spiR}
	for _, c := range sa.children {
		if c.state == v2.ChildInstalled {
			cc := *c
			info.children = append(info.children, &cc)
		}
	}
	sa.log.Info("re-authenticating ISAKMP SA")
	sa.m.initiate(sa.peer, info)
}

// retireOld deletes the SA that this one re-authenticated.
func (sa *isakmpSA) retireOld() {
	if sa.reauth == nil || sa.reauth.old == nil {
		return
	}
	old := sa.reauth.old
	sa.reauth.old = nil
	old.post(func() { old.terminateWith(v2.ReasonRekeyed) })
}

// idPayload encodes a phase 1 identity: an address as ID_IPV4_ADDR /
// ID_IPV6_ADDR, anything with '@' as ID_USER_FQDN, else ID_FQDN.
func idPayload(id v2.Identity) *message.IDV1 {
	if a, err := netip.ParseAddr(string(id)); err == nil {
		return message.NewIDV1Addr(a)
	}
	for _, c := range id {
		if c == '@' {
			return &message.IDV1{IDType: message.IDRFC822Addr, Data: []byte(id)}
		}
	}
	return &message.IDV1{IDType: message.IDFQDN, Data: []byte(id)}
}

// idString renders a phase 1 identity for configuration lookups and logs.
func idString(id *message.IDV1) string {
	switch id.IDType {
	case message.IDIPv4Addr, message.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case message.IDFQDN, message.IDRFC822Addr:
		return string(id.Data)
	}
	return fmt.Sprintf("%v:%s", id.IDType, hex.EncodeToString(id.Data))
}

func be64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// payload accessors over a decoded chain.

func findSA(ps []message.Payload) *message.SAV1 {
	for _, p := range ps {
		if s, ok := p.(*message.SAV1); ok {
			return s
		}
	}
	return nil
}

func findKE(ps []message.Payload) []byte {
	for _, p := range ps {
		if k, ok := p.(*message.KEV1); ok {
			return k.Data
		}
	}
	return nil
}

func findData(ps []message.Payload, t message.PayloadType) []byte {
	for _, p := range ps {
		if d, ok := p.(*message.DataV1); ok && d.PayloadType == t {
			return d.Data
		}
	}
	return nil
}

func findIDs(ps []message.Payload) []*message.IDV1 {
	var out []*message.IDV1
	for _, p := range ps {
		if id, ok := p.(*message.IDV1); ok {
			out = append(out, id)
		}
	}
	return out
}
