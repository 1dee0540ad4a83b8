//go:build amd64 && !purego

package xform

import (
	"crypto/aes"

	"golang.org/x/sys/cpu"
)

// useAESNI reports whether the CPU has the AES-NI instructions that
// aes_amd64.s needs. It is read-only after package initialisation.
var useAESNI = cpu.X86.HasAES

// newAESCBC returns AES-CBC with the AES-NI assembly when the CPU has it,
// else the portable path.
//
// Why assembly: CBC decryption P_i = D(C_i) ⊕ C_{i-1} has no dependency
// between blocks, yet Go's CBC decrypter calls the block cipher once per
// block, paying the full latency of the ten to fourteen dependent AESDEC
// rounds for every block. Interleaving eight independent blocks keeps the
// AES unit's pipeline full (throughput is about one AESDEC per cycle,
// latency several), which is how OpenSSL and Linux decrypt CBC too.
// Encryption is inherently serial; the assembly there only removes the
// per-block call overhead.
func newAESCBC(key []byte) (cbcMode, error) {
	if !useAESNI {
		return newAESCBCGeneric(key)
	}
	if l := len(key); l != 16 && l != 24 && l != 32 {
		return nil, aes.KeySizeError(l)
	}
	return (*aesniCBC)(expandAESKey(key)), nil
}

// aesniCBC is AES-CBC over the round keys of aeskey.go.
type aesniCBC aesSchedule

func (c *aesniCBC) encrypt(iv, buf []byte) {
	if n := len(buf) / 16; n > 0 {
		cbcEncAES(c.rounds, &c.enc[0][0], &iv[0], &buf[0], n)
	}
}

func (c *aesniCBC) decrypt(iv, buf []byte) {
	if n := len(buf) / 16; n > 0 {
		cbcDecAES(c.rounds, &c.dec[0][0], &iv[0], &buf[0], n)
	}
}

// cbcEncAES encrypts n blocks of buf in place in CBC mode with the
// encryption round keys rk (rounds+1 keys of 16 bytes) and the IV at iv.
//
//go:noescape
func cbcEncAES(rounds int, rk *byte, iv *byte, buf *byte, n int)

// cbcDecAES decrypts n blocks of buf in place in CBC mode with the
// Equivalent Inverse Cipher round keys rk, eight blocks at a time.
//
//go:noescape
func cbcDecAES(rounds int, rk *byte, iv *byte, buf *byte, n int)
