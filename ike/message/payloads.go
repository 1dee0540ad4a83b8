package message

import (
	"encoding/binary"
	"net/netip"
)

// KEDataLen returns the length of the Key Exchange Data for a Diffie-Hellman
// group (RFC 7296 §3.4: the length is fixed by the group; MODP values from
// RFC 3526/2409 and 5114, ECP x‖y from RFC 5903 §7 and 6954, RFC 8031 for
// Curve25519/448). ok is false for a group this table does not know; the
// codec then accepts any non-empty length and the state machine answers
// INVALID_KE_PAYLOAD or NO_PROPOSAL_CHOSEN.
func KEDataLen(group uint16) (n int, ok bool) {
	switch group {
	case 1:
		return 96, true
	case 2:
		return 128, true
	case 5:
		return 192, true
	case 14, 23, 24:
		return 256, true
	case 15:
		return 384, true
	case 16:
		return 512, true
	case 17:
		return 768, true
	case 18:
		return 1024, true
	case 22:
		return 128, true
	case 19, 28:
		return 64, true
	case 20, 29:
		return 96, true
	case 21:
		return 132, true
	case 25:
		return 48, true
	case 26, 27:
		return 56, true
	case 30:
		return 128, true
	case 31:
		return 32, true
	case 32:
		return 56, true
	}
	return 0, false
}

// KE is the Key Exchange payload (RFC 7296 §3.4).
type KE struct {
	// Group is the Diffie-Hellman group number.
	Group uint16
	// Data is the public value, exactly KEDataLen(Group) bytes for known groups.
	Data []byte
}

// Type implements Payload.
func (*KE) Type() PayloadType { return PayloadKE }

// Critical implements Payload.
func (*KE) Critical() bool { return false }

// AppendBody implements Payload.
func (k *KE) AppendBody(b []byte) ([]byte, error) {
	if err := checkKELen(k.Group, len(k.Data)); err != nil {
		return nil, marshalError("%v", err)
	}
	b = binary.BigEndian.AppendUint16(b, k.Group)
	b = append(b, 0, 0)
	return append(b, k.Data...), nil
}

func checkKELen(group uint16, n int) error {
	if want, ok := KEDataLen(group); ok && n != want {
		return syntaxError("KE data of %d bytes for group %d (want %d)", n, group, want)
	}
	if n == 0 {
		return syntaxError("empty KE data")
	}
	return nil
}

func parseKE(body []byte) (*KE, error) {
	r := reader(body)
	var g, res uint16
	if !r.u16(&g) || !r.u16(&res) {
		return nil, syntaxError("truncated KE payload")
	}
	if err := checkKELen(g, len(r)); err != nil {
		return nil, err
	}
	return &KE{Group: g, Data: r}, nil
}

// ID is the Identification payload, IDi or IDr (RFC 7296 §3.5).
type ID struct {
	// Responder selects IDr; false is IDi.
	Responder bool
	// IDType says how Data is encoded.
	IDType IDType
	// Data is the identity: 4 or 16 address bytes, an FQDN or RFC 822 name
	// without terminator, a key ID, or DER.
	Data []byte
	// Reserved holds the three RESERVED octets as received. They are part
	// of RestOfInitIDPayload, which the AUTH payload signs (RFC 7296 §2.15),
	// so Body must reproduce them exactly; they are zero when sending.
	Reserved [3]byte
}

// NewIDAddr returns an ID_IPV4_ADDR or ID_IPV6_ADDR identification.
func NewIDAddr(responder bool, a netip.Addr) *ID {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		return &ID{Responder: responder, IDType: IDIPv4Addr, Data: v[:]}
	}
	v := a.As16()
	return &ID{Responder: responder, IDType: IDIPv6Addr, Data: v[:]}
}

// NewIDFQDN returns an ID_FQDN identification.
func NewIDFQDN(responder bool, fqdn string) *ID {
	return &ID{Responder: responder, IDType: IDFQDN, Data: []byte(fqdn)}
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func (id *ID) Addr() (netip.Addr, bool) {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		return netip.AddrFromSlice(id.Data)
	}
	return netip.Addr{}, false
}

// String renders the identity the way swanctl prints it: addresses in
// dotted or colon form, names as text, others in hex.
func (id *ID) String() string {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := id.Addr(); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr, IDKeyID:
		return string(id.Data)
	}
	return id.IDType.String() + ":" + hexString(id.Data)
}

