package message

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func vendorIDs(ps []Payload) []string {
	var out []string
	for _, p := range ps {
		if d, ok := p.(*DataV1); ok && d.PayloadType == PayloadV1VendorID {
			out = append(out, string(d.Data))
		}
	}
	return out
}

// The strongSwan IKEv1 captures (lab, MODE=v1main and MODE=v1aggr,
// IKE_PROPOSAL=aes128-sha1-modp1024, PSK, IDS=ip).
func TestStrongSwanV1MainMode(t *testing.T) {
	mm1b := readHex(t, "strongswan_v1_mm1.hex")
	mm1, err := ParseMessageV1(mm1b)
	if err != nil {
		t.Fatal(err)
	}
	if mm1.Exchange != ExchangeIdentityProtection || mm1.SPIr != 0 || mm1.MessageID != 0 || mm1.Flags != 0 {
		t.Errorf("header %s", &mm1.Header)
	}
	sa := mm1.Payloads[0].(*SAV1)
	if sa.DOI != DOIIPsec || sa.Situation != SituationIdentityOnly || len(sa.Proposals) != 1 {
		t.Fatalf("%+v", sa)
	}
	p := sa.Proposals[0]
	if p.Protocol != ProtocolIKE || len(p.SPI) != 0 || len(p.Transforms) != 1 || p.Transforms[0].ID != TransformIDKeyIKE {
		t.Fatalf("%+v", p)
	}
	// RFC 2409 Appendix A: AES-CBC (7)/128, SHA (2), MODP 1024 (2), PSK
	// (1), lifetime in seconds: 15840 (strongSwan's 4 h + jitter).
	tr := p.Transforms[0]
	for at, want := range map[AttributeType]uint64{
		AttrV1EncryptionAlgorithm: 7, AttrV1KeyLength: 128, AttrV1HashAlgorithm: 2, AttrV1GroupDescription: 2,
		AttrV1AuthMethod: uint64(IKEv1AuthPreSharedKey), AttrV1LifeType: uint64(LifeTypeSeconds), AttrV1LifeDuration: 15840,
	} {
		a, ok := tr.Attr(at)
		if v, ok2 := a.Uint(); !ok || !ok2 || v != want {
			t.Errorf("attribute %d = %d (%v), want %d", at, v, ok, want)
		}
	}
	if !bytes.Equal(sa.Raw, mm1b[HeaderLen+4:HeaderLen+4+len(sa.Raw)]) {
		t.Error("SA Raw is not the received body")
	}
	// The lab README: XAuth, DPD, FRAGMENTATION, RFC 3947 and draft-02 NAT-T.
	if got, want := vendorIDs(mm1.Payloads), []string{VendorIDXAuth, VendorIDDPD, VendorIDFragmentation, VendorIDNATTRFC3947, VendorIDNATTDraft02N}; !slices.Equal(got, want) {
		t.Errorf("vendor IDs %q", got)
	}

	mm3, err := ParseMessageV1(readHex(t, "strongswan_v1_mm3.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if got := payloadTypes(mm3.Payloads); !slices.Equal(got, []PayloadType{PayloadV1KE, PayloadV1Nonce, PayloadV1NATD, PayloadV1NATD}) {
		t.Fatalf("mm3 %v", got)
	}
	if ke := mm3.Payloads[0].(*KEV1); len(ke.Data) != 128 {
		t.Errorf("KE of %d bytes", len(ke.Data))
	}
	// RFC 3947 §3.2: the first NAT-D hashes the peer's address, with the
	// negotiated hash (SHA-1 here, so NATDetectionData applies). As in
	// IKEv2, libipsec fakes the second (local) one.
	natd := mm3.Payloads[2].(*DataV1).Data
	if want := NATDetectionData(mm3.SPIi, mm3.SPIr, netip.MustParseAddrPort("192.0.2.2:500")); !bytes.Equal(natd, want) {
		t.Errorf("NAT-D %x, want %x", natd, want)
	}

	// Messages 5, 6 and Quick Mode are encrypted after the header.
	for _, f := range []string{"mm5", "mm6", "qm1", "qm2", "qm3"} {
		b := readHex(t, "strongswan_v1_"+f+".hex")
		m, err := ParseMessageV1(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.Flags&FlagV1Encryption == 0 || len(m.Payloads) != 0 || len(m.Ciphertext)%16 != 0 || !bytes.Equal(m.Ciphertext, b[HeaderLen:]) {
			t.Errorf("%s: %s", f, m)
		}
		if (f[0] == 'q') != (m.Exchange == ExchangeQuickMode) || (f[0] == 'q') == (m.MessageID == 0) {
			t.Errorf("%s: %s", f, &m.Header)
		}
		// ID_PROT messages 5/6 start with ID, Quick Mode with HASH.
		if want := map[bool]PayloadType{true: PayloadV1HASH, false: PayloadV1ID}[f[0] == 'q']; m.NextPayload != want {
			t.Errorf("%s: first payload %s", f, m.NextPayload)
		}
		out, err := m.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: re-marshal differs (%v)", f, err)
		}
	}
	for _, f := range []string{"mm1", "mm2", "mm3", "mm4"} {
		b := readHex(t, "strongswan_v1_"+f+".hex")
		m, _ := ParseMessageV1(b)
		if out, err := m.Marshal(); err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: re-marshal differs (%v)", f, err)
		}
	}
}

