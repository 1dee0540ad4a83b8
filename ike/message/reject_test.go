package message

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// gp builds one payload: generic header (next payload, flags, length) and body.
func gp(next PayloadType, flags byte, body []byte) []byte {
	b := []byte{byte(next), flags, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(body)))
	return append(b, body...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func rep(n int) []byte { return bytes.Repeat([]byte{0x5a}, n) }

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// transform / proposal substructure builders for the SA rejection cases.
func tr(last byte, typ TransformType, id uint16, attrs ...byte) []byte {
	b := []byte{last, 0, 0, 0, byte(typ), 0, byte(id >> 8), byte(id)}
	b = append(b, attrs...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func prop(last, num byte, proto ProtocolID, spi []byte, ntrans byte, transforms ...[]byte) []byte {
	b := []byte{last, 0, 0, 0, num, byte(proto), byte(len(spi)), ntrans}
	b = append(b, spi...)
	for _, t := range transforms {
		b = append(b, t...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func ts4(typ byte, slen uint16, rest []byte) []byte {
	return cat([]byte{typ, 0}, u16(slen), rest)
}

// TestRejects feeds one malformed inner chain per length or value rule and
// checks the notification the codec asks the state machine to send.
func TestRejects(t *testing.T) {
	okTransform := tr(0, TransformDH, 14)
	v4sel := cat([]byte{7, 0, 0, 16}, []byte{0, 0, 0xff, 0xff}, []byte{10, 0, 0, 0}, []byte{10, 0, 0, 255})
	for _, tc := range []struct {
		name  string
		first PayloadType
		chain []byte
		want  NotifyType
	}{
		// generic header
		{"truncated generic header", PayloadNonce, []byte{0, 0, 0}, INVALID_SYNTAX},
		{"payload length below 4", PayloadNonce, []byte{0, 0, 0, 3}, INVALID_SYNTAX},
		{"payload length beyond data", PayloadNonce, cat([]byte{0, 0, 0, 40}, rep(16)), INVALID_SYNTAX},
		{"trailing bytes after chain", PayloadNonce, cat(gp(0, 0, rep(16)), []byte{1}), INVALID_SYNTAX},
		{"chain names a missing payload", PayloadNonce, gp(PayloadNonce, 0, rep(16)), INVALID_SYNTAX},
		{"unknown critical payload", 200, gp(0, 0x80, []byte{1}), UNSUPPORTED_CRITICAL_PAYLOAD},
		{"SK inside SK", PayloadSK, gp(0, 0, rep(40)), INVALID_SYNTAX},
		{"SKF inside SK", PayloadSKF, gp(0, 0, cat(u16(1), u16(1), rep(40))), INVALID_SYNTAX},
		// nonce 16..256 (RFC 7296 §3.9)
		{"nonce 15", PayloadNonce, gp(0, 0, rep(15)), INVALID_SYNTAX},
		{"nonce 257", PayloadNonce, gp(0, 0, rep(257)), INVALID_SYNTAX},
		// KE length fixed by the group (RFC 7296 §3.4)
		{"KE truncated", PayloadKE, gp(0, 0, []byte{0, 14, 0}), INVALID_SYNTAX},
		{"KE group 14 short", PayloadKE, gp(0, 0, cat(u16(14), u16(0), rep(255))), INVALID_SYNTAX},
		{"KE group 19 long", PayloadKE, gp(0, 0, cat(u16(19), u16(0), rep(65))), INVALID_SYNTAX},
		{"KE group 2 with 96 bytes", PayloadKE, gp(0, 0, cat(u16(2), u16(0), rep(96))), INVALID_SYNTAX},
		{"KE unknown group empty", PayloadKE, gp(0, 0, cat(u16(999), u16(0))), INVALID_SYNTAX},
		// ID (RFC 7296 §3.5)
		{"ID truncated", PayloadIDi, gp(0, 0, []byte{1, 0, 0}), INVALID_SYNTAX},
		{"ID ipv4 of 5 bytes", PayloadIDi, gp(0, 0, cat([]byte{1, 0, 0, 0}, rep(5))), INVALID_SYNTAX},
		{"ID ipv6 of 4 bytes", PayloadIDr, gp(0, 0, cat([]byte{5, 0, 0, 0}, rep(4))), INVALID_SYNTAX},
		{"ID fqdn empty", PayloadIDr, gp(0, 0, []byte{2, 0, 0, 0}), INVALID_SYNTAX},
		// AUTH
		{"AUTH without data", PayloadAUTH, gp(0, 0, []byte{2, 0, 0, 0}), INVALID_SYNTAX},
		// Notify
		{"N truncated", PayloadNotify, gp(0, 0, []byte{0, 0, 0x40}), INVALID_SYNTAX},
		{"N SPI beyond payload", PayloadNotify, gp(0, 0, []byte{3, 4, 0x40, 0, 1}), INVALID_SYNTAX},
		{"N SPI size 3", PayloadNotify, gp(0, 0, []byte{3, 3, 0x40, 0, 1, 2, 3}), INVALID_SYNTAX},
		{"NAT-D of 19 bytes", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(NAT_DETECTION_SOURCE_IP)), rep(19))), INVALID_SYNTAX},
		{"COOKIE empty", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(COOKIE)))), INVALID_SYNTAX},
		{"COOKIE of 65", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(COOKIE)), rep(65))), INVALID_SYNTAX},
		{"INVALID_KE of 3", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(INVALID_KE_PAYLOAD)), rep(3))), INVALID_SYNTAX},
		{"REKEY_SA without SPI", PayloadNotify, gp(0, 0, cat([]byte{3, 0}, u16(uint16(REKEY_SA)))), INVALID_SYNTAX},
		{"REKEY_SA for IKE", PayloadNotify, gp(0, 0, cat([]byte{1, 4}, u16(uint16(REKEY_SA)), rep(4))), INVALID_SYNTAX},
		{"SET_WINDOW_SIZE of 2", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(SET_WINDOW_SIZE)), rep(2))), INVALID_SYNTAX},
		{"HASH_ALG odd", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(SIGNATURE_HASH_ALGORITHMS)), rep(3))), INVALID_SYNTAX},
		// Delete (RFC 7296 §3.11)
		{"D truncated", PayloadDelete, gp(0, 0, []byte{3, 4, 0}), INVALID_SYNTAX},
		{"D IKE with SPI size", PayloadDelete, gp(0, 0, []byte{1, 8, 0, 0}), INVALID_SYNTAX},
		{"D IKE with count", PayloadDelete, gp(0, 0, []byte{1, 0, 0, 1}), INVALID_SYNTAX},
		{"D ESP SPI size 8", PayloadDelete, gp(0, 0, cat([]byte{3, 8, 0, 1}, rep(8))), INVALID_SYNTAX},
		{"D ESP count mismatch", PayloadDelete, gp(0, 0, cat([]byte{3, 4, 0, 2}, rep(4))), INVALID_SYNTAX},
		{"D ESP zero count", PayloadDelete, gp(0, 0, []byte{3, 4, 0, 0}), INVALID_SYNTAX},
		{"D unknown protocol", PayloadDelete, gp(0, 0, cat([]byte{9, 4, 0, 1}, rep(4))), INVALID_SYNTAX},
		// TS (RFC 7296 §3.13)
		{"TS truncated", PayloadTSi, gp(0, 0, []byte{1, 0, 0}), INVALID_SYNTAX},
		{"TS zero count", PayloadTSi, gp(0, 0, []byte{0, 0, 0, 0}), INVALID_SYNTAX},
		{"TS count mismatch", PayloadTSi, gp(0, 0, cat([]byte{2, 0, 0, 0}, v4sel)), INVALID_SYNTAX},
		{"TS v4 length 40", PayloadTSi, gp(0, 0, cat([]byte{1, 0, 0, 0}, ts4(7, 40, rep(36)))), INVALID_SYNTAX},
		{"TS v6 length 16", PayloadTSr, gp(0, 0, cat([]byte{1, 0, 0, 0}, ts4(8, 16, rep(12)))), INVALID_SYNTAX},
		{"TS selector length 3", PayloadTSr, gp(0, 0, cat([]byte{1, 0, 0, 0}, ts4(7, 3, nil))), INVALID_SYNTAX},
		{"TS selector beyond", PayloadTSr, gp(0, 0, cat([]byte{1, 0, 0, 0}, ts4(7, 16, rep(8)))), INVALID_SYNTAX},
		{"TS truncated selector header", PayloadTSr, gp(0, 0, cat([]byte{1, 0, 0, 0}, []byte{7, 0})), INVALID_SYNTAX},
		// CP (RFC 7296 §3.15)
		{"CP truncated", PayloadCP, gp(0, 0, []byte{1, 0}), INVALID_SYNTAX},
		{"CP attribute beyond", PayloadCP, gp(0, 0, []byte{1, 0, 0, 0, 0, 1, 0, 4, 10}), INVALID_SYNTAX},
		{"CP ip4 address of 3", PayloadCP, gp(0, 0, []byte{2, 0, 0, 0, 0, 1, 0, 3, 10, 0, 0}), INVALID_SYNTAX},
		{"CP ip6 address of 16", PayloadCP, gp(0, 0, cat([]byte{2, 0, 0, 0, 0, 8, 0, 16}, rep(16))), INVALID_SYNTAX},
		{"CP ip4 subnet of 4", PayloadCP, gp(0, 0, cat([]byte{2, 0, 0, 0, 0, 13, 0, 4}, rep(4))), INVALID_SYNTAX},
		// SA (RFC 7296 §3.3)
		{"SA empty", PayloadSA, gp(0, 0, nil), INVALID_SYNTAX},
		{"SA truncated proposal header", PayloadSA, gp(0, 0, []byte{0, 0, 0}), INVALID_SYNTAX},
		{"SA proposal length 7", PayloadSA, gp(0, 0, []byte{0, 0, 0, 7, 1, 1, 0, 0}), INVALID_SYNTAX},
		{"SA proposal beyond", PayloadSA, gp(0, 0, []byte{0, 0, 0, 40, 1, 1, 0, 0}), INVALID_SYNTAX},
		{"SA last flag with more", PayloadSA, gp(0, 0, cat(prop(0, 1, ProtocolIKE, nil, 1, okTransform), prop(0, 2, ProtocolIKE, nil, 1, okTransform))), INVALID_SYNTAX},
		{"SA more flag on last", PayloadSA, gp(0, 0, prop(2, 1, ProtocolIKE, nil, 1, okTransform)), INVALID_SYNTAX},
		{"SA bad last value", PayloadSA, gp(0, 0, prop(1, 1, ProtocolIKE, nil, 1, okTransform)), INVALID_SYNTAX},
		{"SA proposal numbering", PayloadSA, gp(0, 0, cat(prop(2, 1, ProtocolIKE, nil, 1, okTransform), prop(0, 3, ProtocolIKE, nil, 1, okTransform))), INVALID_SYNTAX},
		{"SA proposal number 0", PayloadSA, gp(0, 0, prop(0, 0, ProtocolIKE, nil, 1, okTransform)), INVALID_SYNTAX},
		{"SA ESP SPI size 0", PayloadSA, gp(0, 0, prop(0, 1, ProtocolESP, nil, 1, okTransform)), INVALID_SYNTAX},
		{"SA ESP SPI size 8", PayloadSA, gp(0, 0, prop(0, 1, ProtocolESP, rep(8), 1, okTransform)), INVALID_SYNTAX},
		{"SA IKE SPI size 4", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, rep(4), 1, okTransform)), INVALID_SYNTAX},
		{"SA unknown protocol", PayloadSA, gp(0, 0, prop(0, 1, 7, rep(4), 1, okTransform)), INVALID_SYNTAX},
		{"SA SPI beyond proposal", PayloadSA, gp(0, 0, []byte{0, 0, 0, 8, 1, 3, 4, 0}), INVALID_SYNTAX},
		{"SA transform count high", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 2, okTransform)), INVALID_SYNTAX},
		{"SA transform count zero", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 0)), INVALID_SYNTAX},
		{"SA transform last flag early", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 2, okTransform, okTransform)), INVALID_SYNTAX},
		{"SA transform more flag on last", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(3, TransformDH, 14))), INVALID_SYNTAX},
		{"SA transform bad last value", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(2, TransformDH, 14))), INVALID_SYNTAX},
		{"SA transform length 7", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, []byte{0, 0, 0, 7, 4, 0, 0, 14})), INVALID_SYNTAX},
		{"SA transform beyond", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, []byte{0, 0, 0, 12, 4, 0, 0, 14})), INVALID_SYNTAX},
		{"SA truncated transform header", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, []byte{0, 0})), INVALID_SYNTAX},
		{"SA truncated attribute", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0x80))), INVALID_SYNTAX},
		{"SA truncated TV value", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0x80, 0x0e, 0))), INVALID_SYNTAX},
		{"SA TLV beyond", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0, 1, 0, 9, 1))), INVALID_SYNTAX},
		{"SA key length as TLV", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0, 14, 0, 2, 0, 128))), INVALID_SYNTAX},
		{"SA key length twice", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0x80, 14, 0, 128, 0x80, 14, 0, 128))), INVALID_SYNTAX},
		{"SA key length zero", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, nil, 1, tr(0, TransformENCR, 12, 0x80, 14, 0, 0))), INVALID_SYNTAX},
	} {
		_, err := ParsePayloads(tc.first, tc.chain)
		ne, ok := AsNotifyError(err)
		if !ok || ne.Type != tc.want {
			t.Errorf("%s: err %v, want %s", tc.name, err, tc.want)
			continue
		}
		if tc.want == UNSUPPORTED_CRITICAL_PAYLOAD && !bytes.Equal(ne.Data, []byte{byte(tc.first)}) {
			t.Errorf("%s: data %x, want the payload type", tc.name, ne.Data)
		}
	}
}

