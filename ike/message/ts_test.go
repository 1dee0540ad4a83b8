package message

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSelectorPrefixes(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		start, end string
		want       []string
	}{
		{"10.1.0.0", "10.1.0.255", []string{"10.1.0.0/24"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"192.0.2.7", "192.0.2.7", []string{"192.0.2.7/32"}},
		{"10.0.0.1", "10.0.0.6", []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"10.0.0.0", "10.0.2.255", []string{"10.0.0.0/23", "10.0.2.0/24"}},
		{"255.255.255.254", "255.255.255.255", []string{"255.255.255.254/31"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"2001:db8::", "2001:db8:0:0:ffff:ffff:ffff:ffff", []string{"2001:db8::/64"}},
		{"2001:db8::", "2001:db8:0:1::", []string{"2001:db8::/64", "2001:db8:0:1::/128"}},
		{"::ffff:ffff:ffff:ffff", "::1:0:0:0:0", []string{"::ffff:ffff:ffff:ffff/128", "0:0:0:1::/128"}},
		{"10.0.0.9", "10.0.0.1", nil},
	} {
		typ := TSIPv4AddrRange
		if a(tc.start).Is6() {
			typ = TSIPv6AddrRange
		}
		s := Selector{Type: typ, StartAddr: a(tc.start), EndAddr: a(tc.end), EndPort: 0xffff}
		var got []string
		for _, p := range s.Prefixes() {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s-%s: %v, want %v", tc.start, tc.end, got, tc.want)
		}
		_, single := s.Prefix()
		if single != (len(tc.want) == 1) {
			t.Errorf("%s-%s: Prefix ok=%v", tc.start, tc.end, single)
		}
	}
	// Mixed families and non-IP selectors have no prefixes.
	if p := (&Selector{Type: TSIPv4AddrRange, StartAddr: a("10.0.0.0"), EndAddr: a("::1")}).Prefixes(); p != nil {
		t.Errorf("mixed families: %v", p)
	}
	if p := (&Selector{Type: 9, Raw: []byte{1}}).Prefixes(); p != nil {
		t.Errorf("non-IP: %v", p)
	}
}

func TestSelectorFromPrefix(t *testing.T) {
	s := SelectorFromPrefix(netip.MustParsePrefix("10.1.2.3/16"))
	if s.Type != TSIPv4AddrRange || s.StartAddr != netip.MustParseAddr("10.1.0.0") || s.EndAddr != netip.MustParseAddr("10.1.255.255") ||
		!s.AnyPort() || s.IPProtocol != 0 || !s.IsIP() {
		t.Errorf("%+v", s)
	}
	if p, ok := s.Prefix(); !ok || p != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("back to %v %v", p, ok)
	}
	s6 := SelectorFromPrefix(netip.MustParsePrefix("2001:db8::/48"))
	if s6.Type != TSIPv6AddrRange || s6.EndAddr != netip.MustParseAddr("2001:db8:0:ffff:ffff:ffff:ffff:ffff") {
		t.Errorf("%+v", s6)
	}
	if s := SelectorFromPrefix(netip.Prefix{}); s.IsIP() {
		t.Errorf("invalid prefix gave %+v", s)
	}
	if s := SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0")); s.EndAddr != netip.MustParseAddr("255.255.255.255") {
		t.Errorf("%+v", s)
	}
}
