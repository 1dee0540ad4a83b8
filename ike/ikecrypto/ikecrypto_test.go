package ikecrypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPRFKnownAnswers uses RFC 2202 (MD5, SHA-1) and RFC 4231 test case 1
// and 2 (SHA-2) HMAC vectors.
func TestPRFKnownAnswers(t *testing.T) {
	k20 := bytes.Repeat([]byte{0x0b}, 20)
	cases := []struct {
		id       PRFID
		key, msg []byte
		want     string
	}{
		{PRFHMACMD5, bytes.Repeat([]byte{0x0b}, 16), []byte("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"},
		{PRFHMACSHA1, k20, []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{PRFHMACSHA256, k20, []byte("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{PRFHMACSHA384, k20, []byte("Hi There"), "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{PRFHMACSHA512, k20, []byte("Hi There"), "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{PRFHMACSHA256, []byte("Jefe"), []byte("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	}
	for _, c := range cases {
		p, err := NewPRF(c.id)
		if err != nil {
			t.Fatal(err)
		}
		// Split the message to exercise the concatenating Sum.
		got := p.Sum(c.key, c.msg[:2], c.msg[2:])
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%v: got %x want %s", c.id, got, c.want)
		}
		if p.Size() != c.id.KeyBytes() || p.Size() != len(got) {
			t.Errorf("%v: size %d", c.id, p.Size())
		}
	}
	if _, err := NewPRF(99); err == nil {
		t.Error("unknown PRF accepted")
	}
}

// TestPRFPlus checks prf+ against T1 and T2 computed independently with
// openssl (HMAC-SHA1, K="key", S="seed"), §2.13.
func TestPRFPlus(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA1)
	got, err := p.PlusExpand([]byte("key"), []byte("seed"), 30)
	if err != nil {
		t.Fatal(err)
	}
	want := "0a4dd4d286ae93c5e1d24f24f3756216b533dd67" + "ad15d19cef25f483bcc5"
	if hex.EncodeToString(got) != want {
		t.Fatalf("prf+ = %x, want %s", got, want)
	}
	if _, err := p.PlusExpand([]byte("k"), nil, 255*20+1); err == nil {
		t.Error("prf+ beyond 255 blocks accepted")
	}
	if b, err := p.PlusExpand([]byte("k"), nil, 255*20); err != nil || len(b) != 255*20 {
		t.Errorf("prf+ of 255 blocks: %v", err)
	}
}

// TestIKEKeys checks the split of §2.14 against prf+ directly.
func TestIKEKeys(t *testing.T) {
	s := IKESuite{Encr: EncrAESCBC, EncrKey: 256, PRF: PRFHMACSHA256, Integ: IntegHMACSHA1_96(), DH: MODP2048}
	p, _ := NewPRF(s.PRF)
	ni, nr, gir := []byte("nonce-initiator-"), []byte("nonce-responder-"), bytes.Repeat([]byte{7}, 256)
	seed := SKEYSEED(p, ni, nr, gir)
	if !bytes.Equal(seed, p.Sum(append(append([]byte{}, ni...), nr...), gir)) {
		t.Fatal("SKEYSEED")
	}
	k, err := DeriveIKEKeys(s, seed, ni, nr, 0x0102030405060708, 0x1112131415161718)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := p.PlusExpand(seed, append(append(append([]byte{}, ni...), nr...),
		1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18), 32*3+20*2+32*2)
	joined := bytes.Join([][]byte{k.D, k.Ai, k.Ar, k.Ei, k.Er, k.Pi, k.Pr}, nil)
	if !bytes.Equal(all, joined) {
		t.Fatal("key split does not follow prf+ order")
	}
	if len(k.D) != 32 || len(k.Ai) != 20 || len(k.Ei) != 32 || len(k.Pr) != 32 {
		t.Fatalf("lengths %d %d %d %d", len(k.D), len(k.Ai), len(k.Ei), len(k.Pr))
	}
	if strings.Contains(k.D.String(), hex.EncodeToString(k.D)[:6]) {
		t.Error("key printed")
	}
	if _, err := DeriveIKEKeys(IKESuite{Encr: EncrAESGCM16, EncrKey: 128, PRF: PRFHMACSHA1, Integ: IntegHMACSHA196}, seed, ni, nr, 1, 2); err == nil {
		t.Error("AEAD with integrity accepted")
	}
	// GCM: no integrity keys, salt included in SK_e.
	g, err := DeriveIKEKeys(IKESuite{Encr: EncrAESGCM16, EncrKey: 256, PRF: PRFHMACSHA384}, seed, ni, nr, 1, 2)
	if err != nil || len(g.Ai) != 0 || len(g.Ei) != 36 || len(g.D) != 48 {
		t.Fatalf("gcm keys: %v %d %d", err, len(g.Ai), len(g.Ei))
	}
	rs := RekeySKEYSEED(p, k.D, gir, ni, nr)
	if !bytes.Equal(rs, p.Sum(k.D, gir, ni, nr)) {
		t.Fatal("rekey SKEYSEED")
	}
}

// IntegHMACSHA1_96 keeps the table above readable.
func IntegHMACSHA1_96() IntegID { return IntegHMACSHA196 }

// TestChildKeys checks the KEYMAT order of §2.17 with and without PFS.
func TestChildKeys(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA1)
	skd := []byte("0123456789abcdef0123")
	ni, nr := []byte("ni"), []byte("nr")
	for _, gir := range [][]byte{nil, []byte("shared")} {
		s := ChildSuite{Encr: EncrAESCBC, EncrKey: 128, Integ: IntegHMACSHA256128}
		k, err := DeriveChildKeys(p, s, skd, gir, ni, nr)
		if err != nil {
			t.Fatal(err)
		}
		seed := append(append(append([]byte{}, gir...), ni...), nr...)
		all, _ := p.PlusExpand(skd, seed, 2*(16+32))
		if !bytes.Equal(all, bytes.Join([][]byte{k.EncrI, k.IntegI, k.EncrR, k.IntegR}, nil)) {
			t.Fatalf("keymat order (pfs=%v)", gir != nil)
		}
	}
	k, err := DeriveChildKeys(p, ChildSuite{Encr: EncrAESGCM16, EncrKey: 128}, skd, nil, ni, nr)
	if err != nil || len(k.EncrI) != 20 || k.IntegI != nil {
		t.Fatalf("gcm child keys %v %d", err, len(k.EncrI))
	}
}

// TestPSKAuth recomputes §2.15 by hand.
func TestPSKAuth(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA256)
	msg, nonce, skp, id := []byte("IKE_SA_INIT bytes"), []byte("peer nonce"), []byte("SK_pi"), []byte{1, 0, 0, 0, 192, 0, 2, 1}
	got := PSKAuth(p, []byte("secret"), msg, nonce, skp, id)
	inner := p.Sum([]byte("secret"), []byte("Key Pad for IKEv2"))
	want := p.Sum(inner, bytes.Join([][]byte{msg, nonce, p.Sum(skp, id)}, nil))
	if !Equal(got, want) {
		t.Fatal("PSK AUTH mismatch")
	}
	if Equal(got, PSKAuth(p, []byte("Secret"), msg, nonce, skp, id)) {
		t.Fatal("different PSK, same AUTH")
	}
}

// piFixed computes π·2^prec by Machin's formula.
func piFixed(prec uint) *big.Int {
	one := new(big.Int).Lsh(big.NewInt(1), prec)
	atan := func(x int64) *big.Int {
		sum, xx := new(big.Int), big.NewInt(x*x)
		term := new(big.Int).Div(one, big.NewInt(x))
		for n, sign := int64(1), 1; term.Sign() != 0; n, sign = n+2, -sign {
			t := new(big.Int).Div(term, big.NewInt(n))
			if sign > 0 {
				sum.Add(sum, t)
			} else {
				sum.Sub(sum, t)
			}
			term.Div(term, xx)
		}
		return sum
	}
	pi := new(big.Int).Mul(big.NewInt(16), atan(5))
	return pi.Sub(pi, new(big.Int).Mul(big.NewInt(4), atan(239)))
}

// TestMODPPrimes recomputes every prime from its defining formula
// (RFC 2409 §6.1–6.2, RFC 3526 §2–3) and checks primality and safety.
func TestMODPPrimes(t *testing.T) {
	const prec = 2200
	pi := piFixed(prec)
	for id, k := range map[GroupID]int64{MODP768: 149686, MODP1024: 129093, MODP1536: 741804, MODP2048: 124476} {
		g, err := NewGroup(id)
		if err != nil {
			t.Fatal(err)
		}
		n := uint(g.PublicLen() * 8)
		f := new(big.Int).Rsh(pi, prec-(n-130))
		f.Add(f, big.NewInt(k))
		p := new(big.Int).Lsh(big.NewInt(1), n)
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), n-64))
		p.Sub(p, big.NewInt(1))
		p.Add(p, f.Lsh(f, 64))
		if p.Cmp(g.p) != 0 {
			t.Errorf("%v: prime differs from formula", id)
		}
		q := new(big.Int).Rsh(g.p, 1)
		if !g.p.ProbablyPrime(10) || !q.ProbablyPrime(10) {
			t.Errorf("%v: not a safe prime", id)
		}
	}
}

