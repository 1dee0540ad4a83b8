// Package spialloc allocates inbound ESP SPIs. The gateway runs one ESP
// engine whose inbound table is keyed by SPI alone (RFC 4303 §2.1: the
// receiver chooses the SPI so that it identifies the SA), while both IKE
// negotiators (ike/v1 and ike/v2) choose SPIs for it; they must therefore
// draw from one Allocator, or an IKEv1 and an IKEv2 CHILD_SA could receive
// the same SPI and one would take over the other's traffic.
package spialloc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// MinSPI is the lowest SPI handed out: values 1–255 are reserved by IANA
// and 0 is for local use (RFC 4303 §2.1).
const MinSPI = 256

// tries bounds the draws of one Alloc, so a broken random source or an
// (implausibly) full space fails instead of spinning.
const tries = 64

// Allocator hands out unique inbound ESP SPIs. It is safe for concurrent
// use by several managers.
type Allocator struct {
	rand io.Reader

	mu    sync.Mutex
	inUse map[uint32]struct{}
}

// New returns an Allocator drawing from r (crypto/rand.Reader when nil).
func New(r io.Reader) *Allocator {
	if r == nil {
		r = rand.Reader
	}
	return &Allocator{rand: r, inUse: map[uint32]struct{}{}}
}

// Alloc returns a random SPI ≥ MinSPI that is not in use and marks it
// used until Free.
func (a *Allocator) Alloc() (uint32, error) {
	var b [4]byte
	for range tries {
		a.mu.Lock()
		_, err := io.ReadFull(a.rand, b[:])
		a.mu.Unlock()
		if err != nil {
			return 0, err
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi < MinSPI {
			continue
		}
		a.mu.Lock()
		_, used := a.inUse[spi]
		if !used {
			a.inUse[spi] = struct{}{}
		}
		a.mu.Unlock()
		if !used {
			return spi, nil
		}
	}
	return 0, errors.New("spialloc: cannot allocate an ESP SPI")
}

// Free returns spi to the pool; freeing an SPI not in use does nothing.
func (a *Allocator) Free(spi uint32) {
	a.mu.Lock()
	delete(a.inUse, spi)
	a.mu.Unlock()
}

// InUse reports whether spi is currently allocated.
func (a *Allocator) InUse(spi uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.inUse[spi]
	return ok
}

// IKESPI returns a random non-zero 64-bit IKE SPI (an ISAKMP cookie in
// IKEv1, RFC 2408 §2.5.3; RFC 7296 §2.6) that taken reports free. Unlike
// ESP SPIs these are chosen per manager: an IKE datagram's major version
// already tells which manager it is for. taken is called without any lock
// of the allocator's and must do its own locking.
func IKESPI(r io.Reader, taken func(uint64) bool) uint64 {
	var b [8]byte
	for {
		io.ReadFull(r, b[:])
		if spi := binary.BigEndian.Uint64(b[:]); spi != 0 && !taken(spi) {
			return spi
		}
	}
}
