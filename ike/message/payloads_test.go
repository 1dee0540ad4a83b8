package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chainBytes marshals ps as an inner chain and fails the test on error.
func chainBytes(t testing.TB, ps ...Payload) (PayloadType, []byte) {
	t.Helper()
	first, b, err := MarshalPayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	return first, b
}

// normalize makes empty slices nil so that parsed values (which alias
// zero-length windows of the input) compare equal to literals.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	}
}

// TestRoundTrip marshals every payload type, parses the chain back and
// compares values, then re-marshals and compares bytes.
func TestRoundTrip(t *testing.T) {
	nonce := bytes.Repeat([]byte{0xab}, 32)
	ps := []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: TransformENCR, ID: 20, KeyLength: 256},
				{Type: TransformESN, ID: 0},
			}},
			{Number: 2, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: TransformENCR, ID: 12, KeyLength: 128, Attributes: []Attribute{{Type: 99, Value: []byte("x")}, {Type: 17, TV: true, Value: []byte{0, 1}}}},
				{Type: TransformINTEG, ID: 12},
				{Type: TransformDH, ID: 14},
				{Type: TransformESN, ID: 1},
			}},
		}},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, SPI: bytes.Repeat([]byte{7}, 8), Transforms: []Transform{{Type: TransformDH, ID: 31}}}}},
		&KE{Group: 14, Data: bytes.Repeat([]byte{5}, 256)},
		&KE{Group: 31, Data: bytes.Repeat([]byte{6}, 32)},
		&KE{Group: 4242, Data: []byte{1}},
		NewIDAddr(false, netip.MustParseAddr("192.0.2.1")),
		NewIDAddr(true, netip.MustParseAddr("2001:db8::1")),
		NewIDFQDN(true, "gw.example.net"),
		&ID{IDType: IDKeyID, Data: []byte{0, 1, 2}},
		&ID{Responder: true, IDType: IDNull},
		&Auth{Method: AuthPSK, Data: bytes.Repeat([]byte{9}, 20)},
		&Nonce{Data: nonce},
		&Nonce{Data: nonce[:16]},
		NewNotify(INITIAL_CONTACT, nil),
		NewNotify(NAT_DETECTION_SOURCE_IP, bytes.Repeat([]byte{1}, 20)),
		NewCookie([]byte("cookie")),
		NewInvalidKE(19),
		NewRekeySA(ProtocolESP, 0xc0ffee01),
		NewSignatureHashAlgorithms(2, 3, 4),
		&Notify{Protocol: ProtocolESP, SPI: []byte{9, 9, 9, 9}, NotifyType: INVALID_SPI, Data: []byte{1, 2, 3, 4}},
		&Delete{Protocol: ProtocolIKE},
		&Delete{Protocol: ProtocolESP, SPIs: []uint32{1, 0xdeadbeef}},
		&VendorID{Data: []byte("ipsecgw")},
		&TS{Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("10.1.0.0/24")),
			{Type: TSIPv4AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500, StartAddr: netip.MustParseAddr("192.0.2.1"), EndAddr: netip.MustParseAddr("192.0.2.9")}}},
		&TS{Responder: true, Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("2001:db8::/32")), {Type: 9, IPProtocol: 0, Raw: []byte{1, 2, 3, 4, 5}}}},
		&CP{CFGType: CFGRequest, Attributes: []CPAttribute{{Type: CFGInternalIP4Address}, {Type: CFGInternalIP4DNS}, {Type: CFGApplicationVersion, Value: []byte("x")}}},
		&CP{CFGType: CFGReply, Attributes: []CPAttribute{{Type: CFGInternalIP4Address, Value: []byte{10, 0, 0, 1}}, {Type: CFGInternalIP6Address, Value: make([]byte, 17)}}},
		&Raw{PayloadType: PayloadCERTREQ, Body: []byte{4, 1, 2}},
		&Raw{PayloadType: PayloadEAP, Body: []byte{1, 1, 0, 4}},
		&Raw{PayloadType: 200, Body: []byte("unknown")},
	}
	first, b := chainBytes(t, ps...)
	if first != PayloadSA {
		t.Fatalf("first %s", first)
	}
	got, err := ParsePayloads(first, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ps) {
		t.Fatalf("%d payloads back, want %d", len(got), len(ps))
	}
	for i := range ps {
		want := ps[i]
		normalize(reflect.ValueOf(want))
		normalize(reflect.ValueOf(got[i]))
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("payload %d (%s):\n got %#v\nwant %#v", i, want.Type(), got[i], want)
		}
	}
	_, again := chainBytes(t, got...)
	if !bytes.Equal(again, b) {
		t.Errorf("re-marshal differs")
	}
	// Each payload alone, inside a full message, round-trips too.
	for _, p := range ps {
		m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: INFORMATIONAL, Flags: FlagInitiator, MessageID: 7}, Payloads: []Payload{p}}
		mb, err := m.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", p.Type(), err)
		}
		m2, err := ParseMessage(mb)
		if err != nil {
			t.Fatalf("%s: %v", p.Type(), err)
		}
		if len(m2.Payloads) != 1 || m2.Payloads[0].Type() != p.Type() || m2.NextPayload != p.Type() {
			t.Errorf("%s: got %v", p.Type(), payloadTypes(m2.Payloads))
		}
	}
}

