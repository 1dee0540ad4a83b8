package v1

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// keepaliveInterval is the NAT keepalive period (RFC 3948 §2.3: 20 s is
// the usual default).
const keepaliveInterval = 20 * time.Second

// maxQueued bounds the Quick Mode and Informational messages kept while
// phase 1 completes (a strongSwan initiator sends AM3 and QM1 back to
// back; the QM1 may arrive first).
const maxQueued = 4

// isakmpSA is one ISAKMP (phase 1) SA. Every field is owned by the SA's
// goroutine (run), except status, which SAs() reads.
type isakmpSA struct {
	m    *Manager
	log  *slog.Logger
	peer *Peer

	initiator  bool // we sent the first phase 1 message
	aggressive bool
	spiI, spiR uint64 // CKY-I, CKY-R
	state      v2.State

	p1 *phase1 // handshake state, nil once established

	suite ikecrypto.IKESuite
	prf   ikecrypto.PRF
	keys  ikecrypto.V1Keys
	block cipher.Block // phase 1 cipher with keys.Enc
	// p1LastIV is the CBC state after the last phase 1 message, from
	// which every phase 2 IV derives (RFC 2409 Appendix B).
	p1LastIV []byte

	local, remote       netip.AddrPort
	natt                bool // both sent the RFC 3947 vendor ID
	natLocal, natRemote bool
	peerDPD             bool // the peer sent the DPD vendor ID
	remoteID            string

	created, established time.Time
	lifetime             time.Duration
	reauthAt, expireAt   time.Time
	lastSend             time.Time

	exchanges map[uint32]*exchange // by message ID; 0 is phase 1
	children  []*child
	dpd       *dpd.Monitor
	dpdSeq    uint32    // last R-U-THERE sequence number sent
	dpdAcked  uint32    // first sequence number of the current probe round
	dpdResend time.Time // next R-U-THERE while probing

	queued []inPacket // phase 2 messages that arrived before phase 1 completed
	// seenMIDs holds the message IDs of every phase 2 exchange the peer
	// started, so that a replay after its exchange was forgotten is still
	// refused (it would otherwise fake liveness for DPD).
	seenMIDs map[uint32]struct{}

	reauth      *reauthInfo     // this SA re-authenticates an older one
	adopted     bool            // a newer ISAKMP SA of the peer took our IPsec SAs
	lateDeletes map[uint32]bool // outbound SPIs the peer deleted before their adoption reached us
	reauthing   bool            // a successor is being negotiated
	peerErr     error           // last (unauthenticated) error notification during phase 1
	retryQMAt   time.Time       // retry the first Quick Mode
	initialDone bool            // the first Quick Mode has completed

	halfOpen bool // counted in Manager.halfOpen; guarded by Manager.mu

	inbox  chan any
	done   chan struct{}
	status atomic.Pointer[v2.IKESAStatus]
}

// child is one IPsec SA pair (ESP, tunnel mode).
type child struct {
	inSPI, outSPI     uint32
	suite             ikecrypto.ChildSuite
	localTS, remoteTS netip.Prefix
	encap             bool
	state             v2.ChildState
	installed         time.Time
	life              time.Duration
	rekeyAt, expireAt time.Time
	retireAt          time.Time // a rekeyed SA leaves after a grace period
	// gen counts rekeys (the replaced SA's gen + 1) and nonceKey is the
	// lower of the Quick Mode's nonces: when both ends rekey at once, the
	// two new SAs have the same gen and the one with the lower nonceKey
	// goes (the rule of RFC 7296 §2.8.1, which IKEv1 lacks), on both ends.
	gen       int
	nonceKey  []byte
	announced bool // ChildUp was emitted
}

// reauthInfo links a re-authenticating ISAKMP SA to the one it replaces.
type reauthInfo struct {
	old        *isakmpSA
	spiI, spiR uint64
	children   []*child // the old SA's IPsec SAs, to rebuild on the new one
}

// inPacket is a datagram for this SA.
type inPacket struct {
	raw           []byte
	msg           *message.MessageV1 // pre-parsed, or nil
	local, remote netip.AddrPort
}

func (sa *isakmpSA) now() time.Time { return sa.m.clock.Now() }

