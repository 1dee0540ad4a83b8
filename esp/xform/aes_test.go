package xform

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// TestAESKeyExpansion checks the last round key of the FIPS-197 Appendix A
// expansions (A.1 AES-128, A.2 AES-192, A.3 AES-256).
func TestAESKeyExpansion(t *testing.T) {
	for _, c := range []struct{ key, last string }{
		{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6"},
		{"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "e98ba06f448c773c8ecc720401002202"},
		{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e"},
	} {
		key, _ := hex.DecodeString(c.key)
		ks := expandAESKey(key)
		if got := hex.EncodeToString(ks.enc[ks.rounds][:]); got != c.last {
			t.Errorf("key %s: last round key %s, want %s", c.key, got, c.last)
		}
	}
	if aesSbox[0x53] != 0xed || aesSbox[0x00] != 0x63 || aesSbox[0xff] != 0x16 {
		t.Errorf("S-box disagrees with FIPS-197 Figure 7")
	}
}

// TestAESCBCMatchesStdlib compares the selected AES-CBC (the AES-NI
// assembly on amd64) and the portable one with crypto/cipher's CBC for
// every key size and block counts around the eight-block stride.
func TestAESCBCMatchesStdlib(t *testing.T) {
	if !useAESNIForTest() {
		t.Log("no AES-NI: both constructors give the portable path")
	}
	for ci, newMode := range []func([]byte) (cbcMode, error){newAESCBC, newAESCBCGeneric} {
		for _, kl := range []int{16, 24, 32} {
			testAESCBCMode(t, ci, newMode, kl)
		}
	}
}

func testAESCBCMode(t *testing.T, ci int, newMode func([]byte) (cbcMode, error), kl int) {
	key := make([]byte, kl)
	rand.Read(key)
	mode, err := newMode(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(key)
	for n := 1; n <= 35; n++ {
		iv := make([]byte, 16)
		pt := make([]byte, 16*n)
		rand.Read(iv)
		rand.Read(pt)
		want := make([]byte, len(pt))
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(want, pt)
		got := append([]byte(nil), pt...)
		mode.encrypt(iv, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("constructor %d: AES-%d encrypt of %d blocks differs from crypto/cipher", ci, kl*8, n)
		}
		mode.decrypt(iv, got)
		if !bytes.Equal(got, pt) {
			t.Fatalf("constructor %d: AES-%d decrypt of %d blocks differs from the plaintext", ci, kl*8, n)
		}
	}
}
