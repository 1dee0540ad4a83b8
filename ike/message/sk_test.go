package message

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// The tests in this file exercise the SK/SKF hooks with the real
// constructions the state machine will plug in (RFC 7296 §3.14
// AES-CBC + HMAC-SHA1-96, RFC 5282 AES-GCM), built from the standard
// library, to show the pieces the codec hands out are the right ones.

var (
	testEncKey = bytes.Repeat([]byte{0x11}, 16)
	testMACKey = bytes.Repeat([]byte{0x22}, 20)
)

// cbcSealedLen: 16-byte IV, plaintext + Pad Length octet padded to the
// block, 12-byte ICV.
func cbcSealedLen(n int) int { return 16 + (n+1+15)/16*16 + 12 }

func cbcSeal(iv byte) SealFunc {
	return func(msg, plain []byte) error {
		n := cbcSealedLen(len(plain))
		body := msg[len(msg)-n:]
		padLen := n - 16 - 12 - len(plain) - 1
		pt := append(append(append([]byte(nil), plain...), make([]byte, padLen)...), byte(padLen))
		copy(body[:16], bytes.Repeat([]byte{iv}, 16))
		blk, _ := aes.NewCipher(testEncKey)
		cipher.NewCBCEncrypter(blk, body[:16]).CryptBlocks(body[16:16+len(pt)], pt)
		mac := hmac.New(sha1.New, testMACKey)
		mac.Write(msg[:len(msg)-12])
		copy(msg[len(msg)-12:], mac.Sum(nil)[:12])
		return nil
	}
}

// cbcOpen verifies and decrypts the way a receiver uses the parsed pieces:
// the ICV covers Raw[:len(Raw)-12] = AAD‖Data[:len(Data)-12].
func cbcOpen(t *testing.T, raw, aad, data []byte) []byte {
	t.Helper()
	signed := append(append([]byte(nil), aad...), data[:len(data)-12]...)
	if !bytes.Equal(signed, raw[:len(raw)-12]) {
		t.Fatal("AAD‖Data is not the message prefix")
	}
	mac := hmac.New(sha1.New, testMACKey)
	mac.Write(signed)
	if !hmac.Equal(mac.Sum(nil)[:12], data[len(data)-12:]) {
		t.Fatal("ICV mismatch")
	}
	ct := data[16 : len(data)-12]
	pt := make([]byte, len(ct))
	blk, _ := aes.NewCipher(testEncKey)
	cipher.NewCBCDecrypter(blk, data[:16]).CryptBlocks(pt, ct)
	padLen := int(pt[len(pt)-1])
	return pt[:len(pt)-1-padLen]
}

func testInner() []Payload {
	return []Payload{
		NewIDAddr(false, netip.MustParseAddr("192.0.2.1")),
		&Auth{Method: AuthPSK, Data: bytes.Repeat([]byte{3}, 20)},
		&SA{Proposals: []Proposal{{Protocol: ProtocolESP, SPI: []byte{0xc0, 0, 0, 1}, Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 128}, {Type: TransformINTEG, ID: 2}, {Type: TransformESN}}}}},
		&TS{Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("10.1.0.0/24"))}},
		&TS{Responder: true, Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("10.2.0.0/24"))}},
		NewNotify(INITIAL_CONTACT, nil),
	}
}

func samePayloads(t *testing.T, got, want []Payload) {
	t.Helper()
	_, g, err1 := MarshalPayloads(got)
	_, w, err2 := MarshalPayloads(want)
	if err1 != nil || err2 != nil || !bytes.Equal(g, w) || !reflect.DeepEqual(payloadTypes(got), payloadTypes(want)) {
		t.Fatalf("payloads differ: %v vs %v", payloadTypes(got), payloadTypes(want))
	}
}