func (sa *isakmpSA) ourCookie() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// run is the SA goroutine.
func (sa *isakmpSA) run() {
	defer close(sa.done)
	defer sa.m.wg.Done()
	for sa.state != v2.StateClosed {
		var tc <-chan time.Time
		var t v2.Timer
		if next := sa.nextWake(); !next.IsZero() {
			t = sa.m.clock.NewTimer(max(next.Sub(sa.now()), 0))
			tc = t.C()
		}
		select {
		case ev := <-sa.inbox:
			switch e := ev.(type) {
			case inPacket:
				sa.handlePacket(e)
			case func():
				e()
			}
		case <-tc:
			sa.onTimer(sa.now())
		case <-sa.m.quit:
			if t != nil {
				t.Stop()
			}
			sa.closeSilently()
			return
		}
		if t != nil {
			t.Stop()
		}
		sa.publish()
	}
}

// post runs fn on the SA goroutine; false if the SA is gone.
func (sa *isakmpSA) post(fn func()) bool {
	select {
	case sa.inbox <- fn:
		return true
	case <-sa.done:
		return false
	}
}

// deliver hands a datagram to the SA without blocking the socket reader:
// when the inbox is full the datagram is dropped, like on a busy link.
func (sa *isakmpSA) deliver(p inPacket) {
	select {
	case sa.inbox <- p:
	case <-sa.done:
	default:
	}
}

