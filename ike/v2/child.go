package v2

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// child is one CHILD_SA pair (ESP, tunnel mode).
type child struct {
	inSPI, outSPI     uint32
	suite             ikecrypto.ChildSuite
	encIn, integIn    ikecrypto.Key
	encOut, integOut  ikecrypto.Key
	localTS, remoteTS []message.Selector
	local, remote     netip.AddrPort
	encap             bool
	state             ChildState
	installed         time.Time
	rekeyAt, expireAt time.Time
	peerRekey         *child // child made by the peer's simultaneous rekey (§2.8.1)
	peerRekeyNonces   [][]byte
}

func spiStr(s uint32) string { return fmt.Sprintf("%08x", s) }

func (sa *ikeSA) findChild(pred func(*child) bool) *child {
	for _, c := range sa.children {
		if pred(c) {
			return c
		}
	}
	return nil
}

// childKeys derives the keys of a new CHILD_SA (§2.17). initiated says we
// initiated the exchange that created it: the "I" keys are then outbound.
func (sa *ikeSA) childKeys(c *child, gir, ni, nr []byte, initiated bool) error {
	k, err := ikecrypto.DeriveChildKeys(sa.prf, c.suite, sa.keys.D, gir, ni, nr)
	if err != nil {
		return err
	}
	if initiated {
		c.encOut, c.integOut, c.encIn, c.integIn = k.EncrI, k.IntegI, k.EncrR, k.IntegR
	} else {
		c.encIn, c.integIn, c.encOut, c.integOut = k.EncrI, k.IntegI, k.EncrR, k.IntegR
	}
	return nil
}

// acceptChild processes the responder's half of a CHILD_SA negotiation
// we initiated (IKE_AUTH or CREATE_CHILD_SA).
func (sa *ikeSA) acceptChild(ps []message.Payload, inSPI uint32, tsi, tsr []message.Selector, ni, nr []byte, dh *ikecrypto.PrivateKey, ikeAuth bool) (*child, error) {
	sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
	ti, _ := message.Get(ps, message.PayloadTSi).(*message.TS)
	tr, _ := message.Get(ps, message.PayloadTSr).(*message.TS)
	if sap == nil || ti == nil || tr == nil {
		return nil, errors.New("v2: CHILD_SA response lacks SA or TS")
	}
	suite, outSPI, err := acceptedESP(sa.peer.ESP, sap, ikeAuth)
	if err != nil {
		return nil, err
	}
	if !within(ti.Selectors, tsi) || !within(tr.Selectors, tsr) {
		return nil, errors.New("v2: responder widened the traffic selectors")
	}
	if message.FindNotify(ps, message.USE_TRANSPORT_MODE) != nil {
		return nil, errors.New("v2: responder chose transport mode, not requested")
	}
	var gir []byte
	if !ikeAuth && suite.DH != 0 {
		ke, _ := message.Get(ps, message.PayloadKE).(*message.KE)
		if ke == nil || dh == nil || ikecrypto.GroupID(ke.Group) != dh.Group().ID() {
			return nil, errors.New("v2: PFS response without matching KE")
		}
		if gir, err = dh.SharedSecret(ke.Data); err != nil {
			return nil, err
		}
	}
	c := &child{inSPI: inSPI, outSPI: outSPI, suite: suite, localTS: ti.Selectors, remoteTS: tr.Selectors}
	if err := sa.childKeys(c, gir, ni, nr, true); err != nil {
		return nil, err
	}
	return c, nil
}

