package ikecrypto

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// The expected values of TestV1Derivations were computed independently
// with Python's hmac/hashlib from the formulas of RFC 2409 §5, §5.5 and
// Appendix B and RFC 3947 §3.2 (same inputs as below).
func TestV1Derivations(t *testing.T) {
	psk := []byte("test-psk")
	ni := make([]byte, 16)
	for i := range ni {
		ni[i] = byte(i)
	}
	nr := make([]byte, 32)
	for i := range nr {
		nr[i] = byte(100 + i)
	}
	gxy := bytes.Repeat([]byte{0xab}, 96)
	gxi := bytes.Repeat([]byte{1}, 96)
	gxr := bytes.Repeat([]byte{2}, 96)
	const ci, cr = 0x0102030405060708, 0x1112131415161718
	cases := []struct {
		prf    PRFID
		encLen int
		want   map[string]string
	}{
		{PRFHMACMD5, 24, map[string]string{ // 3DES key from a 16-byte PRF: Appendix B expansion
			"skeyid": "2e647b346de0007580f3ae04b96bf319", "d": "a783ec45f8e278e1a760b5ea435fa3f2",
			"a": "479a1e7bd7bc2bcf5025d61bf4a45b05", "e": "5441e57b778013b9a0235d524d9eb588",
			"ka":     "8ed016e18f5d20f7278b8dba4f8073c4f7a8e4b38eb1f21f",
			"keymat": "644829d99091b42411ea9d3ddddeefd423b7b009c1a95e57d992a05fd4d9314af7484272eb13bf9e3906f83d",
			"hash3":  "3b186e98e6928af51a63f55df116e68a", "iv": "e4ee63192798eeea",
			"hashi": "71e63f93fd29647bc3d24e6510d386b7", "hashr": "2714c3d1acb0409fd70c847c9f028c27",
			"natd": "ee7f28e474d91ef0a8d5c2bec0c02de3",
		}},
		{PRFHMACSHA1, 32, map[string]string{ // AES-256 key from a 20-byte PRF
			"skeyid": "e20096b68108b9c7bd416b7484a240226d8c2b65", "d": "0d52a9a3d2493e01641bb1e06aaefc9b9ba1cbae",
			"a": "043f01b27e1b61dd90ac3013b527d761cc601278", "e": "6373ac22a8748f1e32f6385f25d5f8b32788ea69",
			"ka":     "3857ed05f84f6f12d4e09f399dbe03cf7c05e52d6b738d3401195718db2f472a",
			"keymat": "e21c82e26049856c2f169a58ac769b9e7a9301b3372576e54e53d35ab7a350afcaca062b046f7fb903ca714a",
			"hash3":  "0bb55f4f7b7416131a4be654332b22e018f3db3c", "iv": "975d90717a0021fd",
			"hashi": "5b1e381de1637ea370d91318216b67a346d3ecd2", "hashr": "805544d908cb1f9942496c9d12a170797ed0389b",
			"natd": "5184f43875ff7d9e3dfdc92bd1dee1a08204de3e",
		}},
	}
	for _, c := range cases {
		p, _ := NewPRF(c.prf)
		skeyid := V1SKEYIDPSK(p, psk, ni, nr)
		k := V1DeriveKeys(p, skeyid, gxy, ci, cr, c.encLen)
		got := map[string][]byte{
			"skeyid": k.SKEYID, "d": k.D, "a": k.A, "e": k.E, "ka": k.Enc,
			"keymat": V1KeyMat(p, k.D, gxy, 3, 0xc0ffee01, ni, nr, 44),
			"hash3":  V1Hash3(p, k.A, 0x01020304, ni, nr),
			"iv":     V1Phase1IV(p.Hash(), gxi, gxr, 8),
			"hashi":  V1HashI(p, k.SKEYID, gxi, gxr, ci, cr, []byte("SAI"), []byte("IDII")),
			"hashr":  V1HashR(p, k.SKEYID, gxi, gxr, ci, cr, []byte("SAI"), []byte("IDIR")),
			"natd":   V1NATD(p.Hash(), ci, cr, netip.MustParseAddrPort("192.0.2.1:4500")),
		}
		for name, want := range c.want {
			if hex.EncodeToString(got[name]) != want {
				t.Errorf("%v %s = %x, want %s", c.prf, name, got[name], want)
			}
		}
	}
}

func TestV1ExpandKeyShort(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA256)
	e := bytes.Repeat([]byte{7}, 32)
	if k := V1ExpandKey(p, e, 16); !bytes.Equal(k, e[:16]) {
		t.Fatalf("a long SKEYID_e must be truncated, got %x", k)
	}
}

func TestV1Hash12(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA1)
	a := Key("skeyid_a")
	if !bytes.Equal(V1Hash1(p, a, 7, []byte("rest")), p.Sum(a, []byte{0, 0, 0, 7, 'r', 'e', 's', 't'})) {
		t.Fatal("HASH(1) is prf(SKEYID_a, M-ID | rest)")
	}
	if !bytes.Equal(V1Hash2(p, a, 7, []byte("ni"), []byte("rest")), p.Sum(a, []byte{0, 0, 0, 7, 'n', 'i', 'r', 'e', 's', 't'})) {
		t.Fatal("HASH(2) is prf(SKEYID_a, M-ID | Ni_b | rest)")
	}
	iv := V1Phase2IV(p.Hash(), []byte{1, 2, 3, 4, 5, 6, 7, 8}, 9, 8)
	h := p.Hash()()
	h.Write([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9})
	if !bytes.Equal(iv, h.Sum(nil)[:8]) {
		t.Fatal("phase 2 IV is hash(last block | M-ID)")
	}
}

func TestV1CBCChain(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	iv := make([]byte, 16)
	ct, next := V1Encrypt(b, iv, []byte("seventeen bytes!!"))
	if len(ct) != 32 || !bytes.Equal(next, ct[16:]) {
		t.Fatalf("ct %d bytes, next IV must be the last block", len(ct))
	}
	pt, next2, err := V1Decrypt(b, iv, ct)
	if err != nil || !bytes.HasPrefix(pt, []byte("seventeen bytes!!")) || !bytes.Equal(next2, next) {
		t.Fatalf("round trip: %q %v", pt, err)
	}
	if pt[len(pt)-1] != 0 {
		t.Fatal("padding must be zero octets")
	}
	if _, _, err := V1Decrypt(b, iv, ct[:31]); err == nil {
		t.Fatal("partial block accepted")
	}
}