// nextWake is the earliest timer deadline.
func (sa *isakmpSA) nextWake() time.Time {
	var t time.Time
	add := func(x time.Time) {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	for _, ex := range sa.exchanges {
		if ex.waiting {
			add(ex.next)
		}
		add(ex.forgetAt)
	}
	if sa.state == v2.StateConnecting {
		add(sa.created.Add(sa.m.halfOpenTimeout))
		return t
	}
	add(sa.reauthAt)
	add(sa.expireAt)
	add(sa.retryQMAt)
	for _, c := range sa.children {
		add(c.rekeyAt)
		add(c.expireAt)
		add(c.retireAt)
	}
	if sa.dpd != nil && sa.state == v2.StateEstablished {
		if sa.dpd.InProgress() {
			add(sa.dpdResend)
		}
		_, at := sa.dpd.Next(sa.now())
		if at.IsZero() {
			at = sa.now()
		}
		add(at)
	}
	if sa.natLocal && sa.local.Port() == sa.m.nattPort {
		add(sa.lastSend.Add(keepaliveInterval))
	}
	return t
}

// onTimer runs every deadline that has passed.
func (sa *isakmpSA) onTimer(now time.Time) {
	for _, ex := range sa.exchangeList() {
		if ex.waiting && !now.Before(ex.next) {
			sa.retransmit(ex, now)
			if sa.state == v2.StateClosed {
				return
			}
		}
		if !ex.forgetAt.IsZero() && !now.Before(ex.forgetAt) {
			delete(sa.exchanges, ex.mid)
		}
	}
	if sa.state == v2.StateConnecting {
		if !now.Before(sa.created.Add(sa.m.halfOpenTimeout)) {
			sa.failPhase1(errors.New("v1: phase 1 not completed in time"))
		}
		return
	}
	if !sa.expireAt.IsZero() && !now.Before(sa.expireAt) {
		sa.log.Info("ISAKMP SA lifetime reached")
		sa.terminateWith(v2.ReasonExpired)
		return
	}
	if !sa.reauthAt.IsZero() && !now.Before(sa.reauthAt) {
		sa.reauthAt = time.Time{}
		sa.startReauth()
	}
	if !sa.retryQMAt.IsZero() && !now.Before(sa.retryQMAt) {
		sa.retryQMAt = time.Time{}
		sa.startQuickMode(nil)
	}
	for _, c := range append([]*child(nil), sa.children...) {
		switch {
		case !c.retireAt.IsZero() && !now.Before(c.retireAt):
			c.retireAt = time.Time{}
			if !sa.hasSuccessor(c) {
				// The successor went away meanwhile (both ends rekeyed at
				// once and each deleted the other's): keep this one.
				sa.log.Info("rekeyed IPsec SA kept: its successor is gone", "in", spiStr(c.inSPI))
				c.state, c.rekeyAt = v2.ChildInstalled, now.Add(qmRetry)
				continue
			}
			sa.deleteChild(c, v2.ReasonRekeyed, true)
		case !c.expireAt.IsZero() && !now.Before(c.expireAt):
			sa.log.Info("IPsec SA lifetime reached", "in", spiStr(c.inSPI))
			sa.deleteChild(c, v2.ReasonExpired, true)
		case !c.rekeyAt.IsZero() && !now.Before(c.rekeyAt):
			c.rekeyAt = time.Time{}
			if c.state == v2.ChildInstalled && !sa.reauthing {
				sa.startQuickMode(c)
			}
		}
	}
	if sa.state != v2.StateEstablished {
		return
	}
	sa.dpdTimer(now)
	if sa.state == v2.StateClosed {
		return
	}
	if sa.natLocal && sa.local.Port() == sa.m.nattPort && !now.Before(sa.lastSend.Add(keepaliveInterval)) {
		// RFC 3948 §2.3: a single 0xFF octet keeps the NAT mapping.
		sa.m.cfg.Send([]byte{0xff}, sa.local, sa.remote)
		sa.lastSend = now
	}
}

// hasSuccessor reports whether another installed IPsec SA carries c's
// selectors.
func (sa *isakmpSA) hasSuccessor(c *child) bool {
	for _, x := range sa.children {
		if x != c && x.state == v2.ChildInstalled && x.localTS == c.localTS && x.remoteTS == c.remoteTS {
			return true
		}
	}
	return false
}

// handlePacket processes one datagram for this SA.
func (sa *isakmpSA) handlePacket(p inPacket) {
	msg := p.msg
	if msg == nil {
		var err error
		if msg, err = message.ParseMessageV1(p.raw); err != nil {
			sa.log.Debug("dropping unparsable message", "err", err)
			sa.m.stats.dropped.Add(1)
			return
		}
	}
	if sa.initiator && sa.spiR != 0 && msg.SPIr != sa.spiR && msg.SPIr != 0 {
		return
	}
	// A retransmission of a message already processed: the peer lost our
	// answer, so resend it (RFC 2408 §5 leaves this to the implementation;
	// strongSwan does the same).
	if ex := sa.exchanges[msg.MessageID]; ex != nil && ex.lastRecv != nil && bytes.Equal(ex.lastRecv, p.raw) {
		if ex.lastSent != nil && sa.now().Sub(ex.lastResend) > 500*time.Millisecond {
			ex.lastResend = sa.now()
			sa.log.Debug("retransmission received, resending", "mid", msg.MessageID)
			sa.sendRaw(ex.lastSent)
		}
		return
	}
	if _, seen := sa.seenMIDs[msg.MessageID]; seen && sa.exchanges[msg.MessageID] == nil {
		return // replay of a finished exchange
	}
	switch msg.Exchange {
	case message.ExchangeIdentityProtection, message.ExchangeAggressive:
		if msg.MessageID != 0 || sa.state != v2.StateConnecting || sa.p1 == nil {
			return
		}
		if (msg.Exchange == message.ExchangeAggressive) != sa.aggressive {
			return
		}
		sa.phase1Packet(p, msg)
	case message.ExchangeQuickMode, message.ExchangeInformationalV1:
		if sa.state == v2.StateConnecting {
			if msg.Ciphertext == nil && msg.Exchange == message.ExchangeInformationalV1 {
				sa.clearInformational(msg)
				return
			}
			if msg.Ciphertext != nil && len(sa.queued) < maxQueued {
				sa.log.Debug("phase 2 message before phase 1 completed: queued", "exchange", msg.Exchange, "mid", msg.MessageID)
				sa.queued = append(sa.queued, p)
			}
			return
		}
		if msg.Ciphertext == nil {
			if msg.Exchange == message.ExchangeInformationalV1 {
				sa.clearInformational(msg)
			}
			return
		}
		if msg.Exchange == message.ExchangeQuickMode {
			sa.quickModePacket(p, msg)
		} else {
			sa.informationalPacket(p, msg)
		}
	}
}

// authenticated records a valid, authenticated message from the peer: DPD
// liveness and NAT mapping changes (RFC 3947 §4 lets the responder follow
// the initiator's new port; only authenticated messages may move it).
func (sa *isakmpSA) authenticated(p inPacket) {
	if sa.dpd != nil {
		sa.dpd.Received(sa.now())
	}
	if p.remote == sa.remote && p.local == sa.local {
		return
	}
	if !sa.natt {
		return // without NAT-T the peer stays where phase 1 found it
	}
	if sa.local.Port() == sa.m.nattPort && p.local.Port() != sa.m.nattPort {
		return // RFC 3947 §4: once floated to 4500, IKE stays there (a late port-500 message)
	}
	from := sa.remote
	sa.remote, sa.local = p.remote, p.local
	if sa.state == v2.StateEstablished && from != p.remote {
		ev := v2.PeerMoved{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, From: from, To: p.remote}
		for _, c := range sa.children {
			ev.InSPIs = append(ev.InSPIs, c.inSPI)
		}
		sa.log.Info("peer moved", "from", from, "to", p.remote)
		sa.m.emit(ev)
	}
}

// maxSeenMIDs bounds seenMIDs: a DPD probe every 30 s for a day is ~2900.
const maxSeenMIDs = 16384

// sawMID records a message ID the peer used for a new phase 2 exchange.
func (sa *isakmpSA) sawMID(mid uint32) {
	if sa.seenMIDs == nil || len(sa.seenMIDs) >= maxSeenMIDs {
		sa.seenMIDs = map[uint32]struct{}{}
	}
	sa.seenMIDs[mid] = struct{}{}
}

// sendRaw sends an encoded message from the SA's current addresses.
func (sa *isakmpSA) sendRaw(pkt []byte) {
	if err := sa.m.cfg.Send(pkt, sa.local, sa.remote); err != nil {
		sa.log.Debug("send failed", "err", err)
	}
	sa.lastSend = sa.now()
}

// header returns an ISAKMP header of this SA.
func (sa *isakmpSA) header(ex message.ExchangeType, mid uint32) message.Header {
	return message.Header{SPIi: sa.spiI, SPIr: sa.spiR, MajorVersion: 1, Exchange: ex, MessageID: mid}
}

// encrypt marshals ps under the SA's phase 1 cipher with iv and returns
// the message and the IV of the chain's next message.
func (sa *isakmpSA) encrypt(h message.Header, ps []message.Payload, iv []byte) ([]byte, []byte, error) {
	var next []byte
	pkt, err := (&message.MessageV1{Header: h}).MarshalEncryptedV1(ps, func(pt []byte) ([]byte, error) {
		var ct []byte
		ct, next = ikecrypto.V1Encrypt(sa.block, iv, pt)
		return ct, nil
	})
	return pkt, next, err
}

// decrypt opens an encrypted message with iv: the plaintext payload chain,
// the plaintext itself (hashes cover its bytes) and the next IV.
func (sa *isakmpSA) decrypt(msg *message.MessageV1, iv []byte) ([]message.Payload, []byte, []byte, error) {
	if sa.block == nil {
		return nil, nil, nil, errors.New("v1: encrypted message before keys")
	}
	pt, next, err := ikecrypto.V1Decrypt(sa.block, iv, msg.Ciphertext)
	if err != nil {
		return nil, nil, nil, err
	}
	ps, err := message.ParsePayloadsV1(msg.NextPayload, pt)
	if err != nil {
		return nil, nil, nil, err
	}
	return ps, pt, next, nil
}

// phase2IV is the first IV of a phase 2 exchange (RFC 2409 Appendix B).
func (sa *isakmpSA) phase2IV(mid uint32) []byte {
	return ikecrypto.V1Phase2IV(sa.prf.Hash(), sa.p1LastIV, mid, sa.block.BlockSize())
}

// terminate deletes the SA and its IPsec SAs, telling the peer.
func (sa *isakmpSA) terminate() { sa.terminateWith(v2.ReasonDeleted) }

func (sa *isakmpSA) terminateWith(reason v2.Reason) {
	if sa.state == v2.StateClosed {
		return
	}
	if sa.state == v2.StateEstablished || sa.state == v2.StateRekeyed {
		// One Delete per message, IPsec SAs first: strongSwan acts on the
		// first Delete payload of an Informational only.
		for _, c := range append([]*child(nil), sa.children...) {
			sa.deleteChild(c, reason, true)
		}
		sa.sendInformational(message.NewDeleteV1ISAKMP(sa.spiI, sa.spiR))
	}
	sa.close(reason, nil)
}

// close ends the SA: its IPsec SAs go down first, then the ISAKMP SA.
func (sa *isakmpSA) close(reason v2.Reason, err error) {
	if sa.state == v2.StateClosed {
		return
	}
	for _, c := range sa.children {
		r := reason
		if c.state == v2.ChildRekeyed {
			r = v2.ReasonRekeyed
		}
		if c.announced {
			sa.m.emit(v2.ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: r})
		}
		sa.m.freeSPI(c.inSPI)
	}
	sa.children = nil
	if sa.adopted && (reason == v2.ReasonPeerDeleted || reason == v2.ReasonExpired || reason == v2.ReasonDeleted) {
		reason = v2.ReasonRekeyed // its successor carries the tunnel on
	}
	for _, ex := range sa.exchanges {
		if ex.qm != nil && ex.qm.inSPI != 0 {
			sa.m.freeSPI(ex.qm.inSPI)
		}
	}
	sa.exchanges = map[uint32]*exchange{}
	if err != nil {
		sa.log.Info("ISAKMP SA down", "reason", reason, "err", err)
	} else {
		sa.log.Info("ISAKMP SA down", "reason", reason)
	}
	sa.state = v2.StateClosed
	sa.publish()
	sa.m.unregister(sa)
	sa.m.emit(v2.IKEDown{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, Reason: reason, Err: err})
}

