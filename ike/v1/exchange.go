package v1

import (
	"sort"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/message"
)

// forgetAfter is how long a finished exchange is remembered so that a
// retransmission of the peer's last message is answered with ours again
// (our final message may have been lost).
const forgetAfter = 60 * time.Second

// exchange is one ISAKMP exchange in progress or recently finished: phase
// 1 (message ID 0), a Quick Mode or a DPD/Informational message. IKEv1
// has no request window; each exchange keeps its own CBC IV chain (RFC
// 2409 Appendix B) and its own retransmission state.
type exchange struct {
	mid uint32
	typ message.ExchangeType
	// iv is the CBC IV of the exchange's next message.
	iv []byte
	// lastSent is our last message, resent on timeout (waiting) or when
	// the peer repeats lastRecv.
	lastSent   []byte
	lastRecv   []byte
	lastResend time.Time
	waiting    bool // we expect an answer to lastSent
	next       time.Time
	interval   time.Duration
	deadline   time.Time
	forgetAt   time.Time
	qm         *quickMode // Quick Mode state
}

func (sa *isakmpSA) newExchange(mid uint32, typ message.ExchangeType) *exchange {
	ex := &exchange{mid: mid, typ: typ}
	sa.exchanges[mid] = ex
	return ex
}

// exchangeList returns the exchanges in message ID order.
func (sa *isakmpSA) exchangeList() []*exchange {
	out := make([]*exchange, 0, len(sa.exchanges))
	for _, ex := range sa.exchanges {
		out = append(out, ex)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mid < out[j].mid })
	return out
}

// newMID returns a random message ID not in use (RFC 2408 §3.1: phase 2
// message IDs are random and unique per ISAKMP SA).
func (sa *isakmpSA) newMID() uint32 {
	for {
		mid := sa.m.randUint32()
		if _, used := sa.exchanges[mid]; mid != 0 && !used {
			return mid
		}
	}
}

// transmit sends pkt as the exchange's latest message; with wait it is
// retransmitted until an answer arrives or the deadline passes.
func (sa *isakmpSA) transmit(ex *exchange, pkt []byte, wait bool) {
	now := sa.now()
	ex.lastSent, ex.waiting = pkt, wait
	if wait {
		ex.interval = sa.m.retrans.Initial
		ex.next = now.Add(ex.interval)
		if ex.deadline.IsZero() {
			ex.deadline = now.Add(sa.m.retrans.Timeout)
		}
	}
	sa.sendRaw(pkt)
}

// received records the peer's message that the exchange just processed
// successfully, for retransmission detection.
func (ex *exchange) received(raw []byte) {
	ex.lastRecv = raw
	ex.waiting = false
}

// finish keeps a completed exchange only to answer retransmissions.
func (sa *isakmpSA) finish(ex *exchange) {
	ex.waiting = false
	ex.forgetAt = sa.now().Add(forgetAfter)
}

// retransmit resends the exchange's last message with exponential backoff
// (RFC 2408 §5 leaves the schedule to the implementation), or gives up.
func (sa *isakmpSA) retransmit(ex *exchange, now time.Time) {
	if !now.Before(ex.deadline) {
		ex.waiting = false
		sa.exchangeTimeout(ex)
		return
	}
	sa.log.Debug("retransmitting", "exchange", ex.typ, "mid", ex.mid)
	sa.m.stats.retransmits.Add(1)
	sa.sendRaw(ex.lastSent)
	ex.interval = sa.m.retrans.Next(ex.interval)
	ex.next = now.Add(ex.interval)
}

// exchangeTimeout handles an exchange whose peer never answered.
func (sa *isakmpSA) exchangeTimeout(ex *exchange) {
	switch ex.typ {
	case message.ExchangeIdentityProtection, message.ExchangeAggressive:
		sa.failPhase1(errTimeout)
	case message.ExchangeQuickMode:
		sa.quickModeTimeout(ex)
	default:
		delete(sa.exchanges, ex.mid)
	}
}
