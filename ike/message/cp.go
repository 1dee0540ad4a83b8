package message

import (
	"encoding/binary"
	"net/netip"
)

// CP is the Configuration payload (RFC 7296 §3.15). A site-to-site gateway
// rarely uses it, but peers may send CFG_REQUEST and it must parse.
type CP struct {
	CFGType    CFGType       // request, reply, set or ack
	Attributes []CPAttribute // in wire order
}

// CPAttribute is a configuration attribute (RFC 7296 §3.15.1). An empty
// Value in a CFG_REQUEST asks for any value.
type CPAttribute struct {
	Type  CFGAttrType // attribute type (the R bit is dropped)
	Value []byte      // value, empty to ask for one
}

// Type implements Payload.
func (*CP) Type() PayloadType { return PayloadCP }

// Critical implements Payload.
func (*CP) Critical() bool { return false }

// AppendBody implements Payload.
func (c *CP) AppendBody(b []byte) ([]byte, error) {
	b = append(b, byte(c.CFGType), 0, 0, 0)
	for _, a := range c.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			return nil, marshalError("configuration attribute %s", a.Type)
		}
		if err := checkCPAttr(a); err != nil {
			return nil, marshalError("%v", err)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// checkCPAttr enforces the value lengths of RFC 7296 §3.15.1 (0 or the
// fixed size).
func checkCPAttr(a CPAttribute) error {
	n := len(a.Value)
	var want int
	switch a.Type {
	case CFGInternalIP4Address, CFGInternalIP4Netmask, CFGInternalIP4DNS, CFGInternalIP4NBNS, CFGInternalIP4DHCP:
		want = 4
	case CFGInternalIP6DNS, CFGInternalIP6DHCP:
		want = 16
	case CFGInternalIP6Address, CFGInternalIP6Subnet:
		want = 17
	case CFGInternalIP4Subnet:
		want = 8
	case CFGSupportedAttributes:
		if n%2 != 0 {
			return syntaxError("%s of %d bytes", a.Type, n)
		}
		return nil
	default:
		return nil
	}
	if n != 0 && n != want {
		return syntaxError("%s of %d bytes", a.Type, n)
	}
	return nil
}

func parseCP(body []byte) (*CP, error) {
	r := reader(body)
	var t uint8
	if !r.u8(&t) || !r.skip(3) {
		return nil, syntaxError("truncated CP payload")
	}
	c := &CP{CFGType: CFGType(t)}
	for !r.empty() {
		var at, alen uint16
		var v []byte
		if !r.u16(&at) || !r.u16(&alen) || !r.bytes(int(alen), &v) {
			return nil, syntaxError("truncated configuration attribute")
		}
		// The top bit is reserved (R) and ignored on receipt.
		a := CPAttribute{Type: CFGAttrType(at & 0x7fff), Value: v}
		if err := checkCPAttr(a); err != nil {
			return nil, err
		}
		c.Attributes = append(c.Attributes, a)
	}
	return c, nil
}

// Addr returns the address in an INTERNAL_IP4_* or INTERNAL_IP6_* attribute
// (the first 4 or 16 bytes).
func (a *CPAttribute) Addr() (netip.Addr, bool) {
	switch len(a.Value) {
	case 4, 8:
		return netip.AddrFrom4([4]byte(a.Value[:4])), true
	case 16, 17:
		return netip.AddrFrom16([16]byte(a.Value[:16])), true
	}
	return netip.Addr{}, false
}
