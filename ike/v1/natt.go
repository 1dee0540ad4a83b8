package v1

import (
	"bytes"
	"io"
	"net/netip"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// NAT traversal for IKEv1 (RFC 3947), after strongSwan's isakmp_natd and
// isakmp_vendor tasks: both ends announce the RFC 3947 vendor ID in the
// first two messages; NAT-D payloads follow in MM3/MM4 (AM2/AM3); if a NAT
// is detected the initiator floats to port 4500 for MM5 (AM3), and ESP is
// encapsulated in UDP (encapsulation mode UDP-Tunnel, RFC 3947 §5.1).

// vendorIDs are the Vendor ID payloads we send in MM1/MM2/AM1/AM2: NAT-T
// (RFC 3947 §3.1) when enabled, and DPD (RFC 3706 §7), which we always
// answer.
func (sa *isakmpSA) vendorIDs() []message.Payload {
	var out []message.Payload
	if sa.peer.NATT {
		out = append(out, &message.DataV1{PayloadType: message.PayloadV1VendorID, Data: []byte(message.VendorIDNATTRFC3947)})
	}
	out = append(out, &message.DataV1{PayloadType: message.PayloadV1VendorID, Data: []byte(message.VendorIDDPD)})
	return out
}

// processVendorIDs records what the peer announced.
func (sa *isakmpSA) processVendorIDs(ps []message.Payload) {
	for _, p := range ps {
		d, ok := p.(*message.DataV1)
		if !ok || d.PayloadType != message.PayloadV1VendorID {
			continue
		}
		switch string(d.Data) {
		case message.VendorIDNATTRFC3947:
			sa.natt = sa.peer.NATT
		case message.VendorIDDPD:
			sa.peerDPD = true
		}
	}
}

// natdPayloads returns the NAT-D payloads of a message we send (RFC 3947
// §3.2): first the hash of the destination (the peer's address as we send
// to it), then of our source. With ForceEncap our own hash is random, so
// the peer believes we are behind a NAT and encapsulates ESP.
func (sa *isakmpSA) natdPayloads() []message.Payload {
	if !sa.natt {
		return nil
	}
	h := sa.prf.Hash()
	dst := ikecrypto.V1NATD(h, sa.spiI, sa.spiR, sa.remote)
	src := ikecrypto.V1NATD(h, sa.spiI, sa.spiR, sa.local)
	if sa.peer.ForceEncap {
		io.ReadFull(sa.m.rand, src)
	}
	return []message.Payload{
		&message.DataV1{PayloadType: message.PayloadV1NATD, Data: dst},
		&message.DataV1{PayloadType: message.PayloadV1NATD, Data: src},
	}
}

// detectNAT compares the peer's NAT-D payloads with the addresses the
// message really travelled between (RFC 3947 §3.2): the first must hash
// our address as we see it, or we are behind a NAT; one of the others must
// hash the peer's address as we see it, or the peer is behind a NAT.
func (sa *isakmpSA) detectNAT(ps []message.Payload, local, remote netip.AddrPort) {
	if !sa.natt {
		return
	}
	var natd [][]byte
	for _, p := range ps {
		if d, ok := p.(*message.DataV1); ok && (d.PayloadType == message.PayloadV1NATD || d.PayloadType == message.PayloadV1NATDDraft) {
			natd = append(natd, d.Data)
		}
	}
	if len(natd) < 2 {
		return
	}
	h := sa.prf.Hash()
	me := ikecrypto.V1NATD(h, sa.spiI, sa.spiR, local)
	them := ikecrypto.V1NATD(h, sa.spiI, sa.spiR, remote)
	sa.natLocal = !bytes.Equal(natd[0], me) || sa.peer.ForceEncap
	sa.natRemote = true
	for _, d := range natd[1:] {
		if bytes.Equal(d, them) {
			sa.natRemote = false
		}
	}
	if sa.natLocal || sa.natRemote {
		sa.log.Debug("NAT detected", "local", sa.natLocal, "remote", sa.natRemote)
	}
}

// natDetected reports whether IKE and ESP must move to UDP 4500.
func (sa *isakmpSA) natDetected() bool { return sa.natt && (sa.natLocal || sa.natRemote) }

// float moves the initiator to port 4500 (RFC 3947 §4) before MM5/AM3.
func (sa *isakmpSA) float() {
	if !sa.natDetected() || sa.local.Port() == sa.m.nattPort {
		return
	}
	sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.m.nattPort)
	sa.remote = netip.AddrPortFrom(sa.remote.Addr(), sa.m.nattPort)
}

// encapMode is the encapsulation mode attribute for our Quick Mode
// proposals: UDP-Tunnel behind a NAT (RFC 3947 §5.1), Tunnel otherwise.
func (sa *isakmpSA) encapMode() uint16 {
	if sa.natDetected() {
		return message.EncapUDPTunnel
	}
	return message.EncapTunnel
}

// encapOK accepts the peer's encapsulation mode: tunnel mode only, UDP
// encapsulated exactly when a NAT was detected (strongSwan also sends the
// draft value 61443 when it negotiated the draft).
func (sa *isakmpSA) encapOK(mode uint16) bool {
	if sa.natDetected() {
		return mode == message.EncapUDPTunnel || mode == message.EncapUDPTunnelDraft
	}
	return mode == message.EncapTunnel
}
