package v2

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzHandlePacket feeds arbitrary datagrams to a responder that has one
// established SA and one half-open SA: nothing may panic, and the
// established SA must survive (§2.21: unauthenticated input changes no
// state). The seeds are real messages of a negotiation.
func FuzzHandlePacket(f *testing.F) {
	var seeds [][]byte
	{
		p := newPair(&testing.T{}, nil)
		p.net.SetDrop(func(pkt []byte, _, _ netip.AddrPort) bool {
			seeds = append(seeds, append([]byte(nil), pkt...))
			return false
		})
		p.a.Initiate(p.peerA)
		deadline := time.Now().Add(5 * time.Second)
		for len(established(p.b)) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		p.a.Close()
		p.b.Close()
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	// One established pair serves every input: the property is that no
	// sequence of inputs breaks it.
	p := newPair(&testing.T{}, nil)
	defer func() { p.a.Close(); p.b.Close() }()
	p.a.Initiate(p.peerA)
	deadline := time.Now().Add(5 * time.Second)
	for len(established(p.b)) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		p.b.HandlePacket(pkt, apB, apA)
		p.b.HandlePacket(pkt, netip.AddrPortFrom(addrB, 4500), netip.AddrPortFrom(addrA, 4500))
		if len(established(p.b)) < 1 {
			t.Fatal("established SA lost to unauthenticated input")
		}
	})
}