// respondChild is the responder's CHILD_SA negotiation: proposal choice,
// PFS, narrowing (§2.9). It returns the SA/[KE]/TSi/TSr payloads of the
// answer; a refusal is a *message.NotifyError. For CREATE_CHILD_SA nr is
// our nonce (the caller sends it).
func (sa *ikeSA) respondChild(ps []message.Payload, ni, nr []byte, ikeAuth bool) ([]message.Payload, *child, error) {
	sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
	ti, _ := message.Get(ps, message.PayloadTSi).(*message.TS)
	tr, _ := message.Get(ps, message.PayloadTSr).(*message.TS)
	if sap == nil || ti == nil || tr == nil {
		return nil, nil, &message.NotifyError{Type: message.INVALID_SYNTAX, Msg: "CHILD_SA request lacks SA or TS"}
	}
	suite, prop, err := selectESP(sa.peer.ESP, sap, ikeAuth)
	if err != nil {
		return nil, nil, &message.NotifyError{Type: message.NO_PROPOSAL_CHOSEN, Msg: "no acceptable ESP proposal"}
	}
	// TSi describes the initiator's side: our remote.
	nti := narrow(ti.Selectors, selectors(sa.peer.RemoteTS, sa.peer.Remote))
	ntr := narrow(tr.Selectors, selectors(sa.peer.LocalTS, sa.peer.Local))
	if len(nti) == 0 || len(ntr) == 0 {
		return nil, nil, &message.NotifyError{Type: message.TS_UNACCEPTABLE, Msg: "traffic selectors outside our configuration"}
	}
	var gir []byte
	var out []message.Payload
	var kePayload *message.KE
	if !ikeAuth && suite.DH != 0 {
		ke, _ := message.Get(ps, message.PayloadKE).(*message.KE)
		if ke == nil || ikecrypto.GroupID(ke.Group) != suite.DH {
			return nil, nil, &message.NotifyError{Type: message.INVALID_KE_PAYLOAD, Data: message.NewInvalidKE(uint16(suite.DH)).Data}
		}
		dh, err := sa.newDH(suite.DH)
		if err != nil {
			return nil, nil, err
		}
		if gir, err = dh.SharedSecret(ke.Data); err != nil {
			return nil, nil, &message.NotifyError{Type: message.INVALID_SYNTAX, Msg: err.Error()}
		}
		kePayload = &message.KE{Group: uint16(suite.DH), Data: dh.Public()}
	}
	inSPI, err := sa.m.allocChildSPI()
	if err != nil {
		return nil, nil, err
	}
	c := &child{inSPI: inSPI, outSPI: bePeerSPI(prop.SPI), suite: suite, localTS: ntr, remoteTS: nti}
	if err := sa.childKeys(c, gir, ni, nr, false); err != nil {
		sa.m.freeChildSPI(inSPI)
		return nil, nil, err
	}
	out = append(out, chosenESP(suite, prop.Number, inSPI))
	if kePayload != nil {
		out = append(out, kePayload)
	}
	out = append(out, &message.TS{Selectors: nti}, &message.TS{Responder: true, Selectors: ntr})
	return out, c, nil
}

func bePeerSPI(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// installChild adds a negotiated CHILD_SA and tells the data plane
// (make-before-break: the replaced SA stays until its ChildDown).
func (sa *ikeSA) installChild(c *child, replaces *child) {
	now := sa.now()
	c.local, c.remote = sa.local, sa.remote
	c.encap = sa.natLocal || sa.natRemote
	c.state = ChildInstalled
	c.installed = now
	if lt := sa.peer.ChildLifetime; lt > 0 {
		c.rekeyAt = now.Add(sa.m.rekeyDelay(lt))
		c.expireAt = now.Add(lt)
	}
	sa.children = append(sa.children, c)
	ev := ChildUp{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Suite: c.suite,
		EncKeyIn: c.encIn, IntegKeyIn: c.integIn, EncKeyOut: c.encOut, IntegKeyOut: c.integOut,
		LocalTS: prefixes(c.localTS), RemoteTS: prefixes(c.remoteTS), Local: c.local, Remote: c.remote,
		Encap: c.encap}
	if replaces != nil {
		ev.Rekeyed, ev.ReplacesSPI = true, replaces.inSPI
	}
	sa.log.Info("CHILD_SA up", "in", spiStr(c.inSPI), "out", spiStr(c.outSPI), "suite", c.suite,
		"local-ts", ev.LocalTS, "remote-ts", ev.RemoteTS, "encap", c.encap, "rekeyed", replaces != nil)
	sa.m.emit(ev)
}

// removeChild drops a CHILD_SA and tells the data plane; idempotent.
func (sa *ikeSA) removeChild(c *child, reason Reason) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			sa.m.freeChildSPI(c.inSPI)
			sa.log.Info("CHILD_SA down", "in", spiStr(c.inSPI), "out", spiStr(c.outSPI), "reason", reason)
			sa.m.emit(ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
			return
		}
	}
}

