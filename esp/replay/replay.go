// Package replay implements the ESP anti-replay window (RFC 4303 §3.4.3)
// with the bitmap layout of RFC 6479 and 64-bit Extended Sequence Numbers
// (RFC 4303 §2.2.1, Appendix A).
//
// RFC 6479 keeps the window as a ring of 64-bit blocks plus one spare
// block, so advancing the window clears whole blocks instead of shifting
// the entire bitmap: the cost of a large jump is bounded by the ring size
// and an in-window packet touches one word. Large windows matter here
// because the data plane decrypts in parallel and so accepts packets out
// of order.
//
// The data plane calls Check before verifying the ICV, to drop obvious
// replays without spending crypto on them, and Accept after the ICV has
// verified: only authenticated packets may move the window (RFC 4303
// §3.4.3), and Accept re-checks because another goroutine may have
// accepted the same number in between.
package replay

import "sync"

const (
	// DefaultSize is the window size when none is configured. RFC 4303
	// §3.4.3 asks for at least 32 (64 recommended); parallel decryption
	// reorders far more than a link does.
	DefaultSize = 1024
	// MaxSize bounds the configured window (8 KiB of bitmap).
	MaxSize = 1 << 16

	blockBits = 64
)

// Window is one inbound SA's anti-replay state. It is safe for concurrent
// use. A sync.Mutex guards it: the critical sections are a few
// instructions against microseconds of decryption per packet, so the lock
// is uncontended in practice, and a lock keeps the top and the bitmap
// consistent, which a lock-free version would have to prove separately.
type Window struct {
	mu   sync.Mutex
	size uint64   // window width W in sequence numbers, a multiple of 64
	esn  bool     // 64-bit sequence numbers (RFC 4303 §2.2.1)
	top  uint64   // highest accepted sequence number; 0 before the first
	ring []uint64 // bit (s mod 64) of block (s/64 mod len) marks s as seen; guarded by mu
}

// New returns an empty window of size sequence numbers (0 means
// DefaultSize), rounded up to a multiple of 64 and capped at MaxSize. esn
// selects 64-bit sequence numbers.
func New(size int, esn bool) *Window {
	if size <= 0 {
		size = DefaultSize
	}
	size = min((size+blockBits-1)/blockBits*blockBits, MaxSize)
	// The window spans size/64+1 blocks when it is not block-aligned;
	// a power-of-two ring lets the block index be a mask.
	n := 1
	for n < size/blockBits+1 {
		n <<= 1
	}
	return &Window{size: uint64(size), esn: esn, ring: make([]uint64, n)}
}

// Size returns the window width in sequence numbers.
func (w *Window) Size() int { return int(w.size) }

// Infer returns the full sequence number of a packet that carries only the
// low 32 bits seqLo: with ESN, the high half is chosen so the number lies
// in or above the window (RFC 4303 Appendix A2.1); without ESN it is seqLo.
// A result of 0 is never valid and is what Infer returns for a packet that
// would lie before sequence number 1; Check and Accept reject it.
func (w *Window) Infer(seqLo uint32) uint64 {
	if !w.esn {
		return uint64(seqLo)
	}
	w.mu.Lock()
	top := w.top
	w.mu.Unlock()
	th, tl := uint32(top>>32), uint32(top)
	bl := tl - uint32(w.size) + 1 // bottom of the window, mod 2^32
	seqHi := th
	if tl >= uint32(w.size)-1 {
		// Case A: the window lies within one 2^32 subspace. Below the
		// bottom means the counter wrapped into the next subspace.
		if seqLo < bl {
			seqHi++
		}
	} else if seqLo >= bl {
		// Case B: the window straddles a subspace boundary and seqLo
		// sits in its upper, older part.
		if th == 0 {
			return 0
		}
		seqHi--
	}
	return uint64(seqHi)<<32 | uint64(seqLo)
}

// Check reports whether seq could be accepted: it is not 0, not older than
// the window, and not already seen. It changes nothing.
func (w *Window) Check(seq uint64) bool {
	w.mu.Lock()
	ok := w.fresh(seq)
	w.mu.Unlock()
	return ok
}

// Accept marks seq as received and reports whether it was fresh. Call it
// only after the packet's ICV has verified. Of several concurrent Accepts
// of one number exactly one returns true.
func (w *Window) Accept(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fresh(seq) {
		return false
	}
	if seq > w.top {
		// Clear the blocks the window slides over (RFC 6479 §3): the
		// ones after the current top's block up to seq's block, at most
		// the whole ring.
		cur, next := w.top/blockBits, seq/blockBits
		mask := uint64(len(w.ring) - 1)
		for b, n := cur+1, 0; b <= next && n < len(w.ring); b, n = b+1, n+1 {
			w.ring[b&mask] = 0
		}
		w.top = seq
	}
	w.ring[(seq/blockBits)&uint64(len(w.ring)-1)] |= 1 << (seq % blockBits)
	return true
}

// fresh is Check without the lock.
func (w *Window) fresh(seq uint64) bool {
	if seq == 0 || (!w.esn && seq > 0xffffffff) {
		return false
	}
	if seq > w.top {
		return true
	}
	if w.top-seq >= w.size {
		return false
	}
	return w.ring[(seq/blockBits)&uint64(len(w.ring)-1)]&(1<<(seq%blockBits)) == 0
}