// Hand-built vectors, laid out from the RFC 7296 §3 diagrams, pin the
// encoding itself (a round trip alone cannot catch a symmetric mistake).
func TestPayloadVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Payload
		hex  string
	}{
		{"IDi ipv4", NewIDAddr(false, netip.MustParseAddr("192.0.2.1")), "00 00 000c 01000000 c0000201"},
		{"IDr fqdn", NewIDFQDN(true, "a.b"), "00 00 000b 02000000 612e62"},
		{"AUTH psk", &Auth{Method: AuthPSK, Data: []byte{1, 2}}, "00 00 000a 02000000 0102"},
		{"N rekey", NewRekeySA(ProtocolESP, 0x01020304), "00 00 000c 03 04 4009 01020304"},
		{"N invalid KE", NewInvalidKE(14), "00 00 000a 00 00 0011 000e"},
		{"D esp", &Delete{Protocol: ProtocolESP, SPIs: []uint32{0xa1b2c3d4}}, "00 00 000c 03 04 0001 a1b2c3d4"},
		{"D ike", &Delete{Protocol: ProtocolIKE}, "00 00 0008 01 00 0000"},
		{"TSi", &TS{Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("10.1.0.0/24"))}},
			"00 00 0018 01000000 07 00 0010 0000 ffff 0a010000 0a0100ff"},
		{"TSr v6 tcp", &TS{Responder: true, Selectors: []Selector{{Type: TSIPv6AddrRange, IPProtocol: 6, StartPort: 80, EndPort: 80,
			StartAddr: netip.MustParseAddr("2001:db8::"), EndAddr: netip.MustParseAddr("2001:db8::ffff")}}},
			"00 00 0030 01000000 08 06 0028 0050 0050 20010db8000000000000000000000000 20010db800000000000000000000ffff"},
		{"CP", &CP{CFGType: CFGRequest, Attributes: []CPAttribute{{Type: CFGInternalIP4Address}}}, "00 00 000c 01000000 0001 0000"},
		{"KE", &KE{Group: 31, Data: make([]byte, 32)}, "00 00 0028 001f 0000" + strings.Repeat("00", 32)},
		{"SA esp", &SA{Proposals: []Proposal{{Protocol: ProtocolESP, SPI: []byte{0xaa, 0xbb, 0xcc, 0xdd}, Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 128}, {Type: TransformESN, ID: 0}}}}},
			"00 00 0024 00 00 0020 01 03 04 02 aabbccdd 03 00 000c 01 00 000c 800e0080 00 00 0008 05 00 0000"},
	} {
		_, b := chainBytes(t, tc.p)
		if want := unhex(t, tc.hex); !bytes.Equal(b, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, b, want)
		}
		ps, err := ParsePayloads(tc.p.Type(), b)
		if err != nil || len(ps) != 1 {
			t.Errorf("%s: parse %v %v", tc.name, ps, err)
		}
	}
}