// The positive twins of some rejects, so that the rules are not simply
// rejecting everything.
func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first PayloadType
		chain []byte
	}{
		{"nonce 16", PayloadNonce, gp(0, 0, rep(16))},
		{"nonce 256", PayloadNonce, gp(0, 0, rep(256))},
		{"KE group 21 132", PayloadKE, gp(0, 0, cat(u16(21), u16(0), rep(132)))},
		{"KE group 1 96", PayloadKE, gp(0, 0, cat(u16(1), u16(0), rep(96)))},
		{"KE group 5 192", PayloadKE, gp(0, 0, cat(u16(5), u16(0), rep(192)))},
		{"KE group 20 96", PayloadKE, gp(0, 0, cat(u16(20), u16(0), rep(96)))},
		{"unknown non-critical payload", 200, gp(0, 0, []byte{1})},
		{"unknown TS type kept", PayloadTSi, gp(0, 0, cat([]byte{1, 0, 0, 0}, ts4(9, 6, []byte{1, 2})))},
		{"cookie 64", PayloadNotify, gp(0, 0, cat([]byte{0, 0}, u16(uint16(COOKIE)), rep(64)))},
		{"reserved bits ignored", PayloadNonce, gp(0, 0x7f, rep(16))},
		{"critical bit on known payload ignored", PayloadNonce, gp(0, 0x80, rep(16))},
		{"IKE SA rekey proposal with 8-byte SPI", PayloadSA, gp(0, 0, prop(0, 1, ProtocolIKE, rep(8), 1, tr(0, TransformDH, 14)))},
		{"response proposal number 3", PayloadSA, gp(0, 0, prop(0, 3, ProtocolESP, rep(4), 1, tr(0, TransformESN, 0)))},
	} {
		if _, err := ParsePayloads(tc.first, tc.chain); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestHeader(t *testing.T) {
	h := Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, NextPayload: PayloadSA, MajorVersion: 2,
		Exchange: IKE_SA_INIT, Flags: FlagInitiator | 0x01, MessageID: 0x21222324, Length: 28}
	b := h.Marshal()
	want := unhex(t, "0102030405060708 1112131415161718 21 20 22 08 21222324 0000001c")
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x\nwant %x", b, want)
	}
	got, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	h.Flags = FlagInitiator
	if got != h {
		t.Errorf("got %+v\nwant %+v", got, h)
	}
	// Length field vs buffer, both ways, and a short buffer.
	for _, bad := range [][]byte{b[:27], append(append([]byte(nil), b...), 0), nil} {
		if _, err := ParseHeader(bad); err == nil {
			t.Errorf("accepted %d bytes", len(bad))
		}
	}
	long := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(long[24:], 0xffffffff)
	if _, err := ParseHeader(long); err == nil {
		t.Error("accepted a length larger than the buffer")
	}
	// IKEv1 flags survive marshalling; IKEv2 unknown flags do not.
	v1 := Header{MajorVersion: 1, Flags: 0x01, Length: 28}
	if v1.Marshal()[19] != 0x01 {
		t.Error("IKEv1 encryption flag lost")
	}
}