func TestStrongSwanV1Aggressive(t *testing.T) {
	for _, tc := range []struct {
		f    string
		want []PayloadType
		id   string
	}{
		{"am1", []PayloadType{PayloadV1SA, PayloadV1KE, PayloadV1Nonce, PayloadV1ID, 13, 13, 13, 13, 13}, "192.0.2.1/32"},
		{"am2", []PayloadType{PayloadV1SA, PayloadV1KE, PayloadV1Nonce, PayloadV1ID, 13, 13, 13, 13, PayloadV1NATD, PayloadV1NATD, PayloadV1HASH}, "192.0.2.2/32"},
	} {
		b := readHex(t, "strongswan_v1_"+tc.f+".hex")
		m, err := ParseMessageV1(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.Exchange != ExchangeAggressive || !slices.Equal(payloadTypes(m.Payloads), tc.want) {
			t.Errorf("%s: %s", tc.f, m)
		}
		id := Get(m.Payloads, PayloadV1ID).(*IDV1)
		if p, ok := id.Prefix(); !ok || p.String() != tc.id || id.IDType != IDIPv4Addr {
			t.Errorf("%s: ID %v %v", tc.f, p, ok)
		}
		if out, err := m.Marshal(); err != nil || !bytes.Equal(out, b) {
			t.Errorf("%s: re-marshal differs (%v)", tc.f, err)
		}
	}
}

func TestV1RoundTrip(t *testing.T) {
	ps := []Payload{
		&SAV1{DOI: DOIIPsec, Situation: SituationIdentityOnly, Proposals: []ProposalV1{
			{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []TransformV1{
				{Number: 1, ID: 12, Attributes: []Attribute{AttrUint(AttrIPsecKeyLength, 256), AttrUint(AttrIPsecEncapsulation, uint64(EncapUDPTunnel)),
					AttrUint(AttrIPsecSALifeType, uint64(LifeTypeSeconds)), AttrUint(AttrIPsecSALifeDuration, 3600*24*30)}},
				{Number: 2, ID: 3, Attributes: []Attribute{AttrUint(AttrIPsecAuthAlgorithm, 2), AttrUint(AttrIPsecSALifeDuration, 1<<40)}},
			}},
			{Number: 1, Protocol: ProtocolIPCOMP, SPI: []byte{0, 9}, Transforms: []TransformV1{{Number: 1, ID: 2}}},
		}},
		&KEV1{Data: bytes.Repeat([]byte{1}, 128)},
		&DataV1{PayloadType: PayloadV1Nonce, Data: bytes.Repeat([]byte{2}, 16)},
		NewIDV1Prefix(netip.MustParsePrefix("10.1.0.0/24")),
		NewIDV1Prefix(netip.MustParsePrefix("2001:db8::/48")),
		NewIDV1Addr(netip.MustParseAddr("192.0.2.1")),
		&IDV1{IDType: IDIPv4AddrRange, Protocol: 17, Port: 500, Data: []byte{10, 0, 0, 1, 10, 0, 0, 9}},
		&IDV1{IDType: IDFQDN, Data: []byte("gw.example")},
		&DataV1{PayloadType: PayloadV1HASH, Data: bytes.Repeat([]byte{3}, 20)},
		&DataV1{PayloadType: PayloadV1VendorID, Data: []byte(VendorIDDPD)},
		&DataV1{PayloadType: PayloadV1NATD, Data: bytes.Repeat([]byte{4}, 20)},
		NewDPDV1(false, 1, 2, 77),
		&NotifyV1{DOI: DOIIPsec, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: V1ResponderLifetime, Data: []byte{1}},
		NewDeleteV1ESP(0xaabbccdd, 1),
		NewDeleteV1ISAKMP(5, 6),
		&NATOAV1{Addr: netip.MustParseAddr("10.9.9.9")},
		&NATOAV1{Draft: true, Addr: netip.MustParseAddr("2001:db8::9")},
		&FragmentV1{ID: 3, Number: 2, Last: true, Data: []byte("frag")},
		&Raw{PayloadType: 200, Body: []byte{1}},
	}
	first, b, err := MarshalPayloadsV1(ps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePayloadsV1(first, append(b, 0, 0, 0, 7)) // CBC padding tolerated
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ps) {
		t.Fatalf("%d payloads", len(got))
	}
	for i := range ps {
		if sa, ok := got[i].(*SAV1); ok {
			sa.Raw = nil
		}
		normalize(reflect.ValueOf(ps[i]))
		normalize(reflect.ValueOf(got[i]))
		if !reflect.DeepEqual(got[i], ps[i]) {
			t.Errorf("payload %d:\n got %#v\nwant %#v", i, got[i], ps[i])
		}
	}
	// Encrypted message assembly.
	m := &MessageV1{Header: Header{SPIi: 1, SPIr: 2, Exchange: ExchangeQuickMode, MessageID: 9}}
	enc, err := m.MarshalEncryptedV1(ps[:3], func(pt []byte) ([]byte, error) {
		return append(append([]byte(nil), pt...), make([]byte, 16-len(pt)%16)...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := ParseMessageV1(enc)
	if err != nil || pm.NextPayload != PayloadV1SA || pm.Flags&FlagV1Encryption == 0 || len(pm.Ciphertext)%16 != 0 {
		t.Fatalf("%v %v", pm, err)
	}
	if inner, err := ParsePayloadsV1(pm.NextPayload, pm.Ciphertext); err != nil || len(inner) != 3 {
		t.Fatalf("%v %v", inner, err)
	}
	// A cleartext message must not carry trailing bytes.
	clear := &MessageV1{Header: Header{SPIi: 1, Exchange: ExchangeIdentityProtection}, Payloads: ps[:1]}
	cb, _ := clear.Marshal()
	cb = append(cb, 0)
	binary.BigEndian.PutUint32(cb[24:], uint32(len(cb)))
	if _, err := ParseMessageV1(cb); err == nil {
		t.Error("trailing byte accepted in a cleartext message")
	}
}

func TestIDV1Helpers(t *testing.T) {
	for _, tc := range []struct {
		id   *IDV1
		want string
		sel  string
	}{
		{NewIDV1Prefix(netip.MustParsePrefix("10.1.0.0/24")), "10.1.0.0/24", "10.1.0.0-10.1.0.255"},
		{NewIDV1Prefix(netip.MustParsePrefix("10.1.0.7/32")), "10.1.0.7/32", "10.1.0.7-10.1.0.7"},
		{NewIDV1Prefix(netip.MustParsePrefix("2001:db8::/32")), "2001:db8::/32", "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{&IDV1{IDType: IDIPv4AddrRange, Data: []byte{10, 0, 0, 0, 10, 0, 1, 255}}, "10.0.0.0/23", "10.0.0.0-10.0.1.255"},
	} {
		p, ok := tc.id.Prefix()
		if !ok || p.String() != tc.want {
			t.Errorf("%s: prefix %v %v", tc.want, p, ok)
		}
		s := tc.id.Selector()
		if got := s.StartAddr.String() + "-" + s.EndAddr.String(); got != tc.sel || !s.AnyPort() {
			t.Errorf("%s: selector %s", tc.want, got)
		}
	}
	if id := NewIDV1Prefix(netip.MustParsePrefix("10.1.0.0/24")); id.IDType != IDIPv4AddrSubnet || !bytes.Equal(id.Data, []byte{10, 1, 0, 0, 255, 255, 255, 0}) {
		t.Errorf("%+v", id)
	}
	// A non-contiguous mask has no prefix.
	if _, ok := (&IDV1{IDType: IDIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 0, 255, 0}}).Prefix(); ok {
		t.Error("non-contiguous mask accepted")
	}
	if seq, ok := NewDPDV1(true, 1, 2, 42).DPDSeq(); !ok || seq != 42 {
		t.Errorf("DPD seq %d %v", seq, ok)
	}
	if a := AttrUint(AttrIPsecSALifeDuration, 70000); a.TV || len(a.Value) != 4 {
		t.Errorf("%+v", a)
	}
}

func TestV1Rejects(t *testing.T) {
	okT := cat([]byte{0, 0, 0, 8}, []byte{1, 1, 0, 0})
	sa := func(doi, sit uint32, props ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, doi)
		b = binary.BigEndian.AppendUint32(b, sit)
		return cat(b, cat(props...))
	}
	prop := func(next byte, num byte, proto ProtocolID, spi []byte, n byte, ts ...[]byte) []byte {
		b := cat([]byte{next, 0, 0, 0, num, byte(proto), byte(len(spi)), n}, spi, cat(ts...))
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	for _, tc := range []struct {
		name  string
		first PayloadType
		chain []byte
		want  NotifyTypeV1
	}{
		{"length beyond", PayloadV1KE, []byte{0, 0, 0, 9, 1}, V1UnequalPayloadLengths},
		{"length below 4", PayloadV1KE, []byte{0, 0, 0, 2}, V1UnequalPayloadLengths},
		{"truncated header", PayloadV1KE, []byte{0, 0}, V1PayloadMalformed},
		{"empty KE", PayloadV1KE, gp(0, 0, nil), V1PayloadMalformed},
		{"nonce 7", PayloadV1Nonce, gp(0, 0, rep(7)), V1PayloadMalformed},
		{"nonce 257", PayloadV1Nonce, gp(0, 0, rep(257)), V1PayloadMalformed},
		{"empty HASH", PayloadV1HASH, gp(0, 0, nil), V1PayloadMalformed},
		{"ID ipv4 of 5", PayloadV1ID, gp(0, 0, cat([]byte{1, 0, 0, 0}, rep(5))), V1InvalidIDInformation},
		{"ID subnet of 4", PayloadV1ID, gp(0, 0, cat([]byte{4, 0, 0, 0}, rep(4))), V1InvalidIDInformation},
		{"ID v6 subnet of 16", PayloadV1ID, gp(0, 0, cat([]byte{6, 0, 0, 0}, rep(16))), V1InvalidIDInformation},
		{"ID truncated", PayloadV1ID, gp(0, 0, []byte{1, 0}), V1PayloadMalformed},
		{"proposal outside SA", PayloadV1Proposal, gp(0, 0, rep(8)), V1InvalidPayloadType},
		{"SA wrong DOI", PayloadV1SA, gp(0, 0, sa(2, 1, prop(0, 1, ProtocolIKE, nil, 1, okT))), V1DOINotSupported},
		{"SA secrecy situation", PayloadV1SA, gp(0, 0, sa(1, 2, prop(0, 1, ProtocolIKE, nil, 1, okT))), V1SituationNotSupported},
		{"SA truncated", PayloadV1SA, gp(0, 0, []byte{0, 0, 0, 1}), V1PayloadMalformed},
		{"SA no proposals chain", PayloadV1SA, gp(0, 0, sa(1, 1)), V1PayloadMalformed},
		{"SA ESP SPI 0", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolESP, nil, 1, okT))), V1BadProposalSyntax},
		{"SA IKE SPI 8", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolIKE, rep(8), 1, okT))), V1BadProposalSyntax},
		{"SA transform count", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolIKE, nil, 2, okT))), V1BadProposalSyntax},
		{"SA transform chain says more", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolIKE, nil, 1, cat([]byte{3, 0, 0, 8}, []byte{1, 1, 0, 0})))), V1BadProposalSyntax},
		{"SA proposal chain names transform", PayloadV1SA, gp(0, 0, sa(1, 1, prop(3, 1, ProtocolIKE, nil, 1, okT), prop(0, 2, ProtocolIKE, nil, 1, okT))), V1BadProposalSyntax},
		{"SA proposal numbers decrease", PayloadV1SA, gp(0, 0, sa(1, 1, prop(2, 2, ProtocolIKE, nil, 1, okT), prop(0, 1, ProtocolIKE, nil, 1, okT))), V1BadProposalSyntax},
		{"SA trailing bytes", PayloadV1SA, gp(0, 0, cat(sa(1, 1, prop(0, 1, ProtocolIKE, nil, 1, okT)), []byte{0})), V1UnequalPayloadLengths},
		{"SA transform truncated attribute", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolIKE, nil, 1, cat([]byte{0, 0, 0, 10}, []byte{1, 1, 0, 0, 0x80, 1})))), V1PayloadMalformed},
		{"SA transform TLV beyond", PayloadV1SA, gp(0, 0, sa(1, 1, prop(0, 1, ProtocolIKE, nil, 1, cat([]byte{0, 0, 0, 13}, []byte{1, 1, 0, 0, 0, 12, 0, 4, 1})))), V1PayloadMalformed},
		{"N truncated", PayloadV1Notify, gp(0, 0, rep(7)), V1PayloadMalformed},
		{"DPD short data", PayloadV1Notify, gp(0, 0, cat(u16(0), u16(1), []byte{1, 16}, u16(uint16(V1DPDRUThere)), rep(16), rep(2))), V1PayloadMalformed},
		{"D ESP size 8", PayloadV1Delete, gp(0, 0, cat(u16(0), u16(1), []byte{3, 8}, u16(1), rep(8))), V1InvalidProtocolID},
		{"D count mismatch", PayloadV1Delete, gp(0, 0, cat(u16(0), u16(1), []byte{3, 4}, u16(2), rep(4))), V1PayloadMalformed},
		{"D zero count", PayloadV1Delete, gp(0, 0, cat(u16(0), u16(1), []byte{3, 4}, u16(0))), V1PayloadMalformed},
		{"NAT-OA fqdn", PayloadV1NATOA, gp(0, 0, cat([]byte{2, 0, 0, 0}, rep(4))), V1PayloadMalformed},
		{"NAT-OA v4 of 16", PayloadV1NATOA, gp(0, 0, cat([]byte{1, 0, 0, 0}, rep(16))), V1PayloadMalformed},
		{"fragment number 0", PayloadV1Fragment, gp(0, 0, []byte{0, 1, 0, 1, 9}), V1PayloadMalformed},
	} {
		_, err := ParsePayloadsV1(tc.first, tc.chain)
		ne, ok := err.(*NotifyErrorV1)
		if !ok || ne.Type != tc.want {
			t.Errorf("%s: err %v, want %s", tc.name, err, tc.want)
		}
	}
	h := Header{SPIi: 1, MajorVersion: 2, Length: 28}
	if _, err := ParseMessageV1(h.Marshal()); err == nil {
		t.Error("IKEv2 header accepted by ParseMessageV1")
	}
	if _, err := ParseMessageV1(h.Marshal()[:20]); err == nil {
		t.Error("short message accepted")
	}
}

