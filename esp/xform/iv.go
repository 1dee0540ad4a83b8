package xform

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// ivGen produces CBC IVs.
//
// RFC 3602 §3 (and RFC 2451 §2.3) require the IV to be unpredictable to an
// attacker: with a predictable IV, an attacker who can inject plaintext
// (the gateway encrypts whatever the protected network sends) can confirm
// guesses about earlier blocks (the chosen-plaintext attack behind BEAST).
// Reading crypto/rand per packet costs a system call or a locked DRBG per
// packet, so instead each SA draws, once, a random AES-128 key K, and the
// IV of a packet is
//
//	IV = AES_K(lane ‖ i)     (truncated to 8 bytes for DES/3DES)
//
// where (lane, i) is never repeated under one K: lane is a 64-bit number
// handed out once to each per-goroutine scratch state (macState) by an
// atomic counter, and i is that state's own 64-bit packet counter. AES under
// a secret key is a pseudorandom permutation, so the IVs are
// indistinguishable from random to anyone without K, and distinct inputs
// give distinct IVs. K is independent of the ESP keys and never leaves this
// struct. This is the "encrypt a counter" method NIST SP 800-38A Appendix C
// recommends for CBC IVs; the lanes keep concurrent Seals from contending
// on one shared counter.
type ivGen struct {
	b     cipher.Block
	lanes atomic.Uint64
}

func newIVGen(rnd io.Reader) (*ivGen, error) {
	var key [16]byte
	if _, err := io.ReadFull(rnd, key[:]); err != nil {
		return nil, fmt.Errorf("iv generator seed: %w", err)
	}
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return &ivGen{b: b}, nil
}

// next fills iv (at most 16 bytes) from st's lane and counter, using st's
// scratch block: heap memory, so passing it through the cipher.Block
// interface does not allocate per packet. st must not be in concurrent use.
func (g *ivGen) next(iv []byte, st *macState) {
	if st.ivLane == 0 {
		st.ivLane = g.lanes.Add(1)
	}
	st.ivCtr++
	binary.BigEndian.PutUint64(st.blk[:8], st.ivLane)
	binary.BigEndian.PutUint64(st.blk[8:], st.ivCtr)
	g.b.Encrypt(st.blk[:], st.blk[:])
	copy(iv, st.blk[:])
}
