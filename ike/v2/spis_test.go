package v2

import (
	"testing"

	"github.com/ipsecgw/ipsecgw/ike/spialloc"
)

// TestSharedSPIAllocator: a Manager takes its inbound CHILD_SA SPIs from
// Config.SPIs (shared by the gateway with ike/v1, as both feed one ESP
// engine) and gives the old ones back when a CHILD_SA is rekeyed.
func TestSharedSPIAllocator(t *testing.T) {
	spis := spialloc.New(nil)
	p := newPair(t, func(c *Config) { c.SPIs = spis })
	a, b := p.establish()
	inA, inB := a.Children[0].InSPI, b.Children[0].InSPI
	if !spis.InUse(inA) || !spis.InUse(inB) {
		t.Fatalf("inbound SPIs %#x %#x not taken from Config.SPIs", inA, inB)
	}
	if p.a.Rekey(p.peerA.Name, false) != 1 {
		t.Fatal("nothing to rekey")
	}
	eventually(t, "old SPIs freed", func() bool { return !spis.InUse(inA) && !spis.InUse(inB) })
	for _, st := range [][]IKESAStatus{established(p.a), established(p.b)} {
		for _, c := range st[0].Children {
			if c.State == ChildInstalled && !spis.InUse(c.InSPI) {
				t.Fatalf("rekeyed CHILD_SA's SPI %#x not taken from Config.SPIs", c.InSPI)
			}
		}
	}
}