func TestParseMessageErrors(t *testing.T) {
	mk := func(major uint8, next PayloadType, payloads []byte) []byte {
		h := Header{SPIi: 1, MajorVersion: major, NextPayload: next, Exchange: IKE_SA_INIT, Flags: FlagInitiator,
			Length: uint32(HeaderLen + len(payloads))}
		return append(h.Marshal(), payloads...)
	}
	nonce := gp(0, 0, rep(16))
	if _, err := ParseMessage(mk(2, PayloadNonce, nonce)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want NotifyType
	}{
		{"major 3", mk(3, PayloadNonce, nonce), INVALID_MAJOR_VERSION},
		{"major 1", mk(1, PayloadNonce, nonce), INVALID_MAJOR_VERSION},
		{"short", mk(2, PayloadNonce, nonce)[:20], INVALID_SYNTAX},
		{"SK not last", mk(2, PayloadSK, cat(gp(PayloadNonce, 0, rep(32)), nonce)), INVALID_SYNTAX},
		{"SKF fragment 0", mk(2, PayloadSKF, gp(PayloadIDi, 0, cat(u16(0), u16(2), rep(32)))), INVALID_SYNTAX},
		{"SKF number above total", mk(2, PayloadSKF, gp(PayloadIDi, 0, cat(u16(3), u16(2), rep(32)))), INVALID_SYNTAX},
		{"SKF total 0", mk(2, PayloadSKF, gp(0, 0, cat(u16(0), u16(0), rep(32)))), INVALID_SYNTAX},
		{"SKF later fragment names a payload", mk(2, PayloadSKF, gp(PayloadIDi, 0, cat(u16(2), u16(2), rep(32)))), INVALID_SYNTAX},
		{"SKF truncated", mk(2, PayloadSKF, gp(0, 0, []byte{0, 1, 0})), INVALID_SYNTAX},
		{"critical unknown", mk(2, 201, gp(0, 0x80, nil)), UNSUPPORTED_CRITICAL_PAYLOAD},
	} {
		_, err := ParseMessage(tc.b)
		if ne, ok := AsNotifyError(err); !ok || ne.Type != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	// The parsed message does not alias the caller's buffer.
	b := mk(2, PayloadNonce, nonce)
	m, _ := ParseMessage(b)
	b[HeaderLen+4] ^= 0xff
	if m.Payloads[0].(*Nonce).Data[0] != 0x5a {
		t.Error("parsed nonce aliases the input buffer")
	}
}
