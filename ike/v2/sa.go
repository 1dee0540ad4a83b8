package v2

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ipsecgw/ipsecgw/dpd"
	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// keepaliveInterval is the NAT keepalive period (RFC 3948 §2.3: 20 s is
// the usual default).
const keepaliveInterval = 20 * time.Second

// ikeSA is one IKE SA. Every field is owned by the SA's goroutine (run),
// except status, which SAs() reads.
type ikeSA struct {
	m    *Manager
	log  *slog.Logger
	peer *Peer

	initiator  bool // original initiator (I flag, §3.1)
	spiI, spiR uint64
	state      State

	hs *handshake // IKE_SA_INIT/IKE_AUTH state, nil once established

	suite  ikecrypto.IKESuite
	prf    ikecrypto.PRF
	keys   ikecrypto.IKEKeys
	sealer *ikecrypto.Protector // our direction
	opener *ikecrypto.Protector // the peer's direction

	local, remote       netip.AddrPort
	natLocal, natRemote bool
	remoteID            string

	created, established time.Time
	rekeyAt, expireAt    time.Time
	lastSend             time.Time

	// Window (window.go).
	myMID    uint32 // next request message ID we send
	out      *request
	queue    []*request
	peerMID  uint32 // next request message ID expected from the peer
	lastResp []byte // response to request peerMID-1

	children []*child
	dpd      *dpd.Monitor

	// rekey of this IKE SA in progress (child.go).
	ikeRekey *ikeRekey
	// replacedBy is set once a rekey made a successor.
	replacedBy *ikeSA

	pendingClose *closeReq

	inbox  chan any
	done   chan struct{}
	status atomic.Pointer[IKESAStatus]
}

type closeReq struct {
	reason Reason
	err    error
}

// inPacket is a datagram for this SA.
type inPacket struct {
	raw           []byte
	msg           *message.Message // pre-parsed (IKE_SA_INIT requests), or nil
	local, remote netip.AddrPort
}

func (sa *ikeSA) now() time.Time { return sa.m.clock.Now() }

