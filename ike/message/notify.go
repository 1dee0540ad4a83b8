package message

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// Notify is the Notify payload (RFC 7296 §3.10).
type Notify struct {
	// Protocol is the SA the notification concerns (AH/ESP), or
	// ProtocolNone when SPI is empty (RFC 7296 §3.10: then it MUST be zero).
	Protocol ProtocolID
	// SPI is empty for notifications about the IKE SA, 4 bytes for AH/ESP.
	SPI []byte
	// NotifyType is the Notify Message Type.
	NotifyType NotifyType
	// Data is the Notification Data.
	Data []byte
}

// Type implements Payload.
func (*Notify) Type() PayloadType { return PayloadNotify }

// Critical implements Payload.
func (*Notify) Critical() bool { return false }

// AppendBody implements Payload.
func (n *Notify) AppendBody(b []byte) ([]byte, error) {
	if err := n.check(); err != nil {
		return nil, marshalError("%v", err)
	}
	proto := n.Protocol
	if len(n.SPI) == 0 && proto == ProtocolIKE {
		// RFC 7296 §3.10: with an empty SPI the field MUST be sent as zero.
		proto = ProtocolNone
	}
	b = append(b, byte(proto), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

// NATDetectionLen is the size of a NAT-D hash (SHA-1, RFC 7296 §2.23).
const NATDetectionLen = sha1.Size

// check enforces the lengths the RFCs fix for the notifications the gateway
// acts upon, so handlers can use Data without further checks.
func (n *Notify) check() error {
	switch len(n.SPI) {
	case 0, 4, 8:
	default:
		return syntaxError("%s with %d-byte SPI", n.NotifyType, len(n.SPI))
	}
	switch n.NotifyType {
	case NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP:
		if len(n.Data) != NATDetectionLen {
			return syntaxError("%s of %d bytes", n.NotifyType, len(n.Data))
		}
	case COOKIE:
		// RFC 7296 §2.6: the cookie is 1 to 64 octets.
		if len(n.Data) < 1 || len(n.Data) > 64 {
			return syntaxError("COOKIE of %d bytes", len(n.Data))
		}
	case INVALID_KE_PAYLOAD:
		// RFC 7296 §3.10.1: the data is the 2-octet accepted group.
		if len(n.Data) != 2 {
			return syntaxError("INVALID_KE_PAYLOAD data of %d bytes", len(n.Data))
		}
	case REKEY_SA:
		// RFC 7296 §3.10.1: the SPI of the CHILD_SA being rekeyed.
		if len(n.SPI) != 4 || (n.Protocol != ProtocolESP && n.Protocol != ProtocolAH) {
			return syntaxError("REKEY_SA for %s with %d-byte SPI", n.Protocol, len(n.SPI))
		}
	case SET_WINDOW_SIZE:
		if len(n.Data) != 4 {
			return syntaxError("SET_WINDOW_SIZE data of %d bytes", len(n.Data))
		}
	case SIGNATURE_HASH_ALGORITHMS:
		// RFC 7427 §4: a list of 2-octet hash algorithm identifiers.
		if len(n.Data)%2 != 0 {
			return syntaxError("SIGNATURE_HASH_ALGORITHMS data of %d bytes", len(n.Data))
		}
	}
	return nil
}

func parseNotify(body []byte) (*Notify, error) {
	r := reader(body)
	var proto, spiSize uint8
	var t uint16
	if !r.u8(&proto) || !r.u8(&spiSize) || !r.u16(&t) {
		return nil, syntaxError("truncated Notify payload")
	}
	n := &Notify{Protocol: ProtocolID(proto), NotifyType: NotifyType(t)}
	if !r.bytes(int(spiSize), &n.SPI) {
		return nil, syntaxError("%s: SPI size %d beyond payload", n.NotifyType, spiSize)
	}
	if len(n.SPI) == 0 {
		n.Protocol = ProtocolNone // RFC 7296 §3.10: ignored on receipt
	}
	n.Data = r
	if err := n.check(); err != nil {
		return nil, err
	}
	return n, nil
}

// NATDetectionData computes the NAT_DETECTION_SOURCE_IP or
// NAT_DETECTION_DESTINATION_IP data: SHA-1(SPIi | SPIr | IP | Port) (RFC 7296
// §2.23). It is a fixed, unkeyed hash of header values, so it lives with the
// codec. In IKE_SA_INIT requests SPIr is zero.
func NATDetectionData(spii, spir uint64, ap netip.AddrPort) []byte {
	b := make([]byte, 0, 16+16+2)
	b = binary.BigEndian.AppendUint64(b, spii)
	b = binary.BigEndian.AppendUint64(b, spir)
	b = append(b, ap.Addr().Unmap().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, ap.Port())
	h := sha1.Sum(b)
	return h[:]
}

// NewNotify returns a notification about the IKE SA (no SPI).
func NewNotify(t NotifyType, data []byte) *Notify { return &Notify{NotifyType: t, Data: data} }

// NewInvalidKE returns INVALID_KE_PAYLOAD naming the group the responder
// wants (RFC 7296 §1.2, §3.10.1).
func NewInvalidKE(group uint16) *Notify {
	return &Notify{NotifyType: INVALID_KE_PAYLOAD, Data: binary.BigEndian.AppendUint16(nil, group)}
}

// Group returns the group of an INVALID_KE_PAYLOAD notification.
func (n *Notify) Group() (uint16, bool) {
	if n.NotifyType != INVALID_KE_PAYLOAD || len(n.Data) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(n.Data), true
}

// NewRekeySA returns REKEY_SA for the CHILD_SA with inbound SPI spi
// (RFC 7296 §1.3.3).
func NewRekeySA(p ProtocolID, spi uint32) *Notify {
	return &Notify{Protocol: p, SPI: binary.BigEndian.AppendUint32(nil, spi), NotifyType: REKEY_SA}
}

// SPI32 returns a 4-byte AH/ESP SPI carried in the notification.
func (n *Notify) SPI32() (uint32, bool) {
	if len(n.SPI) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(n.SPI), true
}

// NewCookie returns a COOKIE notification (RFC 7296 §2.6).
func NewCookie(cookie []byte) *Notify { return &Notify{NotifyType: COOKIE, Data: cookie} }

// NewSignatureHashAlgorithms returns SIGNATURE_HASH_ALGORITHMS listing the
// given RFC 7427 hash identifiers.
func NewSignatureHashAlgorithms(ids ...uint16) *Notify {
	b := make([]byte, 0, 2*len(ids))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return &Notify{NotifyType: SIGNATURE_HASH_ALGORITHMS, Data: b}
}

// HashAlgorithms decodes SIGNATURE_HASH_ALGORITHMS data.
func (n *Notify) HashAlgorithms() []uint16 {
	if n.NotifyType != SIGNATURE_HASH_ALGORITHMS {
		return nil
	}
	out := make([]uint16, 0, len(n.Data)/2)
	for i := 0; i+1 < len(n.Data); i += 2 {
		out = append(out, binary.BigEndian.Uint16(n.Data[i:]))
	}
	return out
}

// Delete is the Delete payload (RFC 7296 §3.11). For the IKE SA, SPIs is
// empty (SPI Size and Num of SPIs are zero; the SA is the one the message is
// protected by). For AH/ESP it lists the sender's inbound SPIs.
type Delete struct {
	Protocol ProtocolID // IKE, AH or ESP
	SPIs     []uint32   // AH/ESP SPIs; empty for IKE
}

// Type implements Payload.
func (*Delete) Type() PayloadType { return PayloadDelete }

// Critical implements Payload.
func (*Delete) Critical() bool { return false }

// AppendBody implements Payload.
func (d *Delete) AppendBody(b []byte) ([]byte, error) {
	switch d.Protocol {
	case ProtocolIKE:
		if len(d.SPIs) != 0 {
			return nil, marshalError("IKE delete with SPIs")
		}
		return append(b, byte(ProtocolIKE), 0, 0, 0), nil
	case ProtocolAH, ProtocolESP:
		if len(d.SPIs) == 0 || len(d.SPIs) > 0xffff {
			return nil, marshalError("%s delete with %d SPIs", d.Protocol, len(d.SPIs))
		}
		b = append(b, byte(d.Protocol), 4)
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
		for _, s := range d.SPIs {
			b = binary.BigEndian.AppendUint32(b, s)
		}
		return b, nil
	}
	return nil, marshalError("delete for protocol %s", d.Protocol)
}

func parseDelete(body []byte) (*Delete, error) {
	r := reader(body)
	var proto, spiSize uint8
	var num uint16
	if !r.u8(&proto) || !r.u8(&spiSize) || !r.u16(&num) {
		return nil, syntaxError("truncated Delete payload")
	}
	d := &Delete{Protocol: ProtocolID(proto)}
	switch d.Protocol {
	case ProtocolIKE:
		if spiSize != 0 || num != 0 || !r.empty() {
			return nil, syntaxError("IKE delete with SPI size %d, %d SPIs", spiSize, num)
		}
		return d, nil
	case ProtocolAH, ProtocolESP:
		if spiSize != 4 || num == 0 || len(r) != 4*int(num) {
			return nil, syntaxError("%s delete with SPI size %d, %d SPIs in %d bytes", d.Protocol, spiSize, num, len(r))
		}
		d.SPIs = make([]uint32, num)
		for i := range d.SPIs {
			r.u32(&d.SPIs[i])
		}
		return d, nil
	}
	return nil, syntaxError("delete for protocol %d", proto)
}
