package ikev1

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/ipsecgw/ipsecgw/esp/xform"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// echo is a minimal ESP-in-UDP peer standing in for gwB's data plane: it
// opens strongSwan's ESP with the inbound keys of our ChildUp events and
// answers ICMP echo requests through the paired outbound SA. A ping from
// the client through strongSwan therefore succeeds only if the KEYMAT of
// both directions (RFC 2409 §5.5) agrees with strongSwan's.
type echo struct {
	o *ours

	mu      sync.Mutex
	seq     map[uint32]uint32 // next outbound sequence number by SPI
	opened  int               // ESP packets that verified and decrypted
	failed  int               // ESP packets that did not
	replied int
}

func (e *echo) handle(pkt []byte, local, remote netip.AddrPort) {
	if len(pkt) < 8 {
		return
	}
	spi := binary.BigEndian.Uint32(pkt)
	var up *v2.ChildUp
	for _, ev := range e.o.evs() {
		if u, ok := ev.(v2.ChildUp); ok && u.InSPI == spi {
			up = &u
		}
	}
	if up == nil {
		e.count(&e.failed)
		return
	}
	in, err := xform.New(suiteOf(up), up.EncKeyIn, up.IntegKeyIn)
	if err != nil {
		e.count(&e.failed)
		return
	}
	buf := append([]byte(nil), pkt...)
	plain, err := in.Open(buf, 0, false)
	if err != nil || len(plain) < 2 || plain[len(plain)-1] != 4 {
		e.count(&e.failed)
		return
	}
	e.count(&e.opened)
	padLen := int(plain[len(plain)-2])
	if padLen+2 > len(plain) {
		return
	}
	reply := icmpEchoReply(plain[:len(plain)-2-padLen])
	if reply == nil {
		return
	}
	out, err := xform.New(suiteOf(up), up.EncKeyOut, up.IntegKeyOut)
	if err != nil {
		return
	}
	e.mu.Lock()
	if e.seq == nil {
		e.seq = map[uint32]uint32{}
	}
	e.seq[up.OutSPI]++
	seq := e.seq[up.OutSPI]
	e.mu.Unlock()
	// SPI | Seq | IV | payload | padding | pad length | next header | ICV
	bs := out.BlockSize()
	pad := (bs - (len(reply)+2)%bs) % bs
	n := 8 + out.IVLen() + len(reply) + pad + 2 + out.ICVLen()
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, up.OutSPI)
	binary.BigEndian.PutUint32(p[4:], seq)
	off := 8 + out.IVLen()
	off += copy(p[off:], reply)
	for i := range pad {
		p[off+i] = byte(i + 1) // RFC 4303 §2.4: 1, 2, 3, ...
	}
	off += pad
	p[off], p[off+1] = byte(pad), 4
	out.Seal(p, 0, false)
	if e.o.tr.SendESP(p, remote) == nil {
		e.count(&e.replied)
	}
}

func (e *echo) count(c *int) {
	e.mu.Lock()
	*c++
	e.mu.Unlock()
}

func (e *echo) counts() (opened, failed, replied int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opened, e.failed, e.replied
}

func suiteOf(u *v2.ChildUp) xform.Suite {
	return xform.Suite{Encr: uint16(u.Suite.Encr), KeyBits: u.Suite.EncrKey, Integ: uint16(u.Suite.Integ)}
}

// icmpEchoReply turns an IPv4 ICMP echo request into its reply, or nil.
func icmpEchoReply(ip []byte) []byte {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 1 {
		return nil
	}
	hl := int(ip[0]&0x0f) * 4
	if len(ip) < hl+8 || ip[hl] != 8 {
		return nil
	}
	r := append([]byte(nil), ip...)
	copy(r[12:16], ip[16:20])
	copy(r[16:20], ip[12:16])
	r[8] = 64
	r[hl] = 0 // echo reply
	binary.BigEndian.PutUint16(r[hl+2:], 0)
	binary.BigEndian.PutUint16(r[hl+2:], checksum(r[hl:]))
	binary.BigEndian.PutUint16(r[10:], 0)
	binary.BigEndian.PutUint16(r[10:], checksum(r[:hl]))
	return r
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