// TestDHAgreement runs both sides of every group and the public checks.
func TestDHAgreement(t *testing.T) {
	for _, id := range []GroupID{MODP768, MODP1024, MODP1536, MODP2048, ECP256, ECP384, ECP521, Curve25519} {
		g, err := NewGroup(id)
		if err != nil {
			t.Fatal(err)
		}
		a, err := g.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := g.GenerateKey(rand.Reader)
		if len(a.Public()) != g.PublicLen() {
			t.Fatalf("%v: public length %d", id, len(a.Public()))
		}
		s1, err1 := a.SharedSecret(b.Public())
		s2, err2 := b.SharedSecret(a.Public())
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) || len(s1) == 0 {
			t.Fatalf("%v: agreement failed %v %v", id, err1, err2)
		}
		if _, err := a.SharedSecret(b.Public()[1:]); !errors.Is(err, ErrBadPublic) {
			t.Errorf("%v: short public accepted", id)
		}
		if id == Curve25519 {
			if _, err := a.SharedSecret(make([]byte, 32)); err == nil {
				t.Error("x25519 zero point accepted")
			}
			continue
		}
		if g.p == nil {
			bad := append([]byte{}, b.Public()...)
			bad[len(bad)-1] ^= 1
			if _, err := a.SharedSecret(bad); err == nil {
				t.Errorf("%v: point off the curve accepted", id)
			}
			continue
		}
		pm1 := new(big.Int).Sub(g.p, big.NewInt(1))
		for _, y := range []*big.Int{big.NewInt(0), big.NewInt(1), pm1, g.p} {
			if _, err := a.SharedSecret(y.FillBytes(make([]byte, g.PublicLen()))); !errors.Is(err, ErrBadPublic) {
				t.Errorf("%v: public %v accepted", id, y)
			}
		}
	}
	if _, err := NewGroup(3); err == nil {
		t.Error("group 3 accepted")
	}
}