func TestSealedCBC(t *testing.T) {
	inner := testInner()
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1}}
	b, err := m.MarshalSealed(inner, cbcSealedLen, cbcSeal(0x42))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Payloads) != 0 {
		t.Fatal("MarshalSealed modified m.Payloads")
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.NextPayload != PayloadSK || int(got.Length) != len(b) || len(got.Payloads) != 1 {
		t.Fatalf("%s %v", &got.Header, payloadTypes(got.Payloads))
	}
	sk := got.Payloads[0].(*Encrypted)
	if sk.NextPayload != PayloadIDi || len(sk.AAD) != HeaderLen+4 {
		t.Fatalf("SK next %s, AAD %d", sk.NextPayload, len(sk.AAD))
	}
	plain := cbcOpen(t, got.Raw, sk.AAD, sk.Data)
	ps, err := ParsePayloads(sk.NextPayload, plain)
	if err != nil {
		t.Fatal(err)
	}
	samePayloads(t, ps, inner)

	// A flipped bit anywhere in the header is caught by the ICV: the length
	// field was final when the ICV was computed.
	b[3] ^= 1
	mac := hmac.New(sha1.New, testMACKey)
	mac.Write(b[:len(b)-12])
	if hmac.Equal(mac.Sum(nil)[:12], b[len(b)-12:]) {
		t.Error("ICV does not cover the header")
	}
}

// AES-GCM (RFC 5282 §5.1): 8-byte IV, 16-byte tag, AAD = header through
// the SK generic header.
func TestSealedGCM(t *testing.T) {
	blk, _ := aes.NewCipher(testEncKey)
	aead, _ := cipher.NewGCM(blk)
	salt := []byte{1, 2, 3, 4}
	sealedLen := func(n int) int { return 8 + n + 1 + 16 } // Pad Length octet, no padding
	seal := func(msg, plain []byte) error {
		n := sealedLen(len(plain))
		aad, body := msg[:len(msg)-n], msg[len(msg)-n:]
		iv := body[:8]
		binary.BigEndian.PutUint64(iv, 77)
		aead.Seal(body[8:8], append(append([]byte(nil), salt...), iv...), append(append([]byte(nil), plain...), 0), aad)
		return nil
	}
	inner := testInner()
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: CREATE_CHILD_SA, Flags: FlagResponse, MessageID: 5}}
	b, err := m.MarshalSealed(inner, sealedLen, seal)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	sk := got.Payloads[0].(*Encrypted)
	pt, err := aead.Open(nil, append(append([]byte(nil), salt...), sk.Data[:8]...), sk.Data[8:], sk.AAD)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := ParsePayloads(sk.NextPayload, pt[:len(pt)-1-int(pt[len(pt)-1])])
	if err != nil {
		t.Fatal(err)
	}
	samePayloads(t, ps, inner)
}

