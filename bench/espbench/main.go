// Command espbench prints the ESP data plane's per-packet cost table: for
// each suite and packet size, the engine's encapsulation and decapsulation
// (esp.Encap / esp.Decap: padding, trailer, header and the transform) next
// to the raw cipher+MAC or raw AEAD seal/open of the same bytes measured in
// the same run, their ratio and the allocations per packet. Run it with
// `go run ./bench/espbench` (make bench calls it).
//
// The anchors are the standard library used directly: crypto/cipher's AEAD
// with a reused nonce buffer, or a reused CBC BlockMode plus crypto/hmac.
// They are what the transform could cost at best, so the ratio is the
// engine's overhead; the target for AES-128-GCM at 1400 bytes is ≤ 1.2.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"flag"
	"fmt"
	"hash"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/unix"

	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

var (
	flagSuites = flag.String("suites", "default", "suites: default, all, or a comma list of names (aes128gcm16,aes128-sha1,…)")
	flagSizes  = flag.String("sizes", "64,512,1400", "inner packet sizes in bytes")
	flagTime   = flag.Duration("time", 8*time.Millisecond, "measuring time per function and round")
	flagRounds = flag.Int("rounds", 25, "rounds per cell; the fastest round counts (robust on a shared machine)")
)

var defaultSuites = []string{"aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128-sha1", "aes256-sha256", "aes128-sha512", "3des-md5"}

