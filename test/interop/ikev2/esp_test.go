package ikev2

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/xform"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// TestESPTraffic proves the CHILD_SA keys, not only the IKE exchange: an
// ICMP echo from the server LAN is sealed with our outbound keys and sent
// to strongSwan as ESP-in-UDP; strongSwan decrypts it and delivers it to
// the client, whose reply comes back sealed with strongSwan's keys, which
// we open with our inbound keys. It runs before and after a PFS rekey.
func TestESPTraffic(t *testing.T) {
	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}})
	c := b.Charon(lab.GwA)
	for _, esp := range []string{"aes128-sha1-modp2048", "aes256gcm16-modp1024", "3des-md5", "aes192-sha512", "des-sha384", "aes256-sha256"} {
		t.Run(esp, func(t *testing.T) {
			conn := b.DefaultConn(lab.GwA)
			conn.ESPProposal = esp
			if err := c.Reload(conn); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Clear(""); c.WaitNoSA(5 * time.Second) }) // let libipsec finish tearing down before the next case
			o := startOurs(t, b, peerFor(t, b, "aes128-sha1-modp1024", esp))
			if err := c.Initiate("", 20*time.Second); err != nil {
				t.Fatal(err)
			}
			waitBoth(t, c, o, 10*time.Second)
			pingThrough(t, o, lastChildUp(t, o), 1)
			if interoptest.ESPSuite(t, esp).DH != 0 {
				o.m.Rekey("gwA", false)
				var up v2.ChildUp
				deadline := time.Now().Add(10 * time.Second)
				for !up.Rekeyed && time.Now().Before(deadline) {
					up = lastChildUp(t, o)
					time.Sleep(50 * time.Millisecond)
				}
				if !up.Rekeyed {
					t.Fatal("no rekey")
				}
				time.Sleep(200 * time.Millisecond) // strongSwan installs the new SA
				pingThrough(t, o, up, 2)
			}
		})
	}
}

func lastChildUp(t *testing.T, o *ours) v2.ChildUp {
	var up v2.ChildUp
	for _, e := range o.evs() {
		if u, ok := e.(v2.ChildUp); ok {
			up = u
		}
	}
	if up.InSPI == 0 {
		t.Fatal("no ChildUp")
	}
	return up
}

// pingThrough sends one echo request through the CHILD_SA and waits for
// the reply.
func pingThrough(t *testing.T, o *ours, up v2.ChildUp, seq uint32) {
	t.Helper()
	suite := xform.Suite{Encr: uint16(up.Suite.Encr), KeyBits: up.Suite.EncrKey, Integ: uint16(up.Suite.Integ)}
	out, err := xform.New(suite, up.EncKeyOut, up.IntegKeyOut)
	if err != nil {
		t.Fatal(err)
	}
	in, err := xform.New(suite, up.EncKeyIn, up.IntegKeyIn)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr(lab.ServerIP), netip.MustParseAddr(lab.ClientIP)
	inner := icmpEcho(src, dst, uint16(seq))
	// ESP: SPI | Seq | IV | inner | pad | pad length | next header 4 | ICV
	bs := out.BlockSize()
	plain := len(inner) + 2
	padLen := (bs - plain%bs) % bs
	pkt := make([]byte, 8+out.IVLen()+plain+padLen+out.ICVLen())
	binary.BigEndian.PutUint32(pkt[0:], up.OutSPI)
	binary.BigEndian.PutUint32(pkt[4:], seq)
	p := pkt[8+out.IVLen():]
	copy(p, inner)
	for i := 0; i < padLen; i++ {
		p[len(inner)+i] = byte(i + 1) // RFC 4303 §2.4 default padding
	}
	p[len(inner)+padLen] = byte(padLen)
	p[len(inner)+padLen+1] = 4 // IPv4
	out.Seal(pkt, 0, false)
	for try := 0; try < 3; try++ {
		if err := o.tr.SendESP(pkt, up.Remote); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(2 * time.Second)
		for {
			select {
			case r := <-o.esp:
				if len(r) < 8 || binary.BigEndian.Uint32(r) != up.InSPI {
					continue
				}
				pt, err := in.Open(r, 0, false)
				if err != nil {
					t.Fatalf("strongSwan's ESP does not open with our inbound keys: %v", err)
				}
				n := len(pt) - 2 - int(pt[len(pt)-2])
				if pt[len(pt)-1] != 4 || n < 28 || pt[9] != 1 || pt[20] != 0 ||
					netip.AddrFrom4([4]byte(pt[12:16])) != dst || netip.AddrFrom4([4]byte(pt[16:20])) != src {
					t.Fatalf("unexpected inner packet %x", pt[:min(len(pt), 40)])
				}
				t.Logf("echo reply through %v: SPIs %08x/%08x", up.Suite, up.InSPI, up.OutSPI)
				return
			case <-deadline:
			}
			break
		}
	}
	t.Fatalf("no echo reply through the tunnel (%v)", up.Suite)
}

// icmpEcho builds an IPv4 ICMP echo request with valid checksums.
func icmpEcho(src, dst netip.Addr, seq uint16) []byte {
	payload := []byte("ipsecgw-ikev2-interop")
	b := make([]byte, 20+8+len(payload))
	b[0], b[8], b[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20]))
	icmp := b[20:]
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], 0x1234)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return b
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
