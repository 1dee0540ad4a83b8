package v2

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/message"
)

// HandlePacket takes one received IKE datagram (non-ESP marker already
// stripped on port 4500). It demultiplexes on our SPI and queues the
// message to its SA goroutine; only IKE_SA_INIT requests are examined here,
// so that refusals and cookies cost no state (§2.6). It never blocks on a
// busy SA: its queue overflowing drops the datagram, as the network could.
func (m *Manager) HandlePacket(pkt []byte, local, remote netip.AddrPort) {
	if m.closed.Load() {
		return
	}
	h, err := message.ParseHeader(pkt)
	if err != nil {
		m.stats.dropped.Add(1)
		return
	}
	if h.MajorVersion != 2 {
		// §1.5, §2.5: a higher major version gets INVALID_MAJOR_VERSION
		// naming ours; IKEv1 belongs to another negotiator.
		if h.MajorVersion > 2 && !h.IsResponse() {
			m.answerUnprotected(&h, local, remote, message.NewNotify(message.INVALID_MAJOR_VERSION, nil))
		}
		m.stats.dropped.Add(1)
		return
	}
	if h.Exchange == message.IKE_SA_INIT && !h.IsResponse() {
		m.handleInit(pkt, &h, local, remote)
		return
	}
	spi := h.SPIi
	if h.IsInitiator() {
		spi = h.SPIr
	}
	m.mu.Lock()
	sa := m.sas[spi]
	m.mu.Unlock()
	if sa == nil {
		if !h.IsResponse() {
			m.invalidSPI(&h, local, remote)
		}
		m.stats.dropped.Add(1)
		return
	}
	m.deliver(sa, inPacket{raw: bytes.Clone(pkt), local: local, remote: remote})
}

func (m *Manager) deliver(sa *ikeSA, p inPacket) {
	select {
	case sa.inbox <- p:
	default:
		m.stats.dropped.Add(1)
	}
}

// handleInit processes an IKE_SA_INIT request: a retransmission goes to
// its half-open SA; a new one is checked (syntax, configuration, cookie,
// proposal, KE group) before any state is created.
func (m *Manager) handleInit(pkt []byte, h *message.Header, local, remote netip.AddrPort) {
	key := halfKey{remote, h.SPIi}
	m.mu.Lock()
	sa := m.halfOpen[key]
	halfOpen := len(m.halfOpen)
	m.mu.Unlock()
	if sa != nil {
		m.deliver(sa, inPacket{raw: bytes.Clone(pkt), local: local, remote: remote})
		return
	}
	if h.SPIr != 0 || !h.IsInitiator() || h.MessageID != 0 || h.SPIi == 0 {
		m.stats.dropped.Add(1)
		return
	}
	msg, err := message.ParseMessage(pkt)
	if err != nil {
		if ne, ok := message.AsNotifyError(err); ok {
			m.answerUnprotected(h, local, remote, &message.Notify{NotifyType: ne.Type, Data: ne.Data})
		}
		return
	}
	var peer *Peer
	if m.cfg.Lookup != nil {
		peer, _ = m.cfg.Lookup(local, remote, nil)
	}
	if peer == nil || peer.validate() != nil {
		m.log.Info("IKE_SA_INIT from unknown peer", "remote", remote)
		m.answerUnprotected(h, local, remote, message.NewNotify(message.NO_PROPOSAL_CHOSEN, nil))
		return
	}
	if m.cookieThreshold < 0 || halfOpen >= m.cookieThreshold {
		no, _ := message.Get(msg.Payloads, message.PayloadNonce).(*message.Nonce)
		if no == nil {
			m.answerUnprotected(h, local, remote, message.NewNotify(message.INVALID_SYNTAX, nil))
			return
		}
		want := m.cookie(no.Data, remote, h.SPIi)
		var first *message.Notify
		if len(msg.Payloads) > 0 {
			first, _ = msg.Payloads[0].(*message.Notify)
		}
		if first == nil || first.NotifyType != message.COOKIE || !bytes.Equal(first.Data, want) {
			// §2.6: answer with a cookie and keep nothing.
			m.answerUnprotected(h, local, remote, message.NewCookie(want))
			return
		}
	}
	if refuse, _ := precheckInit(peer, msg.Payloads); refuse != nil {
		m.log.Info("IKE_SA_INIT refused", "remote", remote, "notify", refuse[0].(*message.Notify).NotifyType)
		m.answerUnprotected(h, local, remote, refuse...)
		return
	}
	sa = m.newSA(peer, false)
	sa.spiI, sa.spiR = h.SPIi, m.allocIKESPI()
	sa.local, sa.remote = local, remote
	sa.hs = &handshake{}
	m.mu.Lock()
	m.halfOpen[key] = sa
	m.mu.Unlock()
	m.start(sa)
	m.deliver(sa, inPacket{raw: msg.Raw, msg: msg, local: local, remote: remote})
}

// answerUnprotected sends an unencrypted response carrying notifies, with
// the request's SPIs, exchange and message ID (§2.21.1).
func (m *Manager) answerUnprotected(h *message.Header, local, remote netip.AddrPort, ps ...message.Payload) {
	r := message.Message{Header: message.Header{SPIi: h.SPIi, SPIr: h.SPIr, MajorVersion: 2,
		Exchange: h.Exchange, MessageID: h.MessageID, Flags: message.FlagResponse}}
	if !h.IsInitiator() {
		r.Flags |= message.FlagInitiator
	}
	r.Payloads = ps
	b, err := r.Marshal()
	if err != nil {
		return
	}
	m.cfg.Send(b, local, remote)
}

// invalidSPI answers a request for an unknown IKE SA with INVALID_IKE_SPI
// (§2.21.4), at most once a second so it cannot be used for reflection.
func (m *Manager) invalidSPI(h *message.Header, local, remote netip.AddrPort) {
	now := m.clock.Now()
	m.mu.Lock()
	ok := now.Sub(m.lastInvalidSPI) >= time.Second
	if ok {
		m.lastInvalidSPI = now
	}
	m.mu.Unlock()
	if ok {
		m.answerUnprotected(h, local, remote, message.NewNotify(message.INVALID_IKE_SPI, nil))
	}
}

// withPort replaces the port of an address.
func withPort(ap netip.AddrPort, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr(), port)
}
