package spialloc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

// TestConcurrentUnique: SPIs drawn at once by several goroutines (as by
// the IKEv1 and IKEv2 managers' SA goroutines) are all distinct and ≥ 256.
func TestConcurrentUnique(t *testing.T) {
	a := New(nil)
	const workers, each = 8, 500
	out := make(chan uint32, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				spi, err := a.Alloc()
				if err != nil {
					t.Error(err)
					return
				}
				out <- spi
			}
		}()
	}
	wg.Wait()
	close(out)
	seen := map[uint32]bool{}
	for spi := range out {
		if spi < MinSPI {
			t.Fatalf("reserved SPI %d handed out", spi)
		}
		if seen[spi] {
			t.Fatalf("SPI %#x handed out twice", spi)
		}
		seen[spi] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d SPIs, want %d", len(seen), workers*each)
	}
}

// seq is a random source that returns the given 32-bit values in turn.
func seq(vals ...uint32) *bytes.Reader {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return bytes.NewReader(b)
}

// TestReservedSkipped: draws below 256 (RFC 4303 §2.1) are skipped, and
// so is a draw already in use.
func TestReservedSkipped(t *testing.T) {
	a := New(seq(0, 1, 255, 256, 256, 0x12345678))
	if spi, err := a.Alloc(); err != nil || spi != 256 {
		t.Fatalf("Alloc = %d, %v; want 256", spi, err)
	}
	if spi, err := a.Alloc(); err != nil || spi != 0x12345678 {
		t.Fatalf("Alloc = %#x, %v; want 0x12345678 (256 is in use)", spi, err)
	}
	if !a.InUse(256) || !a.InUse(0x12345678) || a.InUse(255) {
		t.Fatal("InUse disagrees with the allocations")
	}
}

// TestFreeReuse: a freed SPI can be handed out again; one in use cannot.
func TestFreeReuse(t *testing.T) {
	a := New(seq(1000, 1000, 1000))
	if spi, err := a.Alloc(); err != nil || spi != 1000 {
		t.Fatalf("Alloc = %d, %v", spi, err)
	}
	a.Free(1000)
	if a.InUse(1000) {
		t.Fatal("freed SPI still in use")
	}
	if spi, err := a.Alloc(); err != nil || spi != 1000 {
		t.Fatalf("Alloc after Free = %d, %v; want 1000 again", spi, err)
	}
	// The third draw is 1000 again, in use: Alloc must not return it.
	if spi, err := a.Alloc(); err == nil {
		t.Fatalf("Alloc returned %d, in use", spi)
	}
}

// TestExhaustedSource: a failing random source is an error, not a spin.
func TestExhaustedSource(t *testing.T) {
	a := New(seq(7, 7, 7))
	if _, err := a.Alloc(); err == nil {
		t.Fatal("Alloc succeeded with only reserved draws and then EOF")
	}
	b := New(failing{})
	if _, err := b.Alloc(); !errors.Is(err, errFail) {
		t.Fatalf("err = %v, want the source's", err)
	}
}

var errFail = errors.New("boom")

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errFail }

// TestIKESPI: zero and taken draws are skipped.
func TestIKESPI(t *testing.T) {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b[8:], 42)
	binary.BigEndian.PutUint64(b[16:], 43)
	got := IKESPI(bytes.NewReader(b), func(spi uint64) bool { return spi == 42 })
	if got != 43 {
		t.Fatalf("IKESPI = %d, want 43 (0 and the taken 42 skipped)", got)
	}
}
