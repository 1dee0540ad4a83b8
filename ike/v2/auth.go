package v2

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// idPayload encodes a configured identity (§3.5).
func idPayload(id Identity, responder bool) *message.ID {
	if a, err := netip.ParseAddr(string(id)); err == nil {
		return message.NewIDAddr(responder, a)
	}
	return message.NewIDFQDN(responder, string(id))
}

// identityOf renders a received ID payload for matching and Lookup.
func identityOf(id *message.ID) Identity { return Identity(id.String()) }

// idMatches compares a received ID with the configured one; an empty
// configuration accepts any identity (the PSK still authenticates).
func idMatches(want Identity, got *message.ID) bool {
	if want == "" {
		return true
	}
	if a, err := netip.ParseAddr(string(want)); err == nil {
		b, ok := got.Addr()
		return ok && a.Unmap() == b.Unmap()
	}
	return got.IDType == message.IDFQDN && string(got.Data) == string(want)
}

// authRequest is the initiator's IKE_AUTH (§1.2):
//
//	HDR, SK {IDi, [IDr,] AUTH, N(INITIAL_CONTACT), SAi2, TSi, TSr}  -->
func (sa *ikeSA) authRequest() *request {
	hs := sa.hs
	r := &request{exch: message.IKE_AUTH}
	r.build = func() ([]message.Payload, error) {
		if hs.childSPI == 0 {
			spi, err := sa.m.allocChildSPI()
			if err != nil {
				return nil, err
			}
			hs.childSPI = spi
		}
		idi := idPayload(sa.peer.localID(), false)
		auth := ikecrypto.PSKAuth(sa.prf, sa.peer.PSK, hs.initReq, hs.nr, sa.keys.Pi, idi.Body())
		ps := []message.Payload{idi}
		if sa.peer.RemoteID != "" {
			ps = append(ps, idPayload(sa.peer.RemoteID, true))
		}
		hs.tsi = selectors(sa.peer.LocalTS, sa.peer.Local)
		hs.tsr = selectors(sa.peer.RemoteTS, sa.peer.Remote)
		ps = append(ps, &message.Auth{Method: message.AuthPSK, Data: auth},
			message.NewNotify(message.INITIAL_CONTACT, nil),
			espProposals(sa.peer.ESP, hs.childSPI, false),
			&message.TS{Selectors: hs.tsi}, &message.TS{Responder: true, Selectors: hs.tsr})
		return ps, nil
	}
	r.onResponse = sa.onAuthResponse
	return r
}

// onAuthResponse verifies the responder (§2.15) and installs the first
// CHILD_SA.
func (sa *ikeSA) onAuthResponse(rc *received) (bool, error) {
	hs, ps := sa.hs, rc.payloads
	idr, _ := message.Get(ps, message.PayloadIDr).(*message.ID)
	auth, _ := message.Get(ps, message.PayloadAUTH).(*message.Auth)
	if idr == nil || auth == nil {
		err := errorNotify(ps)
		if err == nil {
			err = errors.New("v2: IKE_AUTH response without IDr/AUTH")
		}
		sa.log.Warn("IKE_AUTH refused by peer", "err", err)
		sa.close(reasonFor(err), err)
		return false, nil
	}
	if !idMatches(sa.peer.RemoteID, idr) {
		sa.close(ReasonAuthFailed, fmt.Errorf("v2: peer identity %s, want %s", idr, sa.peer.RemoteID))
		return false, nil
	}
	want := ikecrypto.PSKAuth(sa.prf, sa.peer.PSK, hs.initResp, hs.ni, sa.keys.Pr, idr.Body())
	if auth.Method != message.AuthPSK || !ikecrypto.Equal(want, auth.Data) {
		sa.close(ReasonAuthFailed, errors.New("v2: responder AUTH does not verify (wrong PSK?)"))
		return false, nil
	}
	sa.remoteID = idr.String()
	sa.establish(rc)

	// The first CHILD_SA (§1.2): the IKE SA stands even if it failed, but
	// a gateway tunnel without it is useless, so we delete the IKE SA.
	if err := errorNotify(ps); err != nil {
		sa.log.Warn("first CHILD_SA refused", "err", err)
		sa.failAfterAuth(reasonFor(err), err)
		return false, nil
	}
	c, err := sa.acceptChild(ps, hs.childSPI, hs.tsi, hs.tsr, hs.ni, hs.nr, nil, true)
	if err != nil {
		sa.failAfterAuth(ReasonProtocolError, err)
		return false, nil
	}
	sa.hs = nil
	sa.installChild(c, nil)
	return false, nil
}

