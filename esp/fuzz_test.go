package esp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsecgw/ipsecgw/esp/replay"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// FuzzInbound feeds arbitrary datagrams through the inbound stages
// (classify → open → deliver) of an engine with a real SA installed. It
// must never panic, and whatever it delivers must be an authenticated,
// well-formed inner packet. The seed corpus in testdata/fuzz/FuzzInbound
// holds valid ESP, IKE and keepalive datagrams; the seeds below add a
// freshly sealed packet so that mutations start from the ICV-valid path.
func FuzzInbound(f *testing.F) {
	s := xform.Suite{Encr: xform.EncrAESGCM16, KeyBits: 128}
	enc, integ := keys(f, s, byte(spiAtoB))
	x, err := xform.New(s, enc, integ)
	if err != nil {
		f.Fatal(err)
	}
	buf := make([]byte, bufSize)
	inner := ipv4(hostB, hostA, 60, 1, false)
	copy(buf[headroom:], inner)
	start, end, _ := encap(x, spiAtoB, 1, false, protoIPv4, buf, headroom, len(inner))
	f.Add(append([]byte(nil), buf[start:end]...), true)
	f.Add([]byte{0xff}, true)
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3}, true)
	f.Add([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 9}, false)

	dev, bind := &nopDevice{}, &nopBind{}
	e := newStagesEngine(f, dev, bind)
	b := newBatch(Inbound)
	sa := (*e.inbound.Load())[spiAtoB]
	tun := sa.tunnel
	remote := *tun.remote.Load()
	f.Fuzz(func(t *testing.T, data []byte, udp bool) {
		// Every input starts from the same state, or the fuzzer's
		// minimization chases coverage that depends on earlier inputs.
		sa.win = replay.New(1024, false)
		sa.top.Store(0)
		tun.remote.Store(&remote)
		if len(data) > bufSize-recvHeadroom {
			data = data[:bufSize-recvHeadroom]
		}
		b.n = 1
		b.msgs[0] = Message{Buf: b.bufs[0][recvHeadroom:], N: copy(b.bufs[0][recvHeadroom:], data),
			Remote: netip.AddrPortFrom(addrB, 4500)}
		before := dev.writes
		if e.classifyBatch(b, udp) > 0 {
			e.openBatch(b)
			e.deliverBatch(b)
		}
		if dev.writes != before {
			p := &b.pkts[0]
			if p.reason != DropNone || p.nh != protoIPv4 {
				t.Fatalf("delivered a packet with reason %v nh %d", p.reason, p.nh)
			}
			if n := int(binary.BigEndian.Uint16(b.bufs[0][p.start+2:])); n > p.end-p.start {
				t.Fatalf("delivered inner length %d beyond the payload", n)
			}
		}
	})
}