func TestIDHelpers(t *testing.T) {
	id := NewIDAddr(false, netip.MustParseAddr("::ffff:192.0.2.7"))
	if id.IDType != IDIPv4Addr || id.String() != "192.0.2.7" {
		t.Errorf("mapped address gave %s %s", id.IDType, id)
	}
	if a, ok := id.Addr(); !ok || a != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("Addr %v %v", a, ok)
	}
	if f := NewIDFQDN(true, "gw.example"); f.String() != "gw.example" || f.Type() != PayloadIDr {
		t.Errorf("fqdn %s %s", f, f.Type())
	}
	if _, ok := NewIDFQDN(false, "x").Addr(); ok {
		t.Error("FQDN has an address")
	}
	// RFC 7296 §2.15: the AUTH computation covers the ID payload body.
	if got := NewIDAddr(false, netip.MustParseAddr("192.0.2.1")).Body(); !bytes.Equal(got, []byte{1, 0, 0, 0, 192, 0, 2, 1}) {
		t.Errorf("ID body %x", got)
	}
	// ... exactly as received, reserved octets included.
	body := []byte{2, 0xaa, 0xbb, 0xcc, 'g', 'w'}
	ps, err := ParsePayloads(PayloadIDi, gp(0, 0, body))
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].(*ID).Body(); !bytes.Equal(got, body) {
		t.Errorf("received ID body %x, want %x", got, body)
	}
}

