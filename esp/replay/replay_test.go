package replay

import (
	"sync"
	"sync/atomic"
	"testing"
)

// accept runs the data plane's two calls for one packet.
func accept(w *Window, seq uint64) bool { return w.Check(seq) && w.Accept(seq) }

func TestSizeRounding(t *testing.T) {
	for in, want := range map[int]int{0: 1024, -5: 1024, 1: 64, 64: 64, 65: 128, 1000: 1024, 4096: 4096, 4097: 4160, 1 << 20: MaxSize} {
		if got := New(in, false).Size(); got != want {
			t.Errorf("New(%d).Size() = %d, want %d", in, got, want)
		}
	}
}

func TestInOrderAndDuplicates(t *testing.T) {
	w := New(64, false)
	if accept(w, 0) {
		t.Fatal("sequence number 0 accepted")
	}
	for s := uint64(1); s <= 1000; s++ {
		if !accept(w, s) {
			t.Fatalf("in-order %d rejected", s)
		}
		if w.Check(s) || w.Accept(s) {
			t.Fatalf("duplicate %d accepted", s)
		}
	}
}

func TestReorderAndWindowEdge(t *testing.T) {
	const size = 128
	w := New(size, false)
	if !accept(w, 1000) {
		t.Fatal("first packet rejected")
	}
	// Everything in (1000-size, 1000) is fresh once, in any order.
	for s := uint64(1000 - size + 1); s < 1000; s += 2 {
		if !accept(w, s) {
			t.Fatalf("in-window %d rejected", s)
		}
	}
	for s := uint64(998); s > 1000-size; s -= 2 {
		if !accept(w, s) {
			t.Fatalf("in-window %d rejected", s)
		}
	}
	for s := uint64(1000 - size + 1); s <= 1000; s++ {
		if w.Check(s) {
			t.Fatalf("seen %d passes Check", s)
		}
	}
	// Exactly one below the window is too old.
	if w.Check(1000-size) || accept(w, 1000-size) {
		t.Fatal("packet at top-size accepted")
	}
	if accept(w, 1) {
		t.Fatal("very old packet accepted")
	}
}

// TestJumpClearsBits checks that sliding the window forgets old marks: a
// number that was seen long ago and then fell out of the window must stay
// rejected (too old), and numbers newly inside the window must be fresh
// although their ring slots held earlier marks.
func TestJumpClearsBits(t *testing.T) {
	w := New(256, false)
	seen := map[uint64]bool{}
	for s := uint64(1); s <= 300; s++ {
		accept(w, s)
		seen[s] = true
	}
	for _, jump := range []uint64{300 + 64, 300 + 1000, 300 + 100000} {
		if !accept(w, jump) {
			t.Fatalf("jump to %d rejected", jump)
		}
		seen[jump] = true
		for s := jump - 255; s < jump; s++ {
			if w.Check(s) == seen[s] {
				t.Fatalf("after jump to %d: Check(%d) = %v, seen %v", jump, s, w.Check(s), seen[s])
			}
		}
		if w.Check(jump - 256) {
			t.Fatalf("after jump to %d: %d below the window passes", jump, jump-256)
		}
		for s := jump - 255; s < jump; s++ {
			accept(w, s)
			seen[s] = true
		}
	}
}

func TestNonESNLimit(t *testing.T) {
	w := New(64, false)
	if accept(w, 1<<32) {
		t.Fatal("64-bit number accepted without ESN")
	}
	if !accept(w, 0xffffffff) {
		t.Fatal("2^32-1 rejected")
	}
	if got := w.Infer(5); got != 5 {
		t.Fatalf("Infer without ESN = %d", got)
	}
}

// TestInfer walks RFC 4303 Appendix A2.2's two cases.
func TestInfer(t *testing.T) {
	const W = 1024
	w := New(W, true)
	if got := w.Infer(1); got != 1 {
		t.Fatalf("fresh SA: Infer(1) = %#x", got)
	}
	if got := w.Infer(0xffffff00); got != 0 {
		t.Fatalf("fresh SA: Infer of a number before 1 = %#x, want 0", got)
	}
	// Case A: top in the middle of subspace 3.
	top := uint64(3)<<32 | 0x80000000
	accept(w, top)
	for lo, want := range map[uint32]uint64{
		0x80000000:         top,
		0x80000000 - W + 1: 3<<32 | (0x80000000 - W + 1),
		0x80000000 - W:     4<<32 | (0x80000000 - W), // below the window: next subspace
		0x90000000:         3<<32 | 0x90000000,
		5:                  4<<32 | 5,
	} {
		if got := w.Infer(lo); got != want {
			t.Errorf("case A: Infer(%#x) = %#x, want %#x", lo, got, want)
		}
	}
	// Case B: top just past a subspace boundary.
	w = New(W, true)
	top = uint64(4)<<32 | 10
	accept(w, top)
	for lo, want := range map[uint32]uint64{
		10:                    top,
		3:                     4<<32 | 3,
		11:                    4<<32 | 11,
		0xffffffff:            3<<32 | 0xffffffff,
		0xffffffff - (W - 12): 3<<32 | (0xffffffff - (W - 12)), // bottom of window
		0x7fffffff:            4<<32 | 0x7fffffff,
	} {
		if got := w.Infer(lo); got != want {
			t.Errorf("case B: Infer(%#x) = %#x, want %#x", lo, got, want)
		}
	}
}