// failAfterAuth deletes an established IKE SA whose first CHILD_SA failed.
func (sa *ikeSA) failAfterAuth(reason Reason, err error) {
	sa.hs = nil
	sa.enqueue(sa.deleteIKERequest(reason, err))
}

// establish marks the IKE SA up: events, lifetimes, DPD.
func (sa *ikeSA) establish(rc *received) {
	now := sa.now()
	sa.state = StateEstablished
	sa.established = now
	if sa.peer.DPD {
		sa.dpd = dpd.New(sa.dpdConfig(), now)
	}
	if lt := sa.peer.IKELifetime; lt > 0 {
		sa.rekeyAt = now.Add(sa.m.rekeyDelay(lt))
		sa.expireAt = now.Add(lt)
	}
	sa.m.establishedSA(sa)
	sa.log.Info("IKE SA established", "suite", sa.suite, "local", sa.local, "remote", sa.remote,
		"natLocal", sa.natLocal, "natRemote", sa.natRemote)
	sa.m.emit(IKEUp{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, Local: sa.local, Remote: sa.remote,
		Initiator: sa.initiator, Suite: sa.suite})
}

// handleAuthRequest is the responder's IKE_AUTH:
//
//	<--  HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
func (sa *ikeSA) handleAuthRequest(rc *received) ([]message.Payload, error) {
	if sa.state != StateConnecting || sa.hs == nil || sa.hs.nr == nil {
		return nil, errDrop
	}
	hs, ps := sa.hs, rc.payloads
	idi, _ := message.Get(ps, message.PayloadIDi).(*message.ID)
	auth, _ := message.Get(ps, message.PayloadAUTH).(*message.Auth)
	if idi == nil || auth == nil {
		sa.pendingClose = &closeReq{ReasonProtocolError, errors.New("v2: IKE_AUTH without IDi/AUTH")}
		return nil, &message.NotifyError{Type: message.INVALID_SYNTAX}
	}
	authFail := func(err error) ([]message.Payload, error) {
		sa.log.Warn("IKE_AUTH failed", "peer-id", idi.String(), "err", err)
		sa.pendingClose = &closeReq{ReasonAuthFailed, err}
		return []message.Payload{message.NewNotify(message.AUTHENTICATION_FAILED, nil)}, nil
	}
	// The identity may select another configuration than the address did
	// (§2.15: the responder picks the PSK by IDi); it must accept the
	// suite already negotiated.
	if sa.m.cfg.Lookup != nil {
		id := identityOf(idi)
		if p, ok := sa.m.cfg.Lookup(rc.local, rc.remote, &id); ok && p != sa.peer {
			if _, _, err := selectIKE(p.IKE, chosenIKE(sa.suite, 1, nil), 0); err == nil {
				sa.peer = p
			}
		}
	}
	if !idMatches(sa.peer.RemoteID, idi) {
		return authFail(fmt.Errorf("v2: peer identity %s, want %s", idi, sa.peer.RemoteID))
	}
	want := ikecrypto.PSKAuth(sa.prf, sa.peer.PSK, hs.initReq, hs.nr, sa.keys.Pi, idi.Body())
	if auth.Method != message.AuthPSK || !ikecrypto.Equal(want, auth.Data) {
		return authFail(errors.New("v2: initiator AUTH does not verify (wrong PSK?)"))
	}
	if idr, _ := message.Get(ps, message.PayloadIDr).(*message.ID); idr != nil && !idMatches(sa.peer.localID(), idr) {
		sa.log.Info("peer expects another identity of ours", "idr", idr.String())
	}
	sa.remoteID = idi.String()
	// IKE_AUTH arrived where the initiator moved after NAT detection
	// (port 4500, §2.23): that is where the SA lives from now on.
	sa.local, sa.remote = rc.local, rc.remote
	idr := idPayload(sa.peer.localID(), true)
	out := []message.Payload{idr, &message.Auth{Method: message.AuthPSK,
		Data: ikecrypto.PSKAuth(sa.prf, sa.peer.PSK, hs.initResp, hs.ni, sa.keys.Pr, idr.Body())}}
	sa.establish(rc)
	if message.FindNotify(ps, message.INITIAL_CONTACT) != nil {
		sa.m.initialContact(sa)
	}
	// USE_TRANSPORT_MODE is not echoed: the CHILD_SA is tunnel mode, which
	// the initiator must accept (§1.3.1).
	childPs, c, err := sa.respondChild(ps, hs.ni, hs.nr, true)
	sa.hs = nil
	if err != nil {
		sa.log.Warn("first CHILD_SA refused", "err", err)
		ne, _ := message.AsNotifyError(err)
		return append(out, message.NewNotify(ne.Type, ne.Data)), nil
	}
	sa.installChild(c, nil)
	return append(out, childPs...), nil
}