// pfsGroup is the DH group for CREATE_CHILD_SA: the first ESP suite's.
func (sa *ikeSA) pfsGroup() ikecrypto.GroupID { return sa.peer.ESP[0].DH }

// startChildRekey rekeys c with CREATE_CHILD_SA (§1.3.3):
//
//	HDR, SK {N(REKEY_SA), SA, Ni, [KEi], TSi, TSr}  -->
func (sa *ikeSA) startChildRekey(c *child) {
	if c.state != ChildInstalled || sa.state != StateEstablished {
		return
	}
	c.state = ChildRekeying
	sa.enqueue(sa.createChildRequest(c))
}

// createChildRequest builds a CREATE_CHILD_SA for a new CHILD_SA, or for a
// rekey of old when it is not nil.
func (sa *ikeSA) createChildRequest(old *child) *request {
	var (
		spi   uint32
		ni    []byte
		dh    *ikecrypto.PrivateKey
		group = sa.pfsGroup()
		tsi   = selectors(sa.peer.LocalTS, sa.peer.Local)
		tsr   = selectors(sa.peer.RemoteTS, sa.peer.Remote)
	)
	if old != nil {
		tsi, tsr = old.localTS, old.remoteTS
	}
	r := &request{exch: message.CREATE_CHILD_SA}
	r.build = func() ([]message.Payload, error) {
		var err error
		if spi == 0 {
			if spi, err = sa.m.allocChildSPI(); err != nil {
				return nil, err
			}
		}
		if ni, err = sa.nonce(); err != nil {
			return nil, err
		}
		var ps []message.Payload
		if old != nil {
			ps = append(ps, message.NewRekeySA(message.ProtocolESP, old.inSPI))
		}
		ps = append(ps, espProposals(sa.peer.ESP, spi, true), &message.Nonce{Data: ni})
		if group != 0 {
			if dh, err = sa.newDH(group); err != nil {
				return nil, err
			}
			ps = append(ps, &message.KE{Group: uint16(group), Data: dh.Public()})
		}
		return append(ps, &message.TS{Selectors: tsi}, &message.TS{Responder: true, Selectors: tsr}), nil
	}
	retries := 0
	r.onResponse = func(rc *received) (bool, error) {
		ps := rc.payloads
		if n := message.FindNotify(ps, message.INVALID_KE_PAYLOAD); n != nil {
			g, ok := n.Group()
			if retries++; ok && retries <= 2 && sa.childOffersGroup(ikecrypto.GroupID(g)) {
				group = ikecrypto.GroupID(g)
				return true, nil
			}
		}
		fail := func(err error) (bool, error) {
			sa.m.freeChildSPI(spi)
			sa.log.Warn("CREATE_CHILD_SA failed", "err", err)
			if old != nil && old.state == ChildRekeying {
				old.state = ChildInstalled
				old.rekeyAt = sa.now().Add(sa.m.retryDelay())
			}
			return false, err
		}
		if err := errorNotify(ps); err != nil {
			if ne, _ := message.AsNotifyError(err); old != nil && ne.Type == message.CHILD_SA_NOT_FOUND {
				// The peer lost it (§2.25): drop ours and make a new one.
				sa.m.freeChildSPI(spi)
				sa.log.Warn("peer does not know the CHILD_SA being rekeyed", "in", spiStr(old.inSPI))
				sa.removeChild(old, ReasonPeerDeleted)
				if len(sa.children) == 0 {
					sa.enqueue(sa.createChildRequest(nil))
				}
				return false, err
			}
			return fail(err)
		}
		no, _ := message.Get(ps, message.PayloadNonce).(*message.Nonce)
		if no == nil {
			return fail(errors.New("v2: CREATE_CHILD_SA response without nonce"))
		}
		c, err := sa.acceptChild(ps, spi, tsi, tsr, ni, no.Data, dh, false)
		if err != nil {
			return fail(err)
		}
		if old == nil {
			sa.installChild(c, nil)
			return false, nil
		}
		sa.finishChildRekey(old, c, [][]byte{ni, no.Data})
		return false, nil
	}
	return r
}

func (sa *ikeSA) childOffersGroup(g ikecrypto.GroupID) bool {
	for _, s := range sa.peer.ESP {
		if s.DH == g {
			return true
		}
	}
	return false
}

