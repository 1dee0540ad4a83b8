package v2

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// ikeRekey marks a rekey of this IKE SA that we initiated.
type ikeRekey struct{}

// startIKERekey rekeys the IKE SA with CREATE_CHILD_SA (§1.3.2):
//
//	HDR, SK {SA, Ni, KEi}  -->
//	                   <--  HDR, SK {SA, Nr, KEr}
//
// The new SA's SKEYSEED comes from the old SK_d (§2.18); the CHILD_SAs
// move to it and the old one is deleted by us, its rekey initiator.
// A simultaneous rekey by the peer is answered with TEMPORARY_FAILURE
// (§2.25), and whoever is refused retries after a random delay.
func (sa *ikeSA) startIKERekey() {
	if sa.state != StateEstablished {
		return
	}
	sa.state = StateRekeying
	sa.ikeRekey = &ikeRekey{}
	var (
		spi   uint64
		ni    []byte
		dh    *ikecrypto.PrivateKey
		group = sa.peer.IKE[0].DH
	)
	r := &request{exch: message.CREATE_CHILD_SA}
	r.build = func() ([]message.Payload, error) {
		var err error
		if spi == 0 {
			spi = sa.m.allocIKESPI()
		}
		if ni, err = sa.nonce(); err != nil {
			return nil, err
		}
		if dh, err = sa.newDH(group); err != nil {
			return nil, err
		}
		return []message.Payload{ikeProposals(sa.peer.IKE, binary.BigEndian.AppendUint64(nil, spi)),
			&message.Nonce{Data: ni}, &message.KE{Group: uint16(group), Data: dh.Public()}}, nil
	}
	retries := 0
	r.onResponse = func(rc *received) (bool, error) {
		ps := rc.payloads
		if n := message.FindNotify(ps, message.INVALID_KE_PAYLOAD); n != nil {
			if g, ok := n.Group(); ok && retries < 2 && sa.offersGroup(ikecrypto.GroupID(g)) {
				retries++
				group = ikecrypto.GroupID(g)
				return true, nil
			}
		}
		fail := func(err error) (bool, error) {
			sa.log.Warn("IKE SA rekey failed", "err", err)
			sa.ikeRekey = nil
			if sa.state == StateRekeying {
				sa.state = StateEstablished
				sa.rekeyAt = sa.now().Add(sa.m.retryDelay())
			}
			return false, err
		}
		if err := errorNotify(ps); err != nil {
			return fail(err)
		}
		sap, _ := message.Get(ps, message.PayloadSA).(*message.SA)
		no, _ := message.Get(ps, message.PayloadNonce).(*message.Nonce)
		ke, _ := message.Get(ps, message.PayloadKE).(*message.KE)
		if sap == nil || no == nil || ke == nil {
			return fail(errors.New("v2: IKE rekey response lacks SA, Nonce or KE"))
		}
		suite, prop, err := acceptedIKE(sa.peer.IKE, sap, 8)
		if err != nil || ikecrypto.GroupID(ke.Group) != group || suite.DH != group {
			return fail(errors.New("v2: IKE rekey response does not match the offer"))
		}
		gir, err := dh.SharedSecret(ke.Data)
		if err != nil {
			return fail(err)
		}
		nr := append([]byte(nil), no.Data...)
		n, err := sa.successor(true, spi, binary.BigEndian.Uint64(prop.SPI), suite, gir, ni, nr)
		if err != nil {
			return fail(err)
		}
		sa.handOver(n)
		sa.enqueue(sa.deleteIKERequest(ReasonRekeyed, nil))
		return false, nil
	}
	sa.enqueue(r)
}

// successor builds the IKE SA that replaces sa (§2.18). initiator says we
// initiated the rekey, which makes us the new SA's original initiator.
func (sa *ikeSA) successor(initiator bool, spiI, spiR uint64, s ikecrypto.IKESuite, gir, ni, nr []byte) (*ikeSA, error) {
	n := sa.m.newSA(sa.peer, initiator)
	n.spiI, n.spiR = spiI, spiR
	// The old SA's PRF makes SKEYSEED; the new suite expands it.
	skeyseed := ikecrypto.RekeySKEYSEED(sa.prf, sa.keys.D, gir, ni, nr)
	if err := n.deriveKeys(s, skeyseed, ni, nr); err != nil {
		return nil, err
	}
	n.local, n.remote = sa.local, sa.remote
	n.natLocal, n.natRemote = sa.natLocal, sa.natRemote
	n.remoteID = sa.remoteID
	return n, nil
}

// handOver moves the CHILD_SAs to the successor and starts it.
func (sa *ikeSA) handOver(n *ikeSA) {
	now := sa.now()
	for _, c := range sa.children {
		if c.state == ChildRekeying {
			// Its exchange died with the old SA; try again soon.
			c.state = ChildInstalled
			c.rekeyAt = now.Add(sa.m.retryDelay())
		}
	}
	n.children, sa.children = sa.children, nil
	n.state = StateEstablished
	n.established = now
	if n.peer.DPD {
		n.dpd = dpd.New(n.dpdConfig(), now)
	}
	if lt := n.peer.IKELifetime; lt > 0 {
		n.rekeyAt = now.Add(sa.m.rekeyDelay(lt))
		n.expireAt = now.Add(lt)
	}
	sa.replacedBy = n
	sa.state = StateRekeyed
	sa.ikeRekey = nil
	sa.rekeyAt, sa.expireAt = time.Time{}, now.Add(2*sa.giveUpAfter())
	sa.m.start(n)
	sa.log.Info("IKE SA rekeyed", "new-spii", spi64(n.spiI), "new-spir", spi64(n.spiR), "suite", n.suite)
	sa.m.emit(IKEUp{Peer: n.peer.Name, SPIi: n.spiI, SPIr: n.spiR, Local: n.local, Remote: n.remote,
		Initiator: n.initiator, Suite: n.suite, Rekeyed: true, ReplacesSPIi: sa.spiI, ReplacesSPIr: sa.spiR})
}

// handleIKERekey is the responder's side of an IKE SA rekey.
func (sa *ikeSA) handleIKERekey(rc *received, sap *message.SA, no *message.Nonce) ([]message.Payload, error) {
	ke, _ := message.Get(rc.payloads, message.PayloadKE).(*message.KE)
	suite, prop, err := selectIKE(sa.peer.IKE, sap, 8)
	if err != nil {
		return []message.Payload{message.NewNotify(message.NO_PROPOSAL_CHOSEN, nil)}, nil
	}
	if ke == nil || ikecrypto.GroupID(ke.Group) != suite.DH {
		return []message.Payload{message.NewInvalidKE(uint16(suite.DH))}, nil
	}
	dh, err := sa.newDH(suite.DH)
	if err != nil {
		return nil, err
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, &message.NotifyError{Type: message.INVALID_SYNTAX, Msg: err.Error()}
	}
	nr, err := sa.nonce()
	if err != nil {
		return nil, err
	}
	ni := append([]byte(nil), no.Data...)
	spiR := sa.m.allocIKESPI()
	n, err := sa.successor(false, binary.BigEndian.Uint64(prop.SPI), spiR, suite, gir, ni, nr)
	if err != nil {
		return nil, err
	}
	sa.handOver(n)
	return []message.Payload{chosenIKE(suite, prop.Number, binary.BigEndian.AppendUint64(nil, spiR)),
		&message.Nonce{Data: nr}, &message.KE{Group: uint16(suite.DH), Data: dh.Public()}}, nil
}
