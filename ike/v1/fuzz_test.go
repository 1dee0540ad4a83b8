package v1

import (
	"encoding/binary"
	"net/netip"
	"testing"

	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// syncAll waits until every SA goroutine has processed what was delivered
// to it before the call.
func (m *Manager) syncAll() {
	m.mu.Lock()
	list := make([]*isakmpSA, 0, len(m.sas))
	for _, sa := range m.sas {
		list = append(list, sa)
	}
	m.mu.Unlock()
	for _, sa := range list {
		done := make(chan struct{})
		if sa.post(func() { close(done) }) {
			<-done
		}
	}
}

// FuzzHandlePacket feeds arbitrary datagrams to a responder and, with
// their cookies rewritten, to both ends of an established ISAKMP SA. No
// input may panic, and none (lacking the keys) may change the established
// SA: unauthenticated input never changes state. The seed corpus in
// testdata holds strongSwan 5.9.8's IKEv1 messages of a lab run.
func FuzzHandlePacket(f *testing.F) {
	p := newPair(f)
	a, _ := p.establish()
	fromA, toB := netip.AddrPortFrom(addrA, 500), netip.AddrPortFrom(addrB, 500)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		p.b.HandlePacket(pkt, toB, fromA)
		if len(pkt) >= 16 {
			q := append([]byte(nil), pkt...)
			binary.BigEndian.PutUint64(q, a.SPIi)
			binary.BigEndian.PutUint64(q[8:], a.SPIr)
			p.b.HandlePacket(q, toB, fromA)
			p.a.HandlePacket(q, fromA, toB)
		}
		p.a.syncAll()
		p.b.syncAll()
		if len(events[v2.IKEDown](p.ra))+len(events[v2.IKEDown](p.rb))+len(events[v2.ChildDown](p.rb)) != 0 {
			t.Fatalf("input %x tore an SA down", pkt)
		}
		if sa := established(p.a); len(sa) != 1 || sa[0].SPIi != a.SPIi || len(sa[0].Children) != 1 {
			t.Fatalf("input %x changed A's SA: %+v", pkt, sa)
		}
	})
}
