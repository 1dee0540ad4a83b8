package xform

import (
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open of one suite per transform
// family: it must never panic, never succeed on forged input, and only
// return the documented errors.
func FuzzOpen(f *testing.F) {
	suites := []Suite{
		{EncrAESCBC, 128, IntegHMACSHA196},
		{Encr3DES, 0, IntegHMACMD596},
		{EncrNull, 0, IntegHMACSHA256128},
		{EncrAESGCM16, 128, IntegNone},
		{EncrChaCha20Poly1305, 0, IntegNone},
	}
	trs := make([]Transform, len(suites))
	for i, s := range suites {
		trs[i] = mustNew(f, s)
		sealed := frame(trs[i], 1, 1, []byte("seed packet"))
		trs[i].Seal(sealed, 0, false)
		f.Add(uint8(i), sealed)
		f.Add(uint8(i), sealed[:len(sealed)/2])
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, pkt []byte) {
		tr := trs[int(which)%len(trs)]
		sealedSeed := frame(tr, 1, 1, []byte("seed packet"))
		_, err := tr.Open(pkt, 0, false)
		if err == nil {
			// Only an exact seed (valid ciphertext) may open.
			if len(pkt) != len(sealedSeed) {
				t.Fatalf("%v: forged %d-byte packet opened", tr.Suite(), len(pkt))
			}
			return
		}
		if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrShort) && !errors.Is(err, ErrAlign) {
			t.Fatalf("%v: undocumented error %v", tr.Suite(), err)
		}
	})
}
