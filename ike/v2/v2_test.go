package v2

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestEstablish(t *testing.T) {
	p := newPair(t, nil)
	a, b := p.establish()
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || !a.Initiator || b.Initiator {
		t.Fatalf("SPIs differ: %+v %+v", a, b)
	}
	ca, cb := a.Children[0], b.Children[0]
	if ca.InSPI != cb.OutSPI || ca.OutSPI != cb.InSPI {
		t.Fatalf("child SPIs: %+v %+v", ca, cb)
	}
	ua, ub := childUps(p.ra), childUps(p.rb)
	if len(ua) != 1 || len(ub) != 1 {
		t.Fatalf("ChildUp events %d %d", len(ua), len(ub))
	}
	if !bytes.Equal(ua[0].EncKeyOut, ub[0].EncKeyIn) || !bytes.Equal(ua[0].IntegKeyIn, ub[0].IntegKeyOut) || bytes.Equal(ua[0].EncKeyIn, ua[0].EncKeyOut) {
		t.Fatal("child keys do not mirror")
	}
	if ua[0].LocalTS[0] != netip.MustParsePrefix("10.1.0.0/24") || ua[0].RemoteTS[0] != netip.MustParsePrefix("10.2.0.0/24") {
		t.Fatalf("selectors %v %v", ua[0].LocalTS, ua[0].RemoteTS)
	}
	if ua[0].Encap || a.NATLocal || a.NATRemote || a.Local.Port() != 500 {
		t.Fatalf("no NAT expected: %+v", a)
	}
}
