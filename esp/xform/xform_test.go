package xform

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// testKeys returns deterministic keys of the right sizes for s.
func testKeys(t testing.TB, s Suite) (enc, integ []byte) {
	t.Helper()
	el, il, err := s.KeyLen()
	if err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	enc, integ = make([]byte, el), make([]byte, il)
	for i := range enc {
		enc[i] = byte(i*7 + 1)
	}
	for i := range integ {
		integ[i] = byte(i*13 + 5)
	}
	return enc, integ
}

func mustNew(t testing.TB, s Suite) Transform {
	t.Helper()
	enc, integ := testKeys(t, s)
	tr, err := New(s, enc, integ)
	if err != nil {
		t.Fatalf("New(%v): %v", s, err)
	}
	return tr
}

// frame builds an ESP packet ready for Seal: header, IV room, payload,
// RFC 4303 §2.4 monotonic padding, pad length, next header, ICV room.
func frame(tr Transform, spi, seq uint32, payload []byte) []byte {
	bs := tr.BlockSize()
	body := len(payload) + trailerLen
	padded := (body + bs - 1) / bs * bs
	pad := padded - body
	pkt := make([]byte, espHeaderLen+tr.IVLen()+padded+tr.ICVLen())
	binary.BigEndian.PutUint32(pkt[0:4], spi)
	binary.BigEndian.PutUint32(pkt[4:8], seq)
	off := espHeaderLen + tr.IVLen()
	off += copy(pkt[off:], payload)
	for i := 1; i <= pad; i++ {
		pkt[off] = byte(i)
		off++
	}
	pkt[off] = byte(pad)
	pkt[off+1] = 4 // IPv4
	return pkt
}

func TestKeyLengthErrors(t *testing.T) {
	for _, c := range []struct {
		s          Suite
		enc, integ int
	}{
		{Suite{EncrAESCBC, 128, IntegHMACSHA196}, 15, 20},
		{Suite{EncrAESCBC, 128, IntegHMACSHA196}, 16, 16},
		{Suite{EncrAESCBC, 100, IntegHMACSHA196}, 16, 20},
		{Suite{EncrAESCBC, 128, IntegNone}, 16, 0},
		{Suite{EncrAESGCM16, 128, IntegNone}, 16, 0},
		{Suite{EncrAESGCM16, 128, IntegHMACSHA196}, 20, 20},
		{Suite{EncrChaCha20Poly1305, 0, IntegNone}, 32, 0},
		{Suite{Encr3DES, 0, IntegHMACMD596}, 16, 16},
		{Suite{EncrDES, 0, IntegHMACSHA512256}, 8, 32},
		{Suite{99, 0, IntegHMACSHA196}, 8, 20},
		{Suite{EncrNull, 0, 99}, 0, 20},
	} {
		_, err := New(c.s, make([]byte, c.enc), make([]byte, c.integ))
		if err == nil {
			t.Errorf("New(%v, %d, %d) succeeded, want error", c.s, c.enc, c.integ)
		} else if !bytes.HasPrefix([]byte(err.Error()), []byte("xform: ")) {
			t.Errorf("error %q lacks package prefix", err)
		}
	}
}