// TestAESCBCVectors runs RFC 3602 §4 cases 1 and 2 through NewBlock.
func TestAESCBCVectors(t *testing.T) {
	cases := []struct{ key, iv, pt, ct string }{
		{"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
			hex.EncodeToString([]byte("Single block msg")), "e353779c1079aeb82708942dbe77181a"},
		{"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
	}
	for _, c := range cases {
		b, err := NewBlock(EncrAESCBC, unhex(t, c.key))
		if err != nil {
			t.Fatal(err)
		}
		pt := unhex(t, c.pt)
		out := make([]byte, len(pt))
		cipher.NewCBCEncrypter(b, unhex(t, c.iv)).CryptBlocks(out, pt)
		if hex.EncodeToString(out) != c.ct {
			t.Errorf("got %x want %s", out, c.ct)
		}
		// The same vector through Protector.Open: body = IV|CT|ICV.
		integ := bytes.Repeat([]byte{1}, 20)
		p, _ := NewProtector(EncrAESCBC, IntegHMACSHA196, unhex(t, c.key), integ)
		body, _ := p.Seal([]byte("aad"), pt[:len(pt)-1], bytes.NewReader(unhex(t, c.iv)))
		if len(body) != 16+len(pt)+12 || !bytes.Equal(body[:16], unhex(t, c.iv)) {
			t.Fatalf("sealed layout %d", len(body))
		}
	}
}

// TestGCMVector opens McGrew–Viega test case 4 (AES-128, AAD) as an SK body
// with salt cafebabe and IV facedbaddecaf888 (RFC 5282: 4+8 octet nonce).
func TestGCMVector(t *testing.T) {
	key := unhex(t, "feffe9928665731c6d6a8f9467308308cafebabe")
	pt := unhex(t, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
	ct := unhex(t, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
	tag := unhex(t, "5bc94fbc3221a5db94fae95ae7121a47")
	aad := unhex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	p, err := NewProtector(EncrAESGCM16, IntegNone, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Join([][]byte{unhex(t, "facedbaddecaf888"), ct, tag}, nil)
	got, err := p.Open(aad, body)
	if err != nil {
		t.Fatal(err)
	}
	// The last plaintext octet (0x39 = 57) is read as the pad length.
	if !bytes.Equal(got, pt[:len(pt)-1-0x39]) {
		t.Fatalf("plaintext %x", got)
	}
	body[20] ^= 1
	if _, err := p.Open(aad, body); !errors.Is(err, ErrIntegrity) {
		t.Fatal("tampered GCM body opened")
	}
}

// TestProtectorRoundTrip seals and opens with every cipher and checks
// tampering of the AAD, the body and the ICV is caught.
func TestProtectorRoundTrip(t *testing.T) {
	type suite struct {
		e    EncrID
		bits int
		i    IntegID
	}
	var suites []suite
	for _, e := range []suite{{EncrAESCBC, 128, 0}, {EncrAESCBC, 192, 0}, {EncrAESCBC, 256, 0}, {Encr3DES, 0, 0}, {EncrDES, 0, 0}} {
		for _, i := range []IntegID{IntegHMACMD596, IntegHMACSHA196, IntegHMACSHA256128, IntegHMACSHA384192, IntegHMACSHA512256} {
			suites = append(suites, suite{e.e, e.bits, i})
		}
	}
	suites = append(suites, suite{EncrAESGCM16, 128, IntegNone}, suite{EncrAESGCM16, 256, IntegNone}, suite{EncrChaCha20Poly1305, 0, IntegNone})
	for _, s := range suites {
		ek := make([]byte, s.e.KeyBytes(s.bits))
		ik := make([]byte, s.i.KeyBytes())
		rand.Read(ek)
		rand.Read(ik)
		p, err := NewProtector(s.e, s.i, ek, ik)
		if err != nil {
			t.Fatalf("%v/%v: %v", s.e, s.i, err)
		}
		for _, n := range []int{0, 1, 7, 8, 15, 16, 100} {
			pt := bytes.Repeat([]byte{0xa5}, n)
			aad := []byte("ike header and sk generic header")
			body, err := p.Seal(aad, pt, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) != p.SealedLen(n) {
				t.Fatalf("%v: SealedLen %d, sealed %d", s.e, p.SealedLen(n), len(body))
			}
			got, err := p.Open(aad, body)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%v/%v n=%d: %v", s.e, s.i, n, err)
			}
			bad := append([]byte{}, aad...)
			bad[0] ^= 1
			if _, err := p.Open(bad, body); err == nil {
				t.Fatalf("%v/%v: tampered AAD opened", s.e, s.i)
			}
			for _, pos := range []int{0, len(body) / 2, len(body) - 1} {
				b2 := append([]byte{}, body...)
				b2[pos] ^= 0x80
				if _, err := p.Open(aad, b2); err == nil {
					t.Fatalf("%v/%v: tampered byte %d opened", s.e, s.i, pos)
				}
			}
			if _, err := p.Open(aad, body[:3]); err == nil {
				t.Fatal("short body opened")
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	for _, c := range []struct {
		t  TransformType
		id uint16
		ok bool
	}{
		{TransformENCR, 12, true}, {TransformENCR, 20, true}, {TransformENCR, 1, false},
		{TransformPRF, 7, true}, {TransformPRF, 4, false},
		{TransformINTEG, 14, true}, {TransformINTEG, 5, false},
		{TransformDH, 14, true}, {TransformDH, 31, true}, {TransformDH, 22, false},
		{TransformESN, 0, true}, {TransformESN, 1, false},
	} {
		if Supported(c.t, c.id) != c.ok {
			t.Errorf("Supported(%v, %d) != %v", c.t, c.id, c.ok)
		}
	}
	if EncrAESGCM16.KeyBytes(128) != 20 || EncrAESCBC.KeyBytes(100) != 0 || Encr3DES.KeyBytes(0) != 24 {
		t.Error("key sizes")
	}
	if IntegHMACSHA384192.ICVBytes() != 24 || IntegHMACSHA512256.KeyBytes() != 64 {
		t.Error("integ sizes (RFC 4868)")
	}
	if MODP2048.String() != "MODP_2048" || EncrAESGCM16.String() != "AES_GCM_16" {
		t.Error("names")
	}
}
