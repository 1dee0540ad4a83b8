package v1

import (
	"bytes"
	"errors"
	"time"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// ISAKMP Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7), after
// strongSwan's informational, isakmp_delete and isakmp_dpd tasks. Once
// phase 1 is complete every Informational is one encrypted message with
// its own random message ID and IV (hash(last phase 1 block | M-ID)),
// authenticated by HASH(1) = prf(SKEYID_a, M-ID | N/D):
//
//	HDR*, HASH(1), N/D  -->
//
// Nothing is acknowledged except DPD: an R-U-THERE is answered by an
// R-U-THERE-ACK in an Informational of its own (RFC 3706 §5.1).

// dpdResendInterval spaces R-U-THEREs while the peer is silent (RFC 3706
// §5.5: each retransmission uses a new sequence number).
const dpdResendInterval = 5 * time.Second

// sendInformational sends one protected Informational message carrying ps.
func (sa *isakmpSA) sendInformational(ps ...message.Payload) {
	if sa.block == nil || sa.p1LastIV == nil {
		return
	}
	mid := sa.newMID()
	ex := &exchange{mid: mid, typ: message.ExchangeInformationalV1, iv: sa.phase2IV(mid)}
	pkt, err := sa.sealHashed(ex, func(r []byte) []byte { return ikecrypto.V1Hash1(sa.prf, sa.keys.A, mid, r) }, ps)
	if err != nil {
		sa.log.Warn("cannot build Informational", "err", err)
		return
	}
	sa.sendRaw(pkt)
}

// informationalPacket processes a protected Informational message.
func (sa *isakmpSA) informationalPacket(p inPacket, msg *message.MessageV1) {
	mid := msg.MessageID
	if mid == 0 || sa.exchanges[mid] != nil {
		return
	}
	ps, pt, _, err := sa.decrypt(msg, sa.phase2IV(mid))
	if err != nil {
		sa.log.Debug("undecryptable Informational", "err", err)
		return
	}
	hash, rest, ok := hashedRest(msg.NextPayload, pt)
	if !ok || !ikecrypto.Equal(hash, ikecrypto.V1Hash1(sa.prf, sa.keys.A, mid, rest)) {
		sa.log.Info("Informational with a bad HASH(1) ignored")
		return
	}
	// Remember the message ID for a while so that a replay is ignored and
	// cannot fake liveness.
	ex := sa.newExchange(mid, message.ExchangeInformationalV1)
	ex.received(p.raw)
	sa.finish(ex)
	sa.sawMID(mid)
	sa.authenticated(p)
	for _, pl := range ps {
		switch x := pl.(type) {
		case *message.NotifyV1:
			sa.notify(x)
		case *message.DeleteV1:
			sa.peerDelete(x)
		}
		if sa.state == v2.StateClosed {
			return
		}
	}
}

// notify handles an authenticated notification.
func (sa *isakmpSA) notify(n *message.NotifyV1) {
	cookies := append(be64(sa.spiI), be64(sa.spiR)...)
	switch n.NotifyType {
	case message.V1DPDRUThere:
		if seq, ok := n.DPDSeq(); ok && bytes.Equal(n.SPI, cookies) {
			sa.sendInformational(message.NewDPDV1(true, sa.spiI, sa.spiR, seq))
		}
	case message.V1DPDRUThereAck:
		// The ACK already counted as authenticated traffic; an ACK for a
		// sequence number we did not send is a peer bug, logged only.
		if seq, ok := n.DPDSeq(); ok && (seq-sa.dpdAcked > sa.dpdSeq-sa.dpdAcked) {
			sa.log.Debug("R-U-THERE-ACK with unexpected sequence number", "seq", seq)
		}
	case message.V1InitialContact:
		sa.m.initialContact(sa)
	default:
		if n.NotifyType < 16384 {
			sa.log.Warn("peer reports an error", "notify", n.NotifyType)
		} else {
			sa.log.Debug("notification", "notify", n.NotifyType)
		}
	}
}

// peerDelete handles an authenticated Delete payload (RFC 2408 §3.15):
// the ISAKMP SA itself by its cookies, or IPsec SAs by the peer's inbound
// SPI, which is our outbound one. Deletes are not acknowledged.
func (sa *isakmpSA) peerDelete(d *message.DeleteV1) {
	switch d.Protocol {
	case message.ProtocolIKE:
		cookies := append(be64(sa.spiI), be64(sa.spiR)...)
		for _, s := range d.SPIs {
			if bytes.Equal(s, cookies) {
				sa.log.Info("peer deleted the ISAKMP SA")
				sa.close(v2.ReasonPeerDeleted, nil)
				return
			}
		}
	case message.ProtocolESP:
		var elsewhere []uint32
		for _, s := range d.SPIs {
			spi := uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
			if !sa.deleteByOutSPI(spi) {
				elsewhere = append(elsewhere, spi)
			}
		}
		if len(elsewhere) > 0 {
			// IPsec SAs outlive the ISAKMP SA that made them; the peer may
			// delete one through another of its ISAKMP SAs with us.
			sa.m.forwardDelete(sa, elsewhere)
		}
	}
}

// deleteByOutSPI removes the IPsec SA whose outbound SPI the peer deleted.
func (sa *isakmpSA) deleteByOutSPI(spi uint32) bool {
	for _, c := range sa.children {
		if c.outSPI == spi {
			sa.deleteChild(c, v2.ReasonPeerDeleted, false)
			return true
		}
	}
	return false
}

// clearInformational looks at an unencrypted Informational: before keys
// exist it is how a peer reports a phase 1 error. It is unauthenticated,
// so it is only remembered for the reason reported if phase 1 fails.
func (sa *isakmpSA) clearInformational(msg *message.MessageV1) {
	for _, p := range msg.Payloads {
		n, ok := p.(*message.NotifyV1)
		if !ok {
			continue
		}
		sa.log.Info("unauthenticated notification from peer", "notify", n.NotifyType)
		if sa.state != v2.StateConnecting {
			continue
		}
		switch n.NotifyType {
		case message.V1NoProposalChosen:
			sa.peerErr = errProposal
		case message.V1AuthenticationFailed, message.V1InvalidHashInformation, message.V1PayloadMalformed,
			message.V1InvalidIDInformation:
			sa.peerErr = errAuth
		default:
			sa.peerErr = errors.New("v1: peer notified " + n.NotifyType.String())
		}
	}
}

// dpdTimer runs the RFC 3706 probe schedule with the product's rule: a
// probe after DPDDelay of silence, dead when nothing authenticated came
// back DPDTimeout (30 s) after the first unanswered probe.
func (sa *isakmpSA) dpdTimer(now time.Time) {
	if sa.dpd == nil {
		return
	}
	act, _ := sa.dpd.Next(now)
	switch act {
	case dpd.Dead:
		sa.log.Warn("peer dead: no answer to R-U-THERE", "timeout", sa.dpd.Config().Timeout)
		sa.close(v2.ReasonDeadPeer, errors.New("v1: DPD timeout"))
		return
	case dpd.Probe:
		sa.sendRUThere(now, true)
		sa.dpd.Probing(now)
		return
	}
	if sa.dpd.InProgress() && !now.Before(sa.dpdResend) {
		sa.sendRUThere(now, false)
	}
}

func (sa *isakmpSA) sendRUThere(now time.Time, first bool) {
	if sa.dpdSeq == 0 {
		// RFC 3706 §5.5: the first sequence number is random.
		sa.dpdSeq = sa.m.randUint32() & 0x7fffffff
	}
	sa.dpdSeq++
	if first {
		sa.dpdAcked = sa.dpdSeq
	}
	sa.dpdResend = now.Add(dpdResendInterval)
	sa.log.Debug("R-U-THERE", "seq", sa.dpdSeq)
	sa.sendInformational(message.NewDPDV1(false, sa.spiI, sa.spiR, sa.dpdSeq))
}