// ourSPI is the SPI the manager indexes this SA by.
func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// run is the SA goroutine.
func (sa *ikeSA) run() {
	defer close(sa.done)
	defer sa.m.wg.Done()
	for sa.state != StateClosed {
		var tc <-chan time.Time
		var t Timer
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

// post runs fn on the SA goroutine; false if the SA is gone. It never
// blocks, so it is safe from OnEvent (which runs on an SA goroutine): with
// a full inbox a helper goroutine waits for room or for the SA's end.
func (sa *ikeSA) post(fn func()) bool {
	select {
	case sa.inbox <- fn:
		return true
	case <-sa.done:
		return false
	default:
	}
	go func() {
		select {
		case sa.inbox <- fn:
		case <-sa.done:
		}
	}()
	return true
}

// nextWake is the earliest timer deadline.
func (sa *ikeSA) nextWake() time.Time {
	var t time.Time
	add := func(x time.Time) {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	if sa.out != nil {
		add(sa.out.next)
	}
	if sa.state == StateConnecting {
		add(sa.created.Add(sa.m.halfOpenTimeout))
		return t
	}
	add(sa.rekeyAt)
	add(sa.expireAt)
	for _, c := range sa.children {
		add(c.rekeyAt)
		add(c.expireAt)
	}
	if sa.dpd != nil && sa.out == nil && sa.state == StateEstablished {
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
func (sa *ikeSA) onTimer(now time.Time) {
	if sa.out != nil && !now.Before(sa.out.next) {
		sa.retransmit(now)
		if sa.state == StateClosed {
			return
		}
	}
	if sa.state == StateConnecting {
		if !now.Before(sa.created.Add(sa.m.halfOpenTimeout)) {
			sa.close(ReasonTimeout, errors.New("v2: IKE SA not established in time"))
		}
		return
	}
	if !sa.expireAt.IsZero() && !now.Before(sa.expireAt) {
		if sa.state == StateRekeyed {
			// Replaced, and the peer never deleted it: just forget it.
			sa.close(ReasonRekeyed, nil)
			return
		}
		sa.log.Info("IKE SA hard lifetime reached")
		sa.expireAt = time.Time{}
		if sa.state == StateEstablished {
			// Tell the peer (§1.4.1); the SA goes with the answer or
			// when retransmissions give up.
			sa.queue = nil
			sa.enqueue(sa.deleteIKERequest(ReasonExpired, nil))
			return
		}
		sa.close(ReasonExpired, nil)
		return
	}
	if !sa.rekeyAt.IsZero() && !now.Before(sa.rekeyAt) {
		sa.rekeyAt = time.Time{}
		sa.startIKERekey()
	}
	for _, c := range append([]*child(nil), sa.children...) {
		if !c.expireAt.IsZero() && !now.Before(c.expireAt) {
			c.expireAt = time.Time{}
			sa.log.Info("CHILD_SA hard lifetime reached", "in", spiStr(c.inSPI))
			sa.removeChild(c, ReasonExpired)
			sa.enqueue(sa.deleteChildRequest(c))
			continue
		}
		if !c.rekeyAt.IsZero() && !now.Before(c.rekeyAt) {
			c.rekeyAt = time.Time{}
			sa.startChildRekey(c)
		}
	}
	if sa.dpd != nil && sa.state == StateEstablished && sa.out == nil && len(sa.queue) == 0 {
		switch a, _ := sa.dpd.Next(now); a {
		case dpd.Probe:
			sa.enqueue(sa.livenessRequest())
		case dpd.Dead:
			sa.close(ReasonDeadPeer, errors.New("v2: DPD timeout"))
			return
		}
	}
	if sa.natLocal && sa.local.Port() == sa.m.nattPort && !now.Before(sa.lastSend.Add(keepaliveInterval)) {
		// RFC 3948 §2.3: NAT-keepalive, a single 0xFF octet.
		sa.send([]byte{0xff}, sa.local, sa.remote)
	}
}

func (sa *ikeSA) dpdConfig() dpd.Config {
	c := dpd.Config{Delay: sa.peer.DPDDelay, Timeout: sa.peer.DPDTimeout}
	if c.Delay <= 0 {
		c.Delay = dpd.DefaultDelay
	}
	if c.Timeout <= 0 {
		c.Timeout = dpd.DefaultTimeout
	}
	return c
}

// send hands a datagram to the transport.
func (sa *ikeSA) send(pkt []byte, local, remote netip.AddrPort) {
	sa.lastSend = sa.now()
	if err := sa.m.cfg.Send(pkt, local, remote); err != nil {
		sa.log.Debug("send failed", "err", err)
	}
}

// marshal encodes a message of this SA; everything but IKE_SA_INIT is
// protected in an SK payload (§3.14).
func (sa *ikeSA) marshal(exch message.ExchangeType, mid uint32, response bool, ps []message.Payload) ([]byte, error) {
	h := message.Header{SPIi: sa.spiI, SPIr: sa.spiR, MajorVersion: 2, Exchange: exch, MessageID: mid}
	if sa.initiator {
		h.Flags |= message.FlagInitiator
	}
	if response {
		h.Flags |= message.FlagResponse
	}
	m := &message.Message{Header: h}
	if exch == message.IKE_SA_INIT {
		m.Payloads = ps
		return m.Marshal()
	}
	return m.MarshalSealed(ps, sa.sealer.SealedLen, func(msg, pt []byte) error {
		n := sa.sealer.SealedLen(len(pt))
		body, err := sa.sealer.Seal(msg[:len(msg)-n], pt, sa.m.rand)
		if err != nil {
			return err
		}
		copy(msg[len(msg)-n:], body)
		return nil
	})
}

// open verifies and decrypts the SK payload. Failure means the message is
// not from the peer and must change nothing (§2.21).
func (sa *ikeSA) open(m *message.Message) ([]message.Payload, error) {
	if sa.opener == nil || len(m.Payloads) == 0 {
		return nil, errDrop
	}
	sk, ok := m.Payloads[len(m.Payloads)-1].(*message.Encrypted)
	if !ok {
		return nil, errDrop // SKF is not negotiated; cleartext is not allowed
	}
	pt, err := sa.opener.Open(sk.AAD, sk.Data)
	if err != nil {
		sa.m.stats.authFailures.Add(1)
		return nil, errDrop
	}
	return message.ParsePayloads(sk.NextPayload, pt)
}

// handlePacket parses, authenticates and dispatches one datagram.
func (sa *ikeSA) handlePacket(p inPacket) {
	m := p.msg
	if m == nil {
		var err error
		if m, err = message.ParseMessage(p.raw); err != nil {
			sa.log.Debug("unparseable message dropped", "err", err)
			return
		}
	}
	// The I flag must say the sender is the other side (§3.1).
	if m.IsInitiator() == sa.initiator {
		return
	}
	rc := &received{msg: m, local: p.local, remote: p.remote}
	if m.Exchange == message.IKE_SA_INIT {
		rc.payloads = m.Payloads
		if m.IsResponse() {
			sa.onResponse(rc)
		} else {
			sa.onRequest(rc, sa.handleInitRequest)
		}
		return
	}
	// A retransmitted request is answered from the cache before any
	// decryption (it was authenticated the first time).
	if !m.IsResponse() && sa.lastResp != nil && m.MessageID == sa.peerMID-1 {
		if _, err := sa.open(m); err == nil {
			sa.send(sa.lastResp, p.local, p.remote)
		}
		return
	}
	ps, err := sa.open(m)
	if errors.Is(err, errDrop) {
		return
	}
	rc.payloads = ps
	if err != nil {
		// Authenticated but malformed: a request gets the codec's notify
		// (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD); a response is
		// dropped.
		sa.log.Info("malformed protected message", "exchange", m.Exchange, "err", err)
		if !m.IsResponse() {
			sa.onRequest(rc, func(*received) ([]message.Payload, error) { return nil, err })
		}
		return
	}
	sa.authenticated(rc)
	if m.IsResponse() {
		sa.onResponse(rc)
	} else {
		sa.onRequest(rc, sa.dispatchRequest)
	}
	if sa.pendingClose != nil && sa.state != StateClosed {
		c := sa.pendingClose
		sa.close(c.reason, c.err)
	}
}

// authenticated records a verified message: liveness, and with a NAT in
// front of the peer the move of its address (§2.23).
func (sa *ikeSA) authenticated(rc *received) {
	if sa.dpd != nil {
		sa.dpd.Received(sa.now())
	}
	if sa.state == StateConnecting || (rc.remote == sa.remote && rc.local == sa.local) {
		return
	}
	if !sa.natRemote {
		return
	}
	from := sa.remote
	sa.remote, sa.local = rc.remote, rc.local
	sa.log.Info("peer moved", "from", from, "to", rc.remote)
	var spis []uint32
	for _, c := range sa.children {
		c.remote, c.local = sa.remote, sa.local
		spis = append(spis, c.inSPI)
	}
	sa.m.emit(PeerMoved{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, From: from, To: rc.remote, InSPIs: spis})
}

// dispatchRequest routes a protected request by exchange type.
func (sa *ikeSA) dispatchRequest(rc *received) ([]message.Payload, error) {
	switch rc.msg.Exchange {
	case message.IKE_AUTH:
		return sa.handleAuthRequest(rc)
	case message.CREATE_CHILD_SA:
		if sa.state == StateConnecting {
			return nil, errDrop
		}
		return sa.handleCreateChild(rc)
	case message.INFORMATIONAL:
		if sa.state == StateConnecting {
			return nil, errDrop
		}
		return sa.handleInformational(rc)
	}
	return nil, errDrop
}

// close tears the SA down: children first, then the IKE SA (events in
// that order so the data plane removes ESP state before the IKE SA).
func (sa *ikeSA) close(reason Reason, err error) {
	if sa.state == StateClosed {
		return
	}
	prev := sa.state
	sa.state = StateClosed
	if reason != ReasonRekeyed {
		for _, c := range sa.children {
			sa.m.emit(ChildDown{Peer: sa.peer.Name, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
			sa.m.freeChildSPI(c.inSPI)
		}
	}
	sa.children = nil
	sa.out, sa.queue = nil, nil
	sa.m.unregister(sa)
	sa.log.Info("IKE SA down", "reason", reason, "was", prev, "err", err)
	sa.m.emit(IKEDown{Peer: sa.peer.Name, SPIi: sa.spiI, SPIr: sa.spiR, Reason: reason, Err: err})
	sa.publish()
}

// closeSilently ends the SA at Manager.Close without talking to the peer.
func (sa *ikeSA) closeSilently() {
	sa.close(ReasonDeleted, errors.New("v2: manager closed"))
}

// publish stores the status snapshot read by Manager.SAs.
func (sa *ikeSA) publish() {
	st := &IKESAStatus{
		Peer: sa.peer.Name, State: sa.state, Initiator: sa.initiator, SPIi: sa.spiI, SPIr: sa.spiR,
		Suite: sa.suite, Local: sa.local, Remote: sa.remote, LocalID: string(sa.peer.localID()),
		RemoteID: sa.remoteID, NATLocal: sa.natLocal, NATRemote: sa.natRemote,
		Established: sa.established, rekeyAt: sa.rekeyAt,
	}
	for _, c := range sa.children {
		st.Children = append(st.Children, ChildSAStatus{
			State: c.state, InSPI: c.inSPI, OutSPI: c.outSPI, Suite: c.suite,
			LocalTS: prefixes(c.localTS), RemoteTS: prefixes(c.remoteTS), Encap: c.encap,
			Installed: c.installed, rekeyAt: c.rekeyAt,
		})
	}
	sa.status.Store(st)
}