// TestESNWrap sends a stream across the 2^32 boundary with reordering and
// feeds it through Infer, as the data plane does.
func TestESNWrap(t *testing.T) {
	w := New(128, true)
	start := uint64(1)<<32 - 200
	w.Accept(start)
	var order []uint64
	for s := start + 1; s < start+400; s += 4 {
		order = append(order, s+3, s+1, s, s+2) // reorder within the window
	}
	for _, s := range order {
		full := w.Infer(uint32(s))
		if full != s {
			t.Fatalf("Infer(%#x) = %#x, want %#x", uint32(s), full, s)
		}
		if !accept(w, full) {
			t.Fatalf("%#x rejected", s)
		}
		if accept(w, w.Infer(uint32(s))) {
			t.Fatalf("replay of %#x accepted", s)
		}
	}
}

// TestConcurrentAccept races many goroutines accepting the same numbers:
// each number must be won exactly once. Run with -race.
func TestConcurrentAccept(t *testing.T) {
	w := New(4096, true)
	const n = 2000
	var wins [n + 1]atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint64(1); s <= n; s++ {
				if w.Check(s) && w.Accept(s) {
					wins[s].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for s := 1; s <= n; s++ {
		if got := wins[s].Load(); got != 1 {
			t.Fatalf("sequence %d accepted %d times", s, got)
		}
	}
}

// model is the specification: a set of seen numbers and the highest one.
type model struct {
	size uint64
	top  uint64
	seen map[uint64]bool
}

func (m *model) accept(seq uint64) bool {
	if seq == 0 || m.seen[seq] || (seq <= m.top && m.top-seq >= m.size) {
		return false
	}
	m.seen[seq] = true
	m.top = max(m.top, seq)
	return true
}

// FuzzWindow compares Window with the map model on a byte-driven stream of
// steps forward, backward and jumps.
func FuzzWindow(f *testing.F) {
	f.Add(uint16(64), []byte{1, 2, 3, 0x81, 0x82, 0xff, 0x7f, 0x40, 0x40, 0xc0})
	f.Add(uint16(1024), []byte{0xff, 0xff, 0x01, 0x80, 0x10, 0x90, 0xa0, 0x00})
	f.Add(uint16(100), []byte{0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0xfe, 0xfd, 0xfc, 0x81})
	f.Fuzz(func(t *testing.T, size uint16, ops []byte) {
		w := New(int(size)%5000, true)
		m := &model{size: uint64(w.Size()), seen: map[uint64]bool{}}
		seq := uint64(1)
		for i, op := range ops {
			// Low 7 bits scaled, high bit selects direction; big steps
			// exercise whole-ring clears.
			d := uint64(op&0x7f) * uint64(1+i%37)
			if op&0x80 != 0 {
				seq = max(seq-min(seq, d), 0)
			} else {
				seq += d
			}
			if want, got := m.accept(seq), w.Check(seq) && w.Accept(seq); got != want {
				t.Fatalf("op %d: seq %d (top %d, size %d): got %v, model %v", i, seq, m.top, m.size, got, want)
			}
		}
	})
}

// BenchmarkAccept measures the data plane's per-packet cost: Infer, Check
// and Accept of an in-order stream, and of a stream reordered within the
// window.
func BenchmarkAccept(b *testing.B) {
	for _, reorder := range []bool{false, true} {
		name := "in-order"
		if reorder {
			name = "reordered"
		}
		b.Run(name, func(b *testing.B) {
			w := New(DefaultSize, true)
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				i++
				s := i
				if reorder {
					s ^= 7 // permute within blocks of eight
				}
				seq := w.Infer(uint32(s + 1))
				if w.Check(seq) {
					w.Accept(seq)
				}
			}
		})
	}
}
