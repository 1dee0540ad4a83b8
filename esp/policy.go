package esp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// TunnelID names a tunnel inside one Engine. The control plane chooses it.
type TunnelID uint32

// Policy sends inner traffic from Local to Remote through Tunnel (the SPD
// entry of RFC 4301 §4.4.1 with the PROTECT action; selectors are address
// ranges only). Route-based tunnels use 0.0.0.0/0 ⇄ 0.0.0.0/0 and let the
// routing table decide what reaches the TUN device.
type Policy struct {
	Local  netip.Prefix // inner source addresses (our side)
	Remote netip.Prefix // inner destination addresses (the peer's side)
	Tunnel TunnelID
}

// policyTable is an immutable longest-prefix-match table over Remote. The
// engine swaps whole tables through an atomic.Pointer, so lookups take no
// lock and never see a half-built table.
type policyTable struct {
	v4Bits, v6Bits []int                     // distinct Remote prefix lengths, longest first
	byRemote       map[netip.Prefix][]Policy // masked Remote → policies, in configuration order
	byTunnel       map[TunnelID][]Policy     // for the inbound selector check
}

func newPolicyTable(ps []Policy) (*policyTable, error) {
	t := &policyTable{
		byRemote: make(map[netip.Prefix][]Policy, len(ps)),
		byTunnel: make(map[TunnelID][]Policy),
	}
	for _, p := range ps {
		if !p.Local.IsValid() || !p.Remote.IsValid() {
			return nil, fmt.Errorf("esp: policy %v→%v: invalid prefix", p.Local, p.Remote)
		}
		if p.Local.Addr().Is4() != p.Remote.Addr().Is4() {
			return nil, fmt.Errorf("esp: policy %v→%v: mixed address families", p.Local, p.Remote)
		}
		p.Local, p.Remote = p.Local.Masked(), p.Remote.Masked()
		if _, seen := t.byRemote[p.Remote]; !seen {
			if p.Remote.Addr().Is4() {
				t.v4Bits = append(t.v4Bits, p.Remote.Bits())
			} else {
				t.v6Bits = append(t.v6Bits, p.Remote.Bits())
			}
		}
		t.byRemote[p.Remote] = append(t.byRemote[p.Remote], p)
		t.byTunnel[p.Tunnel] = append(t.byTunnel[p.Tunnel], p)
	}
	desc := func(a, b int) int { return cmp.Compare(b, a) }
	t.v4Bits = slices.Compact(slices.SortedFunc(slices.Values(t.v4Bits), desc))
	t.v6Bits = slices.Compact(slices.SortedFunc(slices.Values(t.v6Bits), desc))
	return t, nil
}

// lookup finds the policy for an outbound inner packet: the longest Remote
// prefix containing dst whose Local contains src. Allocation-free.
func (t *policyTable) lookup(src, dst netip.Addr) (TunnelID, bool) {
	bits := t.v4Bits
	if dst.Is6() {
		bits = t.v6Bits
	}
	for _, b := range bits {
		p, _ := dst.Prefix(b)
		for _, pol := range t.byRemote[p] {
			if pol.Local.Contains(src) {
				return pol.Tunnel, true
			}
		}
	}
	return 0, false
}

// allowsInbound reports whether a decrypted inner packet from src to dst may
// leave tunnel id: RFC 4301 §5.2 step 4 requires checking the inner header
// against the SA's selectors.
func (t *policyTable) allowsInbound(id TunnelID, src, dst netip.Addr) bool {
	for _, pol := range t.byTunnel[id] {
		if pol.Remote.Contains(src) && pol.Local.Contains(dst) {
			return true
		}
	}
	return false
}
