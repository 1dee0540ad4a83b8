package v2

import (
	"errors"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/message"
)

// request is one exchange we initiate. The window (size one, RFC 7296
// §2.3) sends one at a time, retransmits it and hands the response to
// onResponse.
type request struct {
	exch message.ExchangeType
	// build returns the payloads (inner payloads for protected exchanges).
	build func() ([]message.Payload, error)
	// onResponse processes the (authenticated, decrypted) response. retry
	// asks the window to build and send the request again: with the same
	// message ID for IKE_SA_INIT (cookie, INVALID_KE_PAYLOAD; §1.2, §2.6),
	// with the next one otherwise.
	onResponse func(r *received) (retry bool, err error)
	// onGiveUp runs when retransmissions are exhausted (before the SA is
	// declared dead); optional.
	onGiveUp func()

	mid      uint32
	pkt      []byte
	first    time.Time // first transmission
	next     time.Time // next retransmission
	interval time.Duration
	tries    int
}

// received is an incoming message after decryption.
type received struct {
	msg           *message.Message
	payloads      []message.Payload // inner payloads (cleartext chain for IKE_SA_INIT)
	local, remote netip.AddrPort
}

// errDrop marks a message that is silently discarded.
var errDrop = errors.New("v2: message dropped")

// enqueue schedules an exchange; the window starts it when free.
func (sa *ikeSA) enqueue(r *request) {
	sa.queue = append(sa.queue, r)
	sa.kick()
}

// kick starts the next queued exchange if none is outstanding.
func (sa *ikeSA) kick() {
	for sa.out == nil && len(sa.queue) > 0 && sa.state != StateClosed {
		r := sa.queue[0]
		sa.queue = sa.queue[1:]
		if err := sa.transmit(r, sa.myMID); err != nil {
			sa.log.Warn("cannot send request", "exchange", r.exch, "err", err)
			continue
		}
	}
}

// transmit builds, sends and arms retransmission of r with message ID mid.
func (sa *ikeSA) transmit(r *request, mid uint32) error {
	ps, err := r.build()
	if err != nil {
		return err
	}
	pkt, err := sa.marshal(r.exch, mid, false, ps)
	if err != nil {
		return err
	}
	now := sa.now()
	r.mid, r.pkt, r.first, r.tries = mid, pkt, now, 0
	r.interval = sa.m.retrans.Initial
	r.next = now.Add(r.interval)
	sa.out = r
	if sa.dpd != nil {
		sa.dpd.Probing(now)
	}
	sa.log.Debug("request sent", "exchange", r.exch, "mid", mid, "len", len(pkt), "to", sa.remote)
	sa.send(pkt, sa.local, sa.remote)
	return nil
}

// giveUpAfter is how long a request may stay unanswered.
func (sa *ikeSA) giveUpAfter() time.Duration {
	if sa.peer.DPD {
		return sa.dpdConfig().Timeout
	}
	return sa.m.retrans.Timeout
}

// retransmit is called by the timer: resend with exponential backoff or
// declare the peer dead (RFC 7296 §2.1, §2.4).
func (sa *ikeSA) retransmit(now time.Time) {
	r := sa.out
	if now.Sub(r.first) >= sa.giveUpAfter() {
		sa.log.Info("no answer, peer is dead", "exchange", r.exch, "mid", r.mid, "tries", r.tries+1)
		sa.out = nil
		if r.onGiveUp != nil {
			r.onGiveUp()
		}
		reason := ReasonDeadPeer
		if sa.state == StateConnecting {
			reason = ReasonTimeout
		}
		if sa.state != StateClosed {
			sa.close(reason, errors.New("v2: retransmissions exhausted"))
		}
		return
	}
	r.tries++
	sa.m.stats.retransmits.Add(1)
	sa.send(r.pkt, sa.local, sa.remote)
	r.interval = sa.m.retrans.Next(r.interval)
	r.next = now.Add(r.interval)
	if dl := r.first.Add(sa.giveUpAfter()); r.next.After(dl) {
		r.next = dl
	}
}

// onResponse matches a response to the outstanding request (§2.3: only the
// expected message ID is accepted) and runs its handler.
func (sa *ikeSA) onResponse(rc *received) {
	r := sa.out
	if r == nil || rc.msg.MessageID != r.mid || rc.msg.Exchange != r.exch {
		sa.log.Debug("unexpected response dropped", "hdr", rc.msg.Header.String())
		return
	}
	// r stays outstanding while its handler runs, so that requests the
	// handler queues start only after the message ID moved on.
	retry, err := r.onResponse(rc)
	sa.out = nil
	if sa.state == StateClosed {
		return
	}
	if err != nil {
		sa.log.Debug("response handler", "exchange", r.exch, "err", err)
	}
	if !(retry && r.exch == message.IKE_SA_INIT) {
		sa.myMID++
	}
	if retry {
		if err := sa.transmit(r, sa.myMID); err != nil {
			sa.log.Warn("retry failed", "err", err)
		}
		return
	}
	sa.kick()
}

// onRequest applies the responder side of the window: a retransmitted
// request gets the cached response, the next one is processed, others
// are dropped (§2.3). handle returns the response payloads.
func (sa *ikeSA) onRequest(rc *received, handle func(*received) ([]message.Payload, error)) {
	mid := rc.msg.MessageID
	if sa.lastResp != nil && mid == sa.peerMID-1 {
		sa.send(sa.lastResp, rc.local, rc.remote)
		return
	}
	if mid != sa.peerMID {
		sa.log.Debug("request outside window dropped", "mid", mid, "want", sa.peerMID)
		return
	}
	ps, err := handle(rc)
	if errors.Is(err, errDrop) {
		return
	}
	if err != nil {
		ne, ok := message.AsNotifyError(err)
		if !ok {
			sa.log.Warn("request failed", "exchange", rc.msg.Exchange, "err", err)
			return
		}
		ps = []message.Payload{&message.Notify{NotifyType: ne.Type, Data: ne.Data}}
	}
	pkt, err := sa.marshal(rc.msg.Exchange, mid, true, ps)
	if err != nil {
		sa.log.Warn("cannot build response", "err", err)
		return
	}
	sa.peerMID++
	sa.lastResp = pkt
	sa.send(pkt, rc.local, rc.remote)
}