// Type implements Payload.
func (id *ID) Type() PayloadType {
	if id.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

// Critical implements Payload.
func (*ID) Critical() bool { return false }

// Body returns the payload body (ID Type, reserved, data): the octets that
// the AUTH computation's MACedIDFor… covers (RFC 7296 §2.15).
func (id *ID) Body() []byte {
	b, _ := id.AppendBody(nil)
	return b
}

// AppendBody implements Payload.
func (id *ID) AppendBody(b []byte) ([]byte, error) {
	if err := checkIDLen(id.IDType, len(id.Data)); err != nil {
		return nil, marshalError("%v", err)
	}
	b = append(b, byte(id.IDType), id.Reserved[0], id.Reserved[1], id.Reserved[2])
	return append(b, id.Data...), nil
}

func checkIDLen(t IDType, n int) error {
	switch t {
	case IDIPv4Addr:
		if n != 4 {
			return syntaxError("ID_IPV4_ADDR of %d bytes", n)
		}
	case IDIPv6Addr:
		if n != 16 {
			return syntaxError("ID_IPV6_ADDR of %d bytes", n)
		}
	case IDNull:
		if n != 0 {
			return syntaxError("ID_NULL with %d bytes of data", n)
		}
	default:
		if n == 0 {
			return syntaxError("empty %s", t)
		}
	}
	return nil
}

func parseID(t PayloadType, body []byte) (*ID, error) {
	if len(body) < 4 {
		return nil, syntaxError("truncated %s payload", t)
	}
	id := &ID{Responder: t == PayloadIDr, IDType: IDType(body[0]), Data: body[4:], Reserved: [3]byte(body[1:4])}
	if err := checkIDLen(id.IDType, len(id.Data)); err != nil {
		return nil, err
	}
	return id, nil
}

// Auth is the Authentication payload (RFC 7296 §3.8).
type Auth struct {
	Method AuthMethod // how Data was computed
	// Data is the signature or shared-key MAC.
	Data []byte
}

// Type implements Payload.
func (*Auth) Type() PayloadType { return PayloadAUTH }

// Critical implements Payload.
func (*Auth) Critical() bool { return false }

// AppendBody implements Payload.
func (a *Auth) AppendBody(b []byte) ([]byte, error) {
	if len(a.Data) == 0 {
		return nil, marshalError("empty AUTH data")
	}
	b = append(b, byte(a.Method), 0, 0, 0)
	return append(b, a.Data...), nil
}

func parseAuth(body []byte) (*Auth, error) {
	if len(body) < 5 {
		return nil, syntaxError("AUTH payload of %d bytes", len(body))
	}
	return &Auth{Method: AuthMethod(body[0]), Data: body[4:]}, nil
}

// Nonce bounds (RFC 7296 §3.9: between 16 and 256 octets).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// Nonce is the Nonce payload (RFC 7296 §3.9).
type Nonce struct {
	Data []byte // 16 to 256 random octets
}

// Type implements Payload.
func (*Nonce) Type() PayloadType { return PayloadNonce }

// Critical implements Payload.
func (*Nonce) Critical() bool { return false }

// AppendBody implements Payload.
func (n *Nonce) AppendBody(b []byte) ([]byte, error) {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		return nil, marshalError("nonce of %d bytes", len(n.Data))
	}
	return append(b, n.Data...), nil
}

func parseNonce(body []byte) (*Nonce, error) {
	if len(body) < MinNonceLen || len(body) > MaxNonceLen {
		return nil, syntaxError("nonce of %d bytes (want %d-%d)", len(body), MinNonceLen, MaxNonceLen)
	}
	return &Nonce{Data: body}, nil
}

// VendorID is the Vendor ID payload (RFC 7296 §3.12).
type VendorID struct {
	Data []byte // opaque vendor identifier, usually a hash
}

// Type implements Payload.
func (*VendorID) Type() PayloadType { return PayloadVendorID }

// Critical implements Payload.
func (*VendorID) Critical() bool { return false }

// AppendBody implements Payload.
func (v *VendorID) AppendBody(b []byte) ([]byte, error) { return append(b, v.Data...), nil }

const hexDigits = "0123456789abcdef"

func hexString(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexDigits[c>>4], hexDigits[c&15])
	}
	return string(out)
}
