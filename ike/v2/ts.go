package v2

import (
	"net/netip"

	"github.com/ipsecgw/ipsecgw/ike/message"
)

// selectors turns configured prefixes into traffic selectors for any
// protocol and port; no prefixes means the whole address family of fam.
func selectors(ps []netip.Prefix, fam netip.Addr) []message.Selector {
	if len(ps) == 0 {
		if fam.Unmap().Is4() {
			ps = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
		} else {
			ps = []netip.Prefix{netip.MustParsePrefix("::/0")}
		}
	}
	out := make([]message.Selector, 0, len(ps))
	for _, p := range ps {
		out = append(out, message.SelectorFromPrefix(p))
	}
	return out
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// intersect returns the selector covering what both a and b cover.
func intersect(a, b message.Selector) (message.Selector, bool) {
	if !a.IsIP() || a.Type != b.Type {
		return message.Selector{}, false
	}
	r := message.Selector{Type: a.Type}
	switch {
	case a.IPProtocol == b.IPProtocol || b.IPProtocol == 0:
		r.IPProtocol = a.IPProtocol
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	default:
		return r, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		return r, false
	}
	r.StartAddr, r.EndAddr = maxAddr(a.StartAddr, b.StartAddr), minAddr(a.EndAddr, b.EndAddr)
	if r.EndAddr.Less(r.StartAddr) {
		return r, false
	}
	return r, true
}

// narrow is the responder's narrowing of RFC 7296 §2.9: every part of the
// offered selectors that our configuration allows, and nothing else. Raw
// (non-IP) selectors drop out. An empty result means TS_UNACCEPTABLE.
func narrow(offered, ours []message.Selector) []message.Selector {
	var out []message.Selector
	for _, o := range offered {
		for _, c := range ours {
			if r, ok := intersect(o, c); ok && !containsSel(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func containsSel(list []message.Selector, s message.Selector) bool {
	for _, x := range list {
		if x.Type == s.Type && x.IPProtocol == s.IPProtocol && x.StartPort == s.StartPort &&
			x.EndPort == s.EndPort && x.StartAddr == s.StartAddr && x.EndAddr == s.EndAddr {
			return true
		}
	}
	return false
}

// within reports whether each selector of got lies inside one we offered
// (the initiator's check of a narrowed answer).
func within(got, offered []message.Selector) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		ok := false
		for _, o := range offered {
			if r, ok2 := intersect(g, o); ok2 && containsSel([]message.Selector{g}, r) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// prefixes flattens selectors into the prefixes that cover them (ports
// and protocols are not carried to the data plane).
func prefixes(sels []message.Selector) []netip.Prefix {
	var out []netip.Prefix
	for i := range sels {
		out = append(out, sels[i].Prefixes()...)
	}
	return out
}
