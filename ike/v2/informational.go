package v2

import (
	"fmt"

	"github.com/ipsecgw/ipsecgw/ike/message"
)

func spi64(s uint64) string { return fmt.Sprintf("%016x", s) }

// livenessRequest is an empty INFORMATIONAL (§1.4, §2.4): its answer, or
// any other authenticated message, proves the peer alive.
func (sa *ikeSA) livenessRequest() *request {
	return &request{
		exch:       message.INFORMATIONAL,
		build:      func() ([]message.Payload, error) { return nil, nil },
		onResponse: func(*received) (bool, error) { return false, nil },
	}
}

// deleteIKERequest deletes the IKE SA and with it every CHILD_SA (§1.4.1).
// The SA is gone once answered, or once the peer fails to answer.
func (sa *ikeSA) deleteIKERequest(reason Reason, cause error) *request {
	done := func() {
		if sa.state != StateClosed {
			sa.close(reason, cause)
		}
	}
	return &request{
		exch: message.INFORMATIONAL,
		build: func() ([]message.Payload, error) {
			if sa.state != StateRekeyed {
				sa.state = StateDeleting
			}
			return []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}}, nil
		},
		onResponse: func(*received) (bool, error) { done(); return false, nil },
		onGiveUp:   done,
	}
}

// deleteChildRequest deletes a CHILD_SA that is already out of service.
func (sa *ikeSA) deleteChildRequest(c *child) *request {
	return sa.deleteChildRequestReason(c, ReasonDeleted)
}

// deleteChildRequestReason deletes c (§1.4.1: the Delete carries our
// inbound SPI); it leaves the data plane once the peer answered.
func (sa *ikeSA) deleteChildRequestReason(c *child, reason Reason) *request {
	return &request{
		exch: message.INFORMATIONAL,
		build: func() ([]message.Payload, error) {
			return []message.Payload{&message.Delete{Protocol: message.ProtocolESP, SPIs: []uint32{c.inSPI}}}, nil
		},
		onResponse: func(*received) (bool, error) { sa.removeChild(c, reason); return false, nil },
		onGiveUp:   func() { sa.removeChild(c, reason) },
	}
}

// handleInformational answers Delete payloads and liveness checks (§1.4).
func (sa *ikeSA) handleInformational(rc *received) ([]message.Payload, error) {
	var ours []uint32
	for _, p := range rc.payloads {
		switch d := p.(type) {
		case *message.Delete:
			switch d.Protocol {
			case message.ProtocolIKE:
				reason := ReasonPeerDeleted
				if sa.state == StateRekeyed {
					reason = ReasonRekeyed
				}
				sa.log.Info("peer deletes the IKE SA")
				sa.pendingClose = &closeReq{reason: reason}
				return nil, nil
			case message.ProtocolESP:
				for _, spi := range d.SPIs {
					c := sa.findChild(func(c *child) bool { return c.outSPI == spi })
					if c == nil {
						continue
					}
					reason := ReasonPeerDeleted
					if c.state == ChildRekeyed {
						reason = ReasonRekeyed
					}
					// In a simultaneous delete both sides answer with the
					// SPI too (§1.4.1); removal is idempotent.
					ours = append(ours, c.inSPI)
					sa.removeChild(c, reason)
				}
			}
		case *message.Notify:
			if p.(*message.Notify).NotifyType < 16384 {
				sa.log.Info("peer reports an error", "notify", d.NotifyType)
			}
		}
	}
	if len(ours) > 0 {
		return []message.Payload{&message.Delete{Protocol: message.ProtocolESP, SPIs: ours}}, nil
	}
	return nil, nil
}

// terminate is Manager.Terminate on the SA goroutine.
func (sa *ikeSA) terminate() {
	switch sa.state {
	case StateClosed:
	case StateConnecting:
		sa.close(ReasonDeleted, nil)
	default:
		sa.queue = nil
		sa.enqueue(sa.deleteIKERequest(ReasonDeleted, nil))
	}
}
