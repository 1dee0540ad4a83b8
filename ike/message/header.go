package message

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of the fixed IKE header (RFC 7296 §3.1).
const HeaderLen = 28

// genericHeaderLen is the size of the generic payload header (RFC 7296 §3.2).
const genericHeaderLen = 4

// Flags is the Flags octet of the IKE header (RFC 7296 §3.1).
type Flags uint8

// Header flags. Bits other than these MUST be sent as zero and ignored on
// receipt (RFC 7296 §3.1), so the parser keeps them but Marshal clears them.
const (
	FlagInitiator Flags = 0x08 // I: sent by the original initiator of the IKE SA
	FlagVersion   Flags = 0x10 // V: sender can speak a higher major version
	FlagResponse  Flags = 0x20 // R: this message is a response
	flagsKnown          = FlagInitiator | FlagVersion | FlagResponse
)

// String lists the set flags, e.g. "I|R".
func (f Flags) String() string {
	s := ""
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagV1Encryption, "E"}, {FlagV1Commit, "C"}, {FlagV1AuthOnly, "A"}, {FlagInitiator, "I"}, {FlagVersion, "V"}, {FlagResponse, "R"}} {
		if f&x.f != 0 {
			if s != "" {
				s += "|"
			}
			s += x.n
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

// Header is the fixed IKE header (RFC 7296 §3.1; it is also the ISAKMP header
// of RFC 2408 §3.1, where the flags differ).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Initiator's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       IKE SA Responder's SPI                  |
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          Message ID                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            Length                             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Header struct {
	// SPIi is the IKE SA initiator's SPI (never zero on the wire for IKEv2).
	SPIi uint64
	// SPIr is the IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
	SPIr uint64
	// NextPayload is the type of the first payload. Marshal fills it from
	// Message.Payloads; ParseHeader reports it as received.
	NextPayload PayloadType
	// MajorVersion is 2 for IKEv2 and 1 for IKEv1.
	MajorVersion uint8
	// MinorVersion is 0 for IKEv2 (RFC 7296 §3.1) and IKEv1.
	MinorVersion uint8
	// Exchange is the exchange type.
	Exchange ExchangeType
	// Flags holds I, V and R.
	Flags Flags
	// MessageID is the IKEv2 message ID (RFC 7296 §2.2) or IKEv1 message ID.
	MessageID uint32
	// Length is the total message length including the header. Marshal
	// computes it; ParseHeader reports it as received.
	Length uint32
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the I flag is set (sender is the original
// initiator of the IKE SA).
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// String summarises the header for logs.
func (h *Header) String() string {
	return fmt.Sprintf("%s %016x/%016x mid=%d %s v%d.%d len=%d",
		h.Exchange, h.SPIi, h.SPIr, h.MessageID, h.Flags, h.MajorVersion, h.MinorVersion, h.Length)
}

// ParseHeader decodes the IKE header at the start of b, where b must be the
// whole message: the Length field must equal len(b) exactly (RFC 7296 §3.1;
// a UDP datagram carries one message and nothing else). ParseHeader does not
// judge the version; ParseMessage does.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, syntaxError("message of %d bytes is shorter than the %d-byte header", len(b), HeaderLen)
	}
	h.SPIi = binary.BigEndian.Uint64(b[0:8])
	h.SPIr = binary.BigEndian.Uint64(b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.MajorVersion = b[17] >> 4
	h.MinorVersion = b[17] & 0x0f
	h.Exchange = ExchangeType(b[18])
	h.Flags = Flags(b[19])
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	if uint64(h.Length) != uint64(len(b)) {
		return h, syntaxError("header length %d does not match the %d bytes received", h.Length, len(b))
	}
	return h, nil
}

// AppendHeader appends the 28-byte encoding of h to b, writing h.Length and
// h.NextPayload exactly as given (Message.Marshal sets them). For IKEv2 unknown
// flag bits are cleared (RFC 7296 §3.1: MUST be sent as zero); IKEv1 flags
// (RFC 2408 §3.1: E, C, A) are written as given.
func AppendHeader(b []byte, h *Header) []byte {
	f := h.Flags
	if h.MajorVersion == 2 {
		f &= flagsKnown
	}
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(h.NextPayload), h.MajorVersion<<4|h.MinorVersion&0x0f, byte(h.Exchange), byte(f))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	b = binary.BigEndian.AppendUint32(b, h.Length)
	return b
}

// Marshal returns the 28-byte encoding of h (see AppendHeader).
func (h *Header) Marshal() []byte { return AppendHeader(make([]byte, 0, HeaderLen), h) }