func TestSuiteString(t *testing.T) {
	for s, want := range map[Suite]string{
		{EncrAESCBC, 128, IntegHMACSHA196}:    "aes128-sha1",
		{EncrAESGCM16, 256, IntegNone}:        "aes256gcm16",
		{EncrChaCha20Poly1305, 0, IntegNone}:  "chacha20poly1305",
		{Encr3DES, 0, IntegHMACMD596}:         "3des-md5",
		{EncrNull, 0, IntegHMACSHA256128}:     "null-sha256",
		{EncrAESCBC, 256, IntegHMACSHA512256}: "aes256-sha512",
		{EncrDES, 0, IntegHMACSHA384192}:      "des-sha384",
	} {
		if got := s.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", s, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range Suites() {
		t.Run(s.String(), func(t *testing.T) {
			tx, rx := mustNew(t, s), mustNew(t, s)
			for size := 0; size <= 300; size++ {
				payload := make([]byte, size)
				rand.Read(payload)
				for _, esn := range []bool{false, true} {
					seq := uint32(size + 1)
					pkt := frame(tx, 0x01020304, seq, payload)
					want := append([]byte(nil), pkt[espHeaderLen+tx.IVLen():len(pkt)-tx.ICVLen()]...)
					tx.Seal(pkt, 7, esn)
					if size > 16 && s.Encr != EncrNull && bytes.Contains(pkt, payload) {
						t.Fatalf("size %d: plaintext visible after Seal", size)
					}
					got, err := rx.Open(pkt, 7, esn)
					if err != nil {
						t.Fatalf("size %d esn %v: Open: %v", size, esn, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("size %d esn %v: Open returned %x, want %x", size, esn, got, want)
					}
				}
			}
		})
	}
}

// TestESNBinding checks that the implicit high sequence bits are
// authenticated with ESN and ignored without it (RFC 4303 §3.3.2.1).
func TestESNBinding(t *testing.T) {
	for _, s := range Suites() {
		tr := mustNew(t, s)
		pkt := frame(tr, 1, 2, []byte("hello, esn"))
		tr.Seal(pkt, 5, true)
		if _, err := tr.Open(append([]byte(nil), pkt...), 6, true); !errors.Is(err, ErrAuth) {
			t.Errorf("%v: Open with wrong SeqHi: %v, want ErrAuth", s, err)
		}
		if _, err := tr.Open(pkt, 5, true); err != nil {
			t.Errorf("%v: Open with right SeqHi: %v", s, err)
		}
	}
}

func TestTamper(t *testing.T) {
	for _, s := range Suites() {
		t.Run(s.String(), func(t *testing.T) {
			tr := mustNew(t, s)
			pkt := frame(tr, 0xabcdef01, 9, []byte("the quick brown fox jumps over the lazy dog"))
			tr.Seal(pkt, 0, false)
			for i := range pkt {
				for _, bit := range []byte{0x01, 0x80} {
					p := append([]byte(nil), pkt...)
					p[i] ^= bit
					if _, err := tr.Open(p, 0, false); !errors.Is(err, ErrAuth) {
						t.Fatalf("byte %d flipped by %#x: Open: %v, want ErrAuth", i, bit, err)
					}
				}
			}
		})
	}
}

func TestShortAndAlign(t *testing.T) {
	for _, s := range Suites() {
		tr := mustNew(t, s)
		// The smallest accepted ciphertext is one block for CBC and the
		// 2-byte trailer for the others (alignment to 4 is the sender's
		// duty, RFC 4303 §2.4, and not checked: the ICV covers it).
		min := len(frame(tr, 1, 1, nil))
		if tr.BlockSize() == 4 {
			min = espHeaderLen + tr.IVLen() + trailerLen + tr.ICVLen()
		}
		for n := 0; n < min; n++ {
			if _, err := tr.Open(make([]byte, n), 0, false); !errors.Is(err, ErrShort) && !errors.Is(err, ErrAlign) {
				t.Errorf("%v: Open(%d bytes) = %v, want ErrShort or ErrAlign", s, n, err)
			}
		}
		if tr.BlockSize() > 4 {
			if _, err := tr.Open(make([]byte, min+1), 0, false); !errors.Is(err, ErrAlign) {
				t.Errorf("%v: misaligned Open = %v, want ErrAlign", s, err)
			}
		}
	}
}

// TestIVsDiffer checks that consecutive CBC IVs are distinct and not a
// visible counter (RFC 3602 §3), and that AEAD IVs are the sequence number.
func TestIVsDiffer(t *testing.T) {
	for _, s := range Suites() {
		tr := mustNew(t, s)
		ivl := tr.IVLen()
		if ivl == 0 {
			continue
		}
		seen := map[string]bool{}
		for i := 0; i < 1000; i++ {
			pkt := frame(tr, 1, uint32(i+1), []byte{1, 2, 3})
			tr.Seal(pkt, 0, false)
			iv := string(pkt[espHeaderLen : espHeaderLen+ivl])
			if seen[iv] {
				t.Fatalf("%v: IV %x repeated", s, iv)
			}
			seen[iv] = true
			if tr.BlockSize() == 4 {
				if got := binary.BigEndian.Uint64(pkt[espHeaderLen:]); got != uint64(i+1) {
					t.Fatalf("%v: AEAD IV %d, want sequence number %d", s, got, i+1)
				}
			}
		}
		if tr.BlockSize() > 4 {
			// Same seed must give the same stream, a different seed a different one.
			enc, integ := testKeys(t, s)
			a, _ := NewWithRand(s, enc, integ, bytes.NewReader(make([]byte, 64)))
			b, _ := NewWithRand(s, enc, integ, bytes.NewReader(make([]byte, 64)))
			c, _ := NewWithRand(s, enc, integ, bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
			pa, pb, pc := frame(a, 1, 1, nil), frame(b, 1, 1, nil), frame(c, 1, 1, nil)
			a.Seal(pa, 0, false)
			b.Seal(pb, 0, false)
			c.Seal(pc, 0, false)
			if !bytes.Equal(pa, pb) || bytes.Equal(pa, pc) {
				t.Errorf("%v: IVs not a function of the injected seed", s)
			}
		}
	}
}

func TestRandFailure(t *testing.T) {
	s := Suite{EncrAESCBC, 128, IntegHMACSHA196}
	enc, integ := testKeys(t, s)
	if _, err := NewWithRand(s, enc, integ, bytes.NewReader(nil)); err == nil {
		t.Fatal("NewWithRand with an empty reader succeeded")
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	for _, s := range Suites() {
		if s.Encr == EncrChaCha20Poly1305 && !chachaAsm {
			// x/crypto's portable ChaCha20-Poly1305 allocates its
			// cipher state per call; only its amd64 assembly does not.
			t.Logf("%v: skipped, portable x/crypto code allocates", s)
			continue
		}
		tr := mustNew(t, s)
		pkt := frame(tr, 1, 1, make([]byte, 1400))
		work := make([]byte, len(pkt))
		tr.Seal(pkt, 0, true)
		if n := testing.AllocsPerRun(100, func() { tr.Seal(pkt, 0, true) }); n != 0 {
			t.Errorf("%v: Seal allocates %.1f per call", s, n)
		}
		tr.Seal(pkt, 0, true)
		if n := testing.AllocsPerRun(100, func() {
			copy(work, pkt)
			if _, err := tr.Open(work, 0, true); err != nil {
				panic(err)
			}
		}); n != 0 {
			t.Errorf("%v: Open allocates %.1f per call", s, n)
		}
	}
}

// TestConcurrent runs Seal and Open on one Transform from many goroutines
// and checks that no IV repeats across them; run with -race.
func TestConcurrent(t *testing.T) {
	for _, s := range Suites() {
		tr := mustNew(t, s)
		var wg sync.WaitGroup
		const goroutines, packets = 8, 50
		ivs := make([][]string, goroutines)
		errs := make(chan error, goroutines)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < packets; i++ {
					payload := []byte(fmt.Sprintf("goroutine %d packet %d", g, i))
					pkt := frame(tr, 1, uint32(g*1000+i+1), payload)
					tr.Seal(pkt, 0, false)
					ivs[g] = append(ivs[g], string(pkt[espHeaderLen:espHeaderLen+tr.IVLen()]))
					got, err := tr.Open(pkt, 0, false)
					if err != nil || !bytes.HasPrefix(got, payload) {
						errs <- fmt.Errorf("%v: goroutine %d packet %d: %v", s, g, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if tr.IVLen() == 0 {
			continue
		}
		seen := map[string]bool{}
		for _, l := range ivs {
			for _, iv := range l {
				if seen[iv] {
					t.Fatalf("%v: IV %x used twice", s, iv)
				}
				seen[iv] = true
			}
		}
	}
}

// TestBaselineInterop checks that the benchmark anchors are real ESP: what
// one side seals the other opens, in both directions.
func TestBaselineInterop(t *testing.T) {
	for _, s := range Suites() {
		enc, integ := testKeys(t, s)
		base, err := NewBaseline(s, enc, integ)
		if s.Encr == EncrNull {
			if err == nil {
				t.Errorf("%v: NewBaseline succeeded, want error", s)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		fast := mustNew(t, s)
		for _, pair := range [][2]Transform{{base, fast}, {fast, base}} {
			for _, esn := range []bool{false, true} {
				payload := []byte("baseline interop payload, long enough for several blocks")
				pkt := frame(pair[0], 9, 77, payload)
				pair[0].Seal(pkt, 3, esn)
				got, err := pair[1].Open(pkt, 3, esn)
				if err != nil || !bytes.HasPrefix(got, payload) {
					t.Fatalf("%v esn=%v: %T sealed, %T opened: %v", s, esn, pair[0], pair[1], err)
				}
			}
		}
	}
}

// TestStringRedacts checks that printing a Transform shows no key bytes.
func TestStringRedacts(t *testing.T) {
	for _, s := range Suites() {
		enc, integ := testKeys(t, s)
		tr := mustNew(t, s)
		for _, out := range []string{fmt.Sprint(tr), fmt.Sprintf("%+v", tr), fmt.Sprintf("%v", []Transform{tr})} {
			if out != "xform("+s.String()+")" && out != "[xform("+s.String()+")]" {
				t.Errorf("%v printed as %q", s, out)
			}
			for _, k := range [][]byte{enc, integ} {
				if len(k) >= 4 && strings.Contains(out, fmt.Sprint(k[len(k)-4:])) {
					t.Errorf("%v: key bytes in %q", s, out)
				}
			}
		}
	}
}