// minNonce is the lowest of a pair of nonces (§2.8.1 compares the four).
func minNonce(ns [][]byte) []byte {
	if bytes.Compare(ns[0], ns[1]) < 0 {
		return ns[0]
	}
	return ns[1]
}

// finishChildRekey completes our rekey of old with the new SA c. In a
// simultaneous rekey (§2.8.1) the exchange with the lowest nonce made a
// redundant SA, which its initiator deletes; the winner deletes old.
func (sa *ikeSA) finishChildRekey(old, c *child, nonces [][]byte) {
	sa.installChild(c, old)
	if old.peerRekey != nil && bytes.Compare(minNonce(nonces), minNonce(old.peerRekeyNonces)) < 0 {
		sa.log.Info("rekey collision lost: deleting our redundant CHILD_SA", "in", spiStr(c.inSPI))
		sa.awaitPeerDelete(old)
		c.state = ChildDeleting
		c.rekeyAt = time.Time{}
		sa.enqueue(sa.deleteChildRequestReason(c, ReasonRekeyed))
		return
	}
	if old.peerRekey != nil {
		sa.log.Info("rekey collision won", "in", spiStr(c.inSPI))
	}
	old.state = ChildDeleting
	sa.enqueue(sa.deleteChildRequestReason(old, ReasonRekeyed))
}

// awaitPeerDelete marks a replaced CHILD_SA whose deletion is the peer's
// job; should the Delete never come, it expires on its own.
func (sa *ikeSA) awaitPeerDelete(c *child) {
	c.state = ChildRekeyed
	c.rekeyAt = time.Time{}
	if dl := sa.now().Add(2 * sa.giveUpAfter()); c.expireAt.IsZero() || dl.Before(c.expireAt) {
		c.expireAt = dl
	}
}

// handleCreateChild is the responder's CREATE_CHILD_SA: an IKE SA rekey
// (SA proposals for IKE), a CHILD_SA rekey (REKEY_SA) or a new CHILD_SA.
func (sa *ikeSA) handleCreateChild(rc *received) ([]message.Payload, error) {
	ps := rc.payloads
	sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
	no, _ := message.Get(ps, message.PayloadNonce).(*message.Nonce)
	if sap == nil || no == nil || len(sap.Proposals) == 0 {
		return nil, &message.NotifyError{Type: message.INVALID_SYNTAX, Msg: "CREATE_CHILD_SA without SA or nonce"}
	}
	if sa.state != StateEstablished {
		// §2.25: busy rekeying or deleting this IKE SA.
		return []message.Payload{message.NewNotify(message.TEMPORARY_FAILURE, nil)}, nil
	}
	if sap.Proposals[0].Protocol == message.ProtocolIKE {
		return sa.handleIKERekey(rc, sap, no)
	}
	var old *child
	if n := message.FindNotify(ps, message.REKEY_SA); n != nil {
		spi, ok := n.SPI32()
		if ok {
			// REKEY_SA names the sender's inbound SPI: our outbound one.
			old = sa.findChild(func(c *child) bool { return c.outSPI == spi })
		}
		if old == nil || old.state == ChildDeleting {
			return []message.Payload{&message.Notify{Protocol: message.ProtocolESP, SPI: n.SPI, NotifyType: message.CHILD_SA_NOT_FOUND}}, nil
		}
	}
	nr, err := sa.nonce()
	if err != nil {
		return nil, err
	}
	ni := append([]byte(nil), no.Data...)
	out, c, err := sa.respondChild(ps, ni, nr, false)
	if err != nil {
		if ne, ok := message.AsNotifyError(err); ok {
			return []message.Payload{message.NewNotify(ne.Type, ne.Data)}, nil
		}
		return nil, err
	}
	out = append([]message.Payload{out[0], &message.Nonce{Data: nr}}, out[1:]...)
	if old == nil {
		sa.installChild(c, nil)
		return out, nil
	}
	if old.state == ChildRekeying {
		// Simultaneous rekey: remember what the peer made; our own
		// exchange's completion decides (finishChildRekey).
		old.peerRekey, old.peerRekeyNonces = c, [][]byte{ni, nr}
	} else {
		sa.awaitPeerDelete(old) // the peer deletes it after this exchange
	}
	sa.installChild(c, old)
	return out, nil
}