func TestFragmentsV1(t *testing.T) {
	orig := readHex(t, "strongswan_v1_qm1.hex") // 316 bytes, encrypted
	om, _ := ParseMessageV1(orig)
	frags, err := FragmentMessageV1(orig, om.Header, 7, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 5 { // 64 bytes of data per 100-byte fragment
		t.Fatalf("%d fragments", len(frags))
	}
	var r ReassemblyV1
	for k, i := range []int{4, 0, 2, 2, 1, 3} {
		if len(frags[i]) > 100 {
			t.Errorf("fragment %d is %d bytes", i+1, len(frags[i]))
		}
		m, err := ParseMessageV1(frags[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.Flags&FlagV1Encryption != 0 || m.MessageID != om.MessageID || m.Exchange != ExchangeQuickMode || len(m.Payloads) != 1 {
			t.Fatalf("fragment header %s", m)
		}
		f := m.Payloads[0].(*FragmentV1)
		if f.ID != 7 || int(f.Number) != i+1 || f.Last != (i == 4) {
			t.Fatalf("%+v", f)
		}
		done, err := r.Add(f)
		if err != nil || done != (k == 5) {
			t.Fatalf("step %d: done %v err %v", k, done, err)
		}
	}
	b, err := r.Message()
	if err != nil || !bytes.Equal(b, orig) {
		t.Fatalf("reassembled %d bytes, %v", len(b), err)
	}

	// Rules: a fragment beyond LAST, an older ID, number 0, size cap.
	var r2 ReassemblyV1
	r2.Add(&FragmentV1{ID: 5, Number: 2, Last: true, Data: []byte("b")})
	if _, err := r2.Add(&FragmentV1{ID: 5, Number: 3, Data: []byte("c")}); err == nil {
		t.Error("fragment beyond LAST accepted")
	}
	if _, err := r2.Add(&FragmentV1{ID: 4, Number: 1, Data: []byte("a")}); err == nil {
		t.Error("older fragment ID accepted")
	}
	if _, err := r2.Message(); err == nil {
		t.Error("incomplete reassembly returned a message")
	}
	if _, err := r2.Add(&FragmentV1{ID: 5, Number: 0}); err == nil {
		t.Error("fragment 0 accepted")
	}
	r2.Add(&FragmentV1{ID: 6, Number: 3, Data: []byte("x")}) // newer ID restarts
	if _, err := r2.Add(&FragmentV1{ID: 6, Number: 1, Last: true}); err == nil {
		t.Error("LAST below a held fragment accepted")
	}
	r3 := ReassemblyV1{MaxBytes: 3}
	r3.Add(&FragmentV1{ID: 1, Number: 1, Data: []byte("ab")})
	if _, err := r3.Add(&FragmentV1{ID: 1, Number: 2, Last: true, Data: []byte("cd")}); err == nil {
		t.Error("size cap not enforced")
	}
	if _, err := FragmentMessageV1(orig, om.Header, 1, 36); err == nil {
		t.Error("fragment size without room accepted")
	}
}
