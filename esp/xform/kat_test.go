package xform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex decodes hex that may be split by spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setFixedIV makes tr's Seal use iv, so published vectors can be replayed.
func setFixedIV(t testing.TB, tr Transform, iv []byte) {
	t.Helper()
	switch tt := tr.(type) {
	case *cbcTransform:
		tt.fixedIV = iv
	case *aeadTransform:
		tt.fixedIV = iv
	default:
		t.Fatalf("%T has no IV", tr)
	}
}

// TestRFC3602 replays the four ESP packets of RFC 3602 §4 (cases 5–8).
// Those packets carry no ICV, so the test appends HMAC-SHA1-96 computed
// independently with crypto/hmac and then checks both directions: Open of
// the published packet yields the published payload, padding and next
// header; Seal with the published IV reproduces the published packet.
func TestRFC3602(t *testing.T) {
	integKey := bytes.Repeat([]byte{0x5a}, 20)
	for _, c := range []struct {
		name, key, iv, payload, packet string
		nh                             byte
	}{
		{"case5", "90d382b410eeba7ad938c46cec1a82bf", "e96e8c08ab465763fd098d45dd3ff893",
			"08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
			"0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6", 1},
		{"case6", "90d382b410eeba7ad938c46cec1a82bf", "69d08df7d203329db093fc4924e5bd80",
			"0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
			"000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75", 1},
		{"case7", "0123456789abcdef0123456789abcdef", "f4e765244f6407adf13dc1380f673f37",
			"45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d02a2040008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
			"0000876500000002f4e765244f6407adf13dc1380f673f37773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d", 4},
		{"case8", "0123456789abcdef0123456789abcdef", "85d47224b5f3dd5d2101d4ea8dffab22",
			"45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083da3de0300ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
			"000087650000000585d47224b5f3dd5d2101d4ea8dffab2215b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb50f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3d2726d9b5ef6affc6d17a0decbb13892", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, payload, packet := unhex(t, c.key), unhex(t, c.payload), unhex(t, c.packet)
			tr, err := New(Suite{EncrAESCBC, 128, IntegHMACSHA196}, key, integKey)
			if err != nil {
				t.Fatal(err)
			}
			m := hmac.New(sha1.New, integKey)
			m.Write(packet)
			wire := append(append([]byte(nil), packet...), m.Sum(nil)[:12]...)

			// Seal: frame the payload like the RFC (monotonic padding).
			pkt := frame(tr, binary.BigEndian.Uint32(packet), binary.BigEndian.Uint32(packet[4:]), payload)
			pkt[len(pkt)-tr.ICVLen()-1] = c.nh
			setFixedIV(t, tr, unhex(t, c.iv))
			want := append([]byte(nil), pkt[24:len(pkt)-12]...)
			tr.Seal(pkt, 0, false)
			if !bytes.Equal(pkt, wire) {
				t.Fatalf("Seal:\n got %x\nwant %x", pkt, wire)
			}
			got, err := tr.Open(wire, 0, false)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, want) || got[len(got)-1] != c.nh {
				t.Fatalf("Open:\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestGCMESPVectors replays the AES-GCM ESP packets of
// draft-mcgrew-gcm-test-01 §4 (the RFC 4106 test cases), both directions.
// The nonce is salt‖IV; the AAD is SPI‖Seq, or SPI‖SeqHi‖SeqLo with ESN.
func TestGCMESPVectors(t *testing.T) {
	for i, c := range []struct{ key, nonce, aad, pt, ct, tag string }{
		{"4c80cdefbb5d10da906ac73c3613a634", "2e443b684956ed7e3b244cfe", "000043218765432100000000",
			"45000048699a000080114db7c0a80102c0a801010a9bf15638d301000001000000000000045f736970045f756470037369700963796265726369747902646b000021000101020201",
			"fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce61bc17d768fd9732",
			"459018148f6cbe722fd04796562dfdb4"},
		{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "0000a5f80000000a",
			"4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d001000001000000000000037369700963796265726369747902646b00000100010001",
			"deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1",
			"83b70d3aa8bc6ee4c309e9d85a41ad4a"},
		{"abbccddef00112233445566778899aababbccddef00112233445566778899aab", "112233440102030405060708", "4a2cbfe300000002",
			"4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b40101040201020201",
			"ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763748a637985771d347f0545659f14e99def842d8e",
			"b335f4eecfdbf831824b4c4915956c96"},
		{"00000000000000000000000000000000", "000000000000000000000000", "0000000000000001",
			"4500003c99c500008001cb7a40679318010101010800075c020044006162636465666768696a6b6c6d6e6f707172737475767761626364656667686901020201",
			"4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3",
			"f821d496eeb096e98ad2b69e4799c71d"},
		{"3de09874b388e6491988d0c3607eae1f", "57690e434e280000a2fca1a3", "42f67e3f1010101010101010",
			"4500003c99c300008001cb7c40679318010101010800085c020043006162636465666768696a6b6c6d6e6f707172737475767761626364656667686901020201",
			"fba2caa4853cf9f0f22cb10d86dd83b0fec75691cf1a04b00d1138ec9c35791765acbd8701ad79845bf9fe3fba487bc91755e6662b4c8d0d1f5e22739530320a",
			"e0d731cc978ecafaeae88f00e80d6e48"},
		{"3de09874b388e6491988d0c3607eae1f", "57690e434e280000a2fca1a3", "42f67e3f1010101010101010",
			"4500001c42a200008001441f406793b6e00000020a00f5ff01020201",
			"fba2ca845e5df9f0f22c3e6e86dd831e1fc65792cd1af9130e1379ed",
			"369f071f35e034be95f112e4e7d05d35"},
		{"feffe9928665731c6d6a8f9467308308feffe9928665731c", "cafebabefacedbaddecaf888", "0000a5f80000000a",
			"45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e501016d075680001",
			"a5b1f8066029aea40e598b8122de02420938b3ab33f828e687b8858b5bfbdbd0315b27452144cc77",
			"95457b9652037f5318027b5b4cd7a636"},
		{"abbccddef00112233445566778899aab", "decaf888cafedebaceface74", "000001000000000000000001",
			"4500004933ba00007f119106c3fb1d10c2b1d326c02831ce0035dd7b800302d500004e20001e8c18d75b81dc91baa0476b91b924b280389d92c963bac046ec959b6266c04722b14923010101",
			"18a6fd42f72cbf4ab2a2ea901f73d814e3e7f243d95412e1c349c1d2fbec168f9190feebaf2cb01984e65863965d7472b79da345e0e780191f0d2f0e0f496c226f2127b27db35724e7845d68",
			"651f57e65f354f75ff17015769623436"},
		{"abbccddef00112233445566778899aababbccddef00112233445566778899aab", "73616c74616e640169766563", "17405e67156f3126dd0db99b",
			"45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb71260250101f646d540001",
			"f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a3018d9a57ff4d3a31ce673119e",
			"451626c2415771e3b7eebca614c89b35"},
		{"3de09874b388e6491988d0c3607eae1f", "57690e434e280000a2fca1a3", "42f67e3f1010101010101010",
			"45000049333e00007f119182c3fb1d10c2b1d326c02831ce0035cb458003025b000001e0001e8c18d65759d52284a0352c71475c8880391c764d6e5ee0496b325ae270c03899493915010101",
			"fba2cad12fc1f9f00d3cebf305410db83d7784b607323d220f24b0a97d54182800cadb0f68d99ef0e0c0c89ae9bea8884e52d65bc1afd0740f742444747b5b39ab533163aad4550ee5160975",
			"cdb608c5769189609763b8e18caa81e2"},
		{"abbccddef00112233445566778899aababbccddef00112233445566778899aab", "73616c74616e640169766563", "17405e67156f3126dd0db99b",
			"636973636f0172756c657301746865016e6574776501646566696e6501746865746563686e6f6c6f67696573017468617477696c6c01646566696e65746f6d6f72726f7701020201",
			"d4b7ed86a1777f2ea13d6973d324c69e7b43f826fb56831226508bebd2dceb18d0a6df10e5487df074113e14c641024e3e6773d91a62ee429b043a10e3efe6b012a49363412364f8",
			"c0cac587f249e56b11e24f30e44ccc76"},
		{"7d773d00c144c525ac619d18c84a3f47", "d966426743457e9182443bc6", "335467aeffffffff",
			"01020201", "437f866b", "cb3f699fe9b0822bac961c4504bef270"},
		{"abbccddef00112233445566778899aab", "decaf888cafedebaceface74", "000001000000000000000001",
			"746f016265016f72016e6f7401746f0162650001",
			"29c9fc69a197d038ccdd14e2ddfcaa0543332164",
			"412503524303ed3c6c5f283843af8c3e"},
		{"6c6567616c697a656d6172696a75616e61616e64646f69746265666f72656961", "7475726e333021696765746d", "796b6963ffffffffffffffff",
			"45000030da3a00008001df3bc0a80005c0a800010800c6cd020007006162636465666768696a6b6c6d6e6f707172737401020201",
			"f97ab2aa356d8edce17644ac8c78e25dd24dedbb29ebf1b64a274b39b49c3a864cd3d78ca4ae68a32b42458fb57dbe821dcc63b9",
			"d0937ba2945f669368661a329fb4c053"},
	} {
		key, nonce, aad := unhex(t, c.key), unhex(t, c.nonce), unhex(t, c.aad)
		pt := unhex(t, c.pt)
		wantBody := append(unhex(t, c.ct), unhex(t, c.tag)...)
		esn := len(aad) == 12
		var seqHi uint32
		if esn {
			seqHi = binary.BigEndian.Uint32(aad[4:8])
		}
		s := Suite{Encr: EncrAESGCM16, KeyBits: len(key) * 8}
		tr, err := New(s, append(key, nonce[:4]...), nil)
		if err != nil {
			t.Fatalf("vector %d: %v", i+1, err)
		}
		// Wire image: SPI, low sequence bits, IV, ciphertext, tag.
		wire := append(append(append(append([]byte(nil), aad[:4]...), aad[len(aad)-4:]...), nonce[4:]...), wantBody...)

		pkt := make([]byte, len(wire))
		copy(pkt, wire[:8])
		copy(pkt[16:], pt)
		setFixedIV(t, tr, nonce[4:])
		tr.Seal(pkt, seqHi, esn)
		if !bytes.Equal(pkt, wire) {
			t.Errorf("vector %d (%v): Seal\n got %x\nwant %x", i+1, s, pkt, wire)
		}
		got, err := tr.Open(append([]byte(nil), wire...), seqHi, esn)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("vector %d (%v): Open = %x, %v; want %x", i+1, s, got, err, pt)
		}
		if esn {
			// The high bits are authenticated though not sent.
			if _, err := tr.Open(append([]byte(nil), wire...), seqHi+1, esn); !errors.Is(err, ErrAuth) {
				t.Errorf("vector %d: wrong SeqHi accepted: %v", i+1, err)
			}
		}
	}
}

// TestRFC7634 replays the ESP example of RFC 7634 Appendix A.
func TestRFC7634(t *testing.T) {
	key := unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3")
	pt := unhex(t, `45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10
		0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223
		2425262728292a2b2c2d2e2f303132333435363701020204`)
	wire := unhex(t, `0102030400000005 1011121314151617
		24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
		14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
		cbec163fac469b502773f6fb94e664da9165b82829f641e0
		76aaa8266b7fb0f7b11b369907e1ad43`)
	tr, err := New(Suite{Encr: EncrChaCha20Poly1305}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, len(wire))
	copy(pkt, wire[:8])
	copy(pkt[16:], pt)
	setFixedIV(t, tr, wire[8:16])
	tr.Seal(pkt, 0, false)
	if !bytes.Equal(pkt, wire) {
		t.Fatalf("Seal\n got %x\nwant %x", pkt, wire)
	}
	got, err := tr.Open(wire, 0, false)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %x, %v", got, err)
	}
}

// hmacVectors are RFC 2202 (HMAC-MD5, HMAC-SHA1; only the cases whose key
// has the RFC 2403/2404 length) and RFC 4868 §2.7.2 (HMAC-SHA-256/384/512
// with keys of the full hash length) test cases. The ICV is the truncation
// of the listed full digest.
var hmacVectors = []struct {
	integ           uint16
	key, data, full string
}{
	{IntegHMACMD596, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "9294727a3638bb1c13f48ef8158bfc9d"},
	{IntegHMACMD596, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", strings.Repeat("dd", 50), "56be34521d144c88dbb8c733f0e8b3f6"},
	{IntegHMACMD596, "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", hex.EncodeToString([]byte("Test With Truncation")), "56461ef2342edc00f9bab995690efd4c"},
	{IntegHMACSHA196, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "b617318655057264e28bc0b6fb378c8ef146be00"},
	{IntegHMACSHA196, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", strings.Repeat("dd", 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
	{IntegHMACSHA196, "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", hex.EncodeToString([]byte("Test With Truncation")), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
	{IntegHMACSHA256128, strings.Repeat("0b", 32), "4869205468657265", "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
	{IntegHMACSHA256128, strings.Repeat("4a656665", 8), "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"},
	{IntegHMACSHA256128, strings.Repeat("aa", 32), strings.Repeat("dd", 50), "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"},
	{IntegHMACSHA256128, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", strings.Repeat("cd", 50), "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"},
	{IntegHMACSHA384192, strings.Repeat("0b", 48), "4869205468657265", "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
	{IntegHMACSHA384192, strings.Repeat("4a656665", 12), "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5349524ca4e82400cbde0686d403371c9"},
	{IntegHMACSHA384192, strings.Repeat("aa", 48), strings.Repeat("dd", 50), "809f439be00274321d4a538652164b53554a508184a0c3160353e3428597003d35914a18770f9443987054944b7c4b4a"},
	{IntegHMACSHA384192, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f200a0b0c0d0e0f10111213141516171819", strings.Repeat("cd", 50), "5b540085c6e6358096532b2493609ed1cb298f774f87bb5c2ebf182c83cc7428707fb92eab2536a5812258228bc96687"},
	{IntegHMACSHA512256, strings.Repeat("0b", 64), "4869205468657265", "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
	{IntegHMACSHA512256, strings.Repeat("4a656665", 16), "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b154546aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"},
	{IntegHMACSHA512256, strings.Repeat("aa", 64), strings.Repeat("dd", 50), "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8623c7b55cebefccf02d5581acc1c9d5fb1ff68a1de45509fbe4da9a433922655"},
	{IntegHMACSHA512256, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40", strings.Repeat("cd", 50), "5e6688e5a3daec826ca32eaea224eff5e700628947470e13ad01302561bab108b8c48cbc6b807dcfbd850521a685babc7eae4a2a2e660dc0e86b931d65503fd2"},
}

// TestHMACVectors checks every integrity transform's keying and
// truncation, through the MAC layer and, where the message is long enough
// to be an ESP packet, end to end through NULL-encryption Seal and Open
// (whose ICV covers exactly the bytes before it).
func TestHMACVectors(t *testing.T) {
	for i, v := range hmacVectors {
		key, data, full := unhex(t, v.key), unhex(t, v.data), unhex(t, v.full)
		want := full[:integAlgs[v.integ].icvLen]
		m := newMAC(v.integ, key)
		st := m.get()
		if got := m.compute(st, data, 0, false); !bytes.Equal(got, want) {
			t.Errorf("vector %d (%s): ICV %x, want %x", i, integAlgs[v.integ].name, got, want)
		}
		m.put(st)
		if len(data) < espHeaderLen+trailerLen {
			continue
		}
		tr, err := New(Suite{Encr: EncrNull, Integ: v.integ}, nil, key)
		if err != nil {
			t.Fatal(err)
		}
		pkt := append(append([]byte(nil), data...), make([]byte, len(want))...)
		tr.Seal(pkt, 0, false)
		if !bytes.Equal(pkt[len(data):], want) {
			t.Errorf("vector %d: Seal ICV %x, want %x", i, pkt[len(data):], want)
		}
		if got, err := tr.Open(pkt, 0, false); err != nil || !bytes.Equal(got, data[8:]) {
			t.Errorf("vector %d: Open = %x, %v", i, got, err)
		}
	}
}

// TestDESKnownAnswer encrypts the classic DES example (key
// 133457799BBCDFF1, plaintext 0123456789ABCDEF, ciphertext
// 85E813540F0AB405) as the first CBC block under a zero IV. 3DES-EDE with
// three equal keys degenerates to single DES, which gives the 3DES path
// the same known answer.
func TestDESKnownAnswer(t *testing.T) {
	k := unhex(t, "133457799bbcdff1")
	for _, c := range []struct {
		s   Suite
		key []byte
	}{
		{Suite{Encr: EncrDES, Integ: IntegHMACSHA196}, k},
		{Suite{Encr: Encr3DES, Integ: IntegHMACSHA196}, bytes.Repeat(k, 3)},
	} {
		tr, err := New(c.s, c.key, make([]byte, 20))
		if err != nil {
			t.Fatal(err)
		}
		pkt := make([]byte, 8+8+8+12)
		copy(pkt[16:], unhex(t, "0123456789abcdef"))
		setFixedIV(t, tr, make([]byte, 8))
		tr.Seal(pkt, 0, false)
		if got := hex.EncodeToString(pkt[16:24]); got != "85e813540f0ab405" {
			t.Errorf("%v: ciphertext %s, want 85e813540f0ab405", c.s, got)
		}
		if got, err := tr.Open(pkt, 0, false); err != nil || hex.EncodeToString(got) != "0123456789abcdef" {
			t.Errorf("%v: Open = %x, %v", c.s, got, err)
		}
	}
}
