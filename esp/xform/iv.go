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
// packet, so instead each SA draws, once, a random AES-128 key K and a
// random 64-bit prefix P, and the IV of packet i is
//
//	IV_i = AES_K(P ‖ i)     (truncated to 8 bytes for DES/3DES)
//
// with i a 64-bit atomic counter. AES under a secret key is a
// pseudorandom permutation, so the IVs are indistinguishable from random to
// anyone without K, and distinct inputs give distinct IVs. K is independent
// of the ESP keys and never leaves this struct. This is the "encrypt a
// counter" construction NIST SP 800-38A Appendix C recommends for CBC IVs.
type ivGen struct {
	b      cipher.Block
	prefix [8]byte
	ctr    atomic.Uint64
}

func newIVGen(rnd io.Reader) (*ivGen, error) {
	var seed [16 + 8]byte
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, fmt.Errorf("iv generator seed: %w", err)
	}
	b, err := aes.NewCipher(seed[:16])
	if err != nil {
		return nil, err
	}
	g := &ivGen{b: b}
	copy(g.prefix[:], seed[16:])
	return g, nil
}

// next fills iv (at most 16 bytes) using scratch as working space; scratch
// is heap memory from the caller's pool so the interface call does not
// force a per-packet allocation.
func (g *ivGen) next(iv []byte, scratch *[16]byte) {
	copy(scratch[:8], g.prefix[:])
	binary.BigEndian.PutUint64(scratch[8:], g.ctr.Add(1))
	g.b.Encrypt(scratch[:], scratch[:])
	copy(iv, scratch[:])
}