// closeSilently is Close's path: no messages, no events.
func (sa *isakmpSA) closeSilently() {
	sa.state = v2.StateClosed
	sa.publish()
	sa.m.unregister(sa)
}

// publish stores a status snapshot for SAs().
func (sa *isakmpSA) publish() {
	st := &v2.IKESAStatus{
		Peer: sa.peer.Name, State: sa.state, Initiator: sa.initiator, SPIi: sa.spiI, SPIr: sa.spiR,
		Suite: sa.suite, Local: sa.local, Remote: sa.remote, LocalID: string(sa.peer.localID()),
		RemoteID: sa.remoteID, NATLocal: sa.natLocal, NATRemote: sa.natRemote, Established: sa.established,
	}
	now := sa.now()
	if !sa.reauthAt.IsZero() {
		st.RekeyIn = max(sa.reauthAt.Sub(now), 0)
	}
	for _, c := range sa.children {
		cs := v2.ChildSAStatus{State: c.state, InSPI: c.inSPI, OutSPI: c.outSPI, Suite: c.suite,
			LocalTS: []netip.Prefix{c.localTS}, RemoteTS: []netip.Prefix{c.remoteTS}, Encap: c.encap, Installed: c.installed}
		if !c.rekeyAt.IsZero() {
			cs.RekeyIn = max(c.rekeyAt.Sub(now), 0)
		}
		st.Children = append(st.Children, cs)
	}
	sa.status.Store(st)
}