func TestNotifyHelpers(t *testing.T) {
	if g, ok := NewInvalidKE(19).Group(); !ok || g != 19 {
		t.Errorf("group %d %v", g, ok)
	}
	if _, ok := NewCookie([]byte{1}).Group(); ok {
		t.Error("COOKIE has a group")
	}
	if s, ok := NewRekeySA(ProtocolESP, 0xc1c2c3c4).SPI32(); !ok || s != 0xc1c2c3c4 {
		t.Errorf("SPI32 %x %v", s, ok)
	}
	// An IKE-SA notification is sent with Protocol ID zero (RFC 7296 §3.10).
	_, b := chainBytes(t, &Notify{Protocol: ProtocolIKE, NotifyType: INITIAL_CONTACT})
	if b[4] != 0 {
		t.Errorf("protocol %d for an empty SPI", b[4])
	}
	// NAT-D: SHA-1 over SPIi | SPIr | IP | port (RFC 7296 §2.23), known answer
	// from the strongSwan capture (destination 192.0.2.2:500).
	got := NATDetectionData(0x23323e31e78f51ba, 0, netip.MustParseAddrPort("192.0.2.2:500"))
	if hex.EncodeToString(got) != "19ad2a953939bda860824f026609a5b19b29b0bc" {
		t.Errorf("NAT-D %x", got)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{IKE_SA_INIT.String(), "IKE_SA_INIT"},
		{ExchangeType(99).String(), "EXCHANGE(99)"},
		{PayloadSKF.String(), "SKF"},
		{PayloadType(250).String(), "PAYLOAD(250)"},
		{NAT_DETECTION_DESTINATION_IP.String(), "NAT_DETECTION_DESTINATION_IP"},
		{NotifyType(60000).String(), "NOTIFY(60000)"},
		{ProtocolESP.String(), "ESP"},
		{TransformDH.String(), "DH"},
		{IDFQDN.String(), "ID_FQDN"},
		{AuthPSK.String(), "PSK"},
		{TSIPv6AddrRange.String(), "TS_IPV6_ADDR_RANGE"},
		{CFGReply.String(), "CFG_REPLY"},
		{CFGInternalIP4DNS.String(), "INTERNAL_IP4_DNS"},
		{AttributeKeyLength.String(), "KEY_LENGTH"},
		{(FlagInitiator | FlagResponse).String(), "I|R"},
		{Flags(0).String(), "-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !INVALID_SYNTAX.IsError() || INITIAL_CONTACT.IsError() {
		t.Error("IsError")
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, p := range []Payload{
		&SA{},
		&SA{Proposals: []Proposal{{Protocol: ProtocolESP, SPI: []byte{1}, Transforms: []Transform{{Type: 1}}}}},
		&SA{Proposals: []Proposal{{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}}}},
		&SA{Proposals: []Proposal{{Protocol: ProtocolIKE, Transforms: []Transform{{Type: 1, Attributes: []Attribute{{Type: 1, TV: true, Value: []byte{1}}}}}}}},
		&KE{Group: 14, Data: make([]byte, 255)},
		&KE{Group: 999},
		&ID{IDType: IDIPv4Addr, Data: make([]byte, 16)},
		&Auth{Method: AuthPSK},
		&Nonce{Data: make([]byte, 15)},
		&Nonce{Data: make([]byte, 257)},
		&Notify{NotifyType: COOKIE},
		&Notify{NotifyType: REKEY_SA},
		&Notify{NotifyType: INITIAL_CONTACT, SPI: []byte{1}},
		&Delete{Protocol: ProtocolESP},
		&Delete{Protocol: ProtocolIKE, SPIs: []uint32{1}},
		&Delete{Protocol: 9, SPIs: []uint32{1}},
		&TS{},
		&TS{Selectors: []Selector{{Type: TSIPv4AddrRange, StartAddr: netip.MustParseAddr("::1"), EndAddr: netip.MustParseAddr("::1")}}},
		&CP{Attributes: []CPAttribute{{Type: CFGInternalIP4Address, Value: []byte{1}}}},
		&EncryptedFragment{Number: 2, Total: 1},
		&VendorID{Data: make([]byte, 70000)},
	} {
		if _, _, err := MarshalPayloads([]Payload{p}); !errors.Is(err, errMarshal) {
			t.Errorf("%T %+v: err %v", p, p, err)
		}
	}
	// SK must be last and only in the outer chain.
	if _, _, err := MarshalPayloads([]Payload{&Encrypted{}}); err == nil {
		t.Error("SK in an inner chain marshalled")
	}
	m := &Message{Payloads: []Payload{&Encrypted{}, &Nonce{Data: make([]byte, 16)}}}
	if _, err := m.Marshal(); err == nil {
		t.Error("SK before another payload marshalled")
	}
}

func TestSummary(t *testing.T) {
	m := &Message{Header: Header{Exchange: IKE_AUTH, MessageID: 1, Flags: FlagInitiator, MajorVersion: 2},
		Payloads: []Payload{NewNotify(COOKIE, []byte{1}), &Encrypted{NextPayload: PayloadIDi}}}
	if got, want := Summary(m.Payloads), "N(COOKIE) SK{IDi…}"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := m.String(); !strings.HasSuffix(got, "[N(COOKIE) SK{IDi…}]") || !strings.HasPrefix(got, "IKE_AUTH ") {
		t.Errorf("%q", got)
	}
	if got := Summary([]Payload{&EncryptedFragment{Number: 2, Total: 3}}); got != "SKF(2/3)" {
		t.Errorf("%q", got)
	}
}

func TestProposalSPI(t *testing.T) {
	p := Proposal{SPI: []byte{1, 2, 3, 4}}
	if v, ok := p.SPI32(); !ok || v != 0x01020304 {
		t.Errorf("SPI32 %x %v", v, ok)
	}
	if _, ok := p.SPI64(); ok {
		t.Error("4-byte SPI read as 8")
	}
	p.SPI = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if v, ok := p.SPI64(); !ok || v != 0x0102030405060708 {
		t.Errorf("SPI64 %x %v", v, ok)
	}
	if _, ok := p.SPI32(); ok {
		t.Error("8-byte SPI read as 4")
	}
}