func main() {
	flag.Parse()
	runtime.LockOSThread() // perOp reads this thread's CPU clock
	suites, err := pickSuites(*flagSuites)
	if err != nil {
		fmt.Fprintln(os.Stderr, "espbench:", err)
		os.Exit(2)
	}
	var sizes []int
	for _, f := range strings.Split(*flagSizes, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 28 || n > 1500 {
			fmt.Fprintf(os.Stderr, "espbench: bad size %q (28–1500)\n", f)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	fmt.Printf("espbench: %s/%s, GOMAXPROCS=%d, one goroutine, thread CPU time;\nper cell the best of %d interleaved rounds of %v per function\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), *flagRounds, *flagTime)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "suite\tbytes\tencap ns\tGbit/s\traw seal ns\tratio\tdecap ns\tGbit/s\traw open ns\tratio\tallocs/pkt\t")
	for _, s := range suites {
		for _, n := range sizes {
			r, err := measure(s, n)
			if err != nil {
				fmt.Fprintln(os.Stderr, "espbench:", s, err)
				os.Exit(1)
			}
			fmt.Fprintf(w, "%v\t%d\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t\n", s, n,
				r.encap, gbps(n, r.encap), r.rawSeal, r.encap/r.rawSeal,
				r.decap, gbps(n, r.decap), r.rawOpen, r.decap/r.rawOpen, r.allocs)
		}
	}
	w.Flush()
}

func pickSuites(spec string) ([]xform.Suite, error) {
	all := xform.Suites()
	if spec == "all" {
		return all, nil
	}
	names := defaultSuites
	if spec != "default" {
		names = strings.Split(spec, ",")
	}
	var out []xform.Suite
	for _, name := range names {
		found := false
		for _, s := range all {
			if s.String() == name {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown suite %q", name)
		}
	}
	return out, nil
}

func gbps(n int, ns float64) float64 { return float64(n) * 8 / ns }

type result struct {
	encap, decap, rawSeal, rawOpen float64 // ns per packet
	allocs                         float64 // per packet, encap + decap
}

// threadCPU returns the calling thread's CPU time. Timing with it instead
// of the wall clock leaves out the time the thread waits for a CPU, which
// on a shared machine is most of the noise.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// perOp runs f in growing rounds until the measuring time is reached and
// returns CPU ns per call and heap allocations per call. The caller has
// locked the goroutine to its thread.
func perOp(f func()) (ns, allocs float64) {
	f() // warm up pools
	var ms0, ms1 runtime.MemStats
	iters := 64
	for {
		runtime.ReadMemStats(&ms0)
		t0 := threadCPU()
		for range iters {
			f()
		}
		d := threadCPU() - t0
		runtime.ReadMemStats(&ms1)
		if d >= *flagTime || iters >= 1<<26 {
			return float64(d.Nanoseconds()) / float64(iters), float64(ms1.Mallocs-ms0.Mallocs) / float64(iters)
		}
		iters *= 2
	}
}

func keys(s xform.Suite) (enc, integ []byte, err error) {
	el, il, err := s.KeyLen()
	if err != nil {
		return nil, nil, err
	}
	enc, integ = make([]byte, el), make([]byte, il)
	for i := range enc {
		enc[i] = byte(i*13 + 1)
	}
	for i := range integ {
		integ[i] = byte(i*7 + 3)
	}
	return enc, integ, nil
}

func measure(s xform.Suite, n int) (result, error) {
	var r result
	enc, integ, err := keys(s)
	if err != nil {
		return r, err
	}
	x, err := xform.New(s, enc, integ)
	if err != nil {
		return r, err
	}
	inner := make([]byte, n)
	inner[0] = 0x45
	binary.BigEndian.PutUint16(inner[2:], uint16(n))
	buf := make([]byte, esp.BufSize)
	copy(buf[esp.Headroom:], inner)

	// Encap: the TUN read puts the packet at Headroom; re-encrypting the
	// previous ciphertext in place costs the same as the first time.
	var start, end int
	seq := uint64(0)
	encapF := func() {
		seq++
		start, end, _ = esp.Encap(x, 0x1000, seq, false, 4, buf, esp.Headroom, n)
	}
	encapF()

	// Decap works on a fresh copy of a valid packet each time; the raw
	// open below pays the same copy.
	copy(buf[esp.Headroom:], inner)
	start, end, _ = esp.Encap(x, 0x1000, 1, false, 4, buf, esp.Headroom, n)
	pkt := append([]byte(nil), buf[start:end]...)
	work := make([]byte, len(pkt))
	var derr esp.DropReason
	decapF := func() {
		copy(work, pkt)
		_, _, derr = esp.Decap(x, work, 0, false)
	}

	raw, err := newRaw(s, enc, integ)
	if err != nil {
		return r, err
	}
	// The anchor processes exactly the bytes the transform does: the
	// padded payload (ESP body) and, for MACs, header+IV+body.
	ivLen, icv := x.IVLen(), x.ICVLen()
	body := end - start - 8 - ivLen - icv
	rb := make([]byte, end-start)
	copy(rb, pkt)
	sealF := func() { raw.seal(rb, ivLen, body) }
	// A valid raw-sealed packet to open, fresh each time with the same
	// copy the decap measurement pays.
	raw.seal(rb, ivLen, body)
	sealed := append([]byte(nil), rb...)
	var oerr error
	openF := func() {
		copy(rb, sealed)
		oerr = raw.open(rb, ivLen, body)
	}
	r.encap, r.rawSeal, r.decap, r.rawOpen = 1e18, 1e18, 1e18, 1e18
	for range max(*flagRounds, 1) {
		ns, a1 := perOp(encapF)
		r.encap = min(r.encap, ns)
		ns, _ = perOp(sealF)
		r.rawSeal = min(r.rawSeal, ns)
		ns, a2 := perOp(decapF)
		r.decap = min(r.decap, ns)
		ns, _ = perOp(openF)
		r.rawOpen = min(r.rawOpen, ns)
		r.allocs = a1 + a2
	}
	if derr != esp.DropNone {
		return r, fmt.Errorf("decap: %v", derr)
	}
	return r, oerr
}

// rawCrypto is the standard-library anchor for one suite.
type rawCrypto struct {
	aead   cipher.AEAD
	nonce  []byte
	encCBC cipher.BlockMode
	decCBC cipher.BlockMode
	mac    hash.Hash
	icvLen int
	sum    []byte
}

func newRaw(s xform.Suite, enc, integ []byte) (*rawCrypto, error) {
	r := &rawCrypto{nonce: make([]byte, 12), sum: make([]byte, 0, 64)}
	var err error
	switch s.Encr {
	case xform.EncrAESGCM16:
		b, err := aes.NewCipher(enc[:len(enc)-4])
		if err != nil {
			return nil, err
		}
		r.aead, err = cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		return r, nil
	case xform.EncrChaCha20Poly1305:
		r.aead, err = chacha20poly1305.New(enc[:32])
		return r, err
	}
	var b cipher.Block
	switch s.Encr {
	case xform.EncrAESCBC:
		b, err = aes.NewCipher(enc)
	case xform.EncrDES:
		b, err = des.NewCipher(enc)
	case xform.Encr3DES:
		b, err = des.NewTripleDESCipher(enc)
	}
	if err != nil {
		return nil, err
	}
	if b != nil {
		iv := make([]byte, b.BlockSize())
		r.encCBC, r.decCBC = cipher.NewCBCEncrypter(b, iv), cipher.NewCBCDecrypter(b, iv)
	}
	var h func() hash.Hash
	switch s.Integ {
	case xform.IntegHMACMD596:
		h, r.icvLen = md5.New, 12
	case xform.IntegHMACSHA196:
		h, r.icvLen = sha1.New, 12
	case xform.IntegHMACSHA256128:
		h, r.icvLen = sha256.New, 16
	case xform.IntegHMACSHA384192:
		h, r.icvLen = sha512.New384, 24
	case xform.IntegHMACSHA512256:
		h, r.icvLen = sha512.New, 32
	}
	r.mac = hmac.New(h, integ)
	return r, nil
}

// seal: ESP header+IV in p[:8+iv], body next, then the tag.
func (r *rawCrypto) seal(p []byte, iv, body int) {
	b := p[8+iv : 8+iv+body]
	if r.aead != nil {
		r.aead.Seal(b[:0], r.nonce, b, p[:8])
		return
	}
	if r.encCBC != nil {
		r.encCBC.CryptBlocks(b, b)
	}
	r.mac.Reset()
	r.mac.Write(p[:8+iv+body])
	r.sum = r.mac.Sum(r.sum[:0])
	copy(p[8+iv+body:], r.sum[:r.icvLen])
}

func (r *rawCrypto) open(p []byte, iv, body int) error {
	if r.aead != nil {
		b := p[8+iv : 8+iv+body+16]
		_, err := r.aead.Open(b[:0], r.nonce, b, p[:8])
		return err
	}
	r.mac.Reset()
	r.mac.Write(p[:8+iv+body])
	r.sum = r.mac.Sum(r.sum[:0])
	if !hmac.Equal(r.sum[:r.icvLen], p[8+iv+body:8+iv+body+r.icvLen]) {
		return fmt.Errorf("raw open: bad MAC")
	}
	if r.decCBC != nil {
		b := p[8+iv : 8+iv+body]
		r.decCBC.CryptBlocks(b, b)
	}
	return nil
}