// adopt takes over IPsec SAs from an older ISAKMP SA of the same peer.
func (sa *isakmpSA) adopt(cs []*child) {
	if sa.state != v2.StateEstablished {
		sa.m.log.Warn("v1: adopting IPsec SAs into a closed ISAKMP SA")
		for _, c := range cs {
			sa.m.emit(v2.ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: v2.ReasonDeleted})
			sa.m.freeSPI(c.inSPI)
		}
		return
	}
	for _, c := range cs {
		if sa.lateDeletes[c.outSPI] {
			sa.m.emit(v2.ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: v2.ReasonPeerDeleted})
			sa.m.freeSPI(c.inSPI)
			continue
		}
		for _, x := range sa.children {
			if x.state == v2.ChildInstalled && x.localTS == c.localTS && x.remoteTS == c.remoteTS {
				// Already rebuilt here by a Quick Mode that overtook the
				// adoption: retire the old one as a rekeyed SA.
				c.state, c.rekeyAt, c.retireAt = v2.ChildRekeyed, time.Time{}, sa.now().Add(rekeyGrace)
			}
		}
		sa.children = append(sa.children, c)
	}
	sa.lateDeletes = nil
	sa.initialDone = true
	sa.log.Info("adopted IPsec SAs", "count", len(cs))
}

func spiStr(s uint32) string { return fmt.Sprintf("%08x", s) }