// An empty INFORMATIONAL (liveness check, RFC 7296 §1.4) has an SK payload
// with Next Payload zero and only padding inside.
func TestSealedEmpty(t *testing.T) {
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: INFORMATIONAL, Flags: FlagInitiator, MessageID: 9}}
	b, err := m.MarshalSealed(nil, cbcSealedLen, cbcSeal(1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	sk := got.Payloads[0].(*Encrypted)
	if sk.NextPayload != PayloadNone {
		t.Fatalf("next %s", sk.NextPayload)
	}
	ps, err := ParsePayloads(sk.NextPayload, cbcOpen(t, got.Raw, sk.AAD, sk.Data))
	if err != nil || len(ps) != 0 {
		t.Fatalf("%v %v", ps, err)
	}
}

func TestSealErrorPropagates(t *testing.T) {
	boom := errors.New("boom")
	m := &Message{}
	if _, err := m.MarshalSealed(testInner(), cbcSealedLen, func(_, _ []byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
	if _, err := m.MarshalFragments(testInner(), 200, cbcSealedLen, func(_, _ []byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}

// RFC 7383: split the inner chain over several SKF messages of at most
// maxLen bytes, each protected on its own, and reassemble after decryption
// in any order.
func TestFragments(t *testing.T) {
	inner := append(testInner(), &VendorID{Data: bytes.Repeat([]byte("v"), 900)})
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1}}
	const maxLen = 200
	frags, err := m.MarshalFragments(inner, maxLen, cbcSealedLen, cbcSeal(7))
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) < 6 {
		t.Fatalf("%d fragments", len(frags))
	}
	var r Reassembly
	order := []int{len(frags) - 1, 0, 2, 0, 1}
	for i := 3; i < len(frags)-1; i++ {
		order = append(order, i)
	}
	for k, i := range order {
		b := frags[i]
		if len(b) > maxLen {
			t.Errorf("fragment %d is %d bytes", i+1, len(b))
		}
		fm, err := ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		f := fm.Payloads[0].(*EncryptedFragment)
		if int(f.Number) != i+1 || int(f.Total) != len(frags) || fm.MessageID != 1 {
			t.Fatalf("fragment %d/%d, mid %d", f.Number, f.Total, fm.MessageID)
		}
		if (f.Number == 1) != (f.NextPayload == PayloadIDi) || (f.Number != 1 && f.NextPayload != PayloadNone) {
			t.Errorf("fragment %d next %s", f.Number, f.NextPayload)
		}
		if len(f.AAD) != HeaderLen+8 {
			t.Errorf("fragment AAD of %d bytes", len(f.AAD))
		}
		done, err := r.Add(f, cbcOpen(t, fm.Raw, f.AAD, f.Data))
		if err != nil {
			t.Fatal(err)
		}
		if done != (k == len(order)-1) {
			t.Fatalf("done=%v after %d of %d", done, k+1, len(order))
		}
	}
	ps, err := r.Payloads()
	if err != nil {
		t.Fatal(err)
	}
	samePayloads(t, ps, inner)

	// Cleartext payloads cannot ride along with fragments.
	m.Payloads = []Payload{&VendorID{Data: []byte{1}}}
	if _, err := m.MarshalFragments(inner, maxLen, cbcSealedLen, cbcSeal(7)); err == nil {
		t.Error("fragmented a message with cleartext payloads")
	}
	m.Payloads = nil
	if _, err := m.MarshalFragments(inner, 60, cbcSealedLen, cbcSeal(7)); err == nil {
		t.Error("fragmented into messages too small for any data")
	}
}

func TestReassemblyRules(t *testing.T) {
	frag := func(n, total uint16) *EncryptedFragment {
		f := &EncryptedFragment{Number: n, Total: total}
		if n == 1 {
			f.NextPayload = PayloadNonce
		}
		return f
	}
	var r Reassembly
	if _, _, err := r.Plaintext(); err == nil {
		t.Error("empty reassembly produced plaintext")
	}
	r.Add(frag(1, 2), []byte("ab"))
	// RFC 7383 §2.6.2: more fragments announced → start over.
	if done, _ := r.Add(frag(2, 3), []byte("X")); done || r.Total() != 3 || r.Received() != 1 {
		t.Fatalf("after restart: total %d received %d", r.Total(), r.Received())
	}
	// Fewer fragments announced → ignored.
	if done, _ := r.Add(frag(1, 2), []byte("ab")); done || r.Received() != 1 {
		t.Fatal("fragment with smaller total was taken")
	}
	r.Add(frag(1, 3), []byte("ab"))
	if done, _ := r.Add(frag(1, 3), []byte("zz")); done || r.Received() != 2 {
		t.Fatal("duplicate counted")
	}
	done, err := r.Add(frag(3, 3), []byte("c"))
	if !done || err != nil {
		t.Fatalf("done %v err %v", done, err)
	}
	first, b, err := r.Plaintext()
	if err != nil || first != PayloadNonce || string(b) != "abXc" {
		t.Fatalf("%s %q %v", first, b, err)
	}
	// Limits.
	lim := Reassembly{MaxFragments: 4, MaxBytes: 5}
	if _, err := lim.Add(frag(1, 5), nil); err == nil {
		t.Error("total above MaxFragments accepted")
	}
	lim.Add(frag(1, 2), []byte("abc"))
	if _, err := lim.Add(frag(2, 2), []byte("def")); err == nil {
		t.Error("size above MaxBytes accepted")
	}
	if _, err := lim.Add(&EncryptedFragment{Number: 3, Total: 2}, nil); err == nil {
		t.Error("fragment number above total accepted")
	}
}
