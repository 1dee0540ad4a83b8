package xform

// AES key expansion (FIPS-197 §5.2) and the round keys of the Equivalent
// Inverse Cipher (FIPS-197 §5.3.5), laid out as the AES-NI instructions
// consume them: round key r is 16 bytes in FIPS byte order. The assembly in
// aes_amd64.s uses these; expanding in Go keeps the assembly to the two
// loops that matter for speed.

// aesSbox is the AES S-box (FIPS-197 Figure 7), computed by aesMakeSbox.
var aesSbox = aesMakeSbox()

// aesMakeSbox derives the S-box from its definition: the multiplicative
// inverse in GF(2^8) followed by the affine transform (FIPS-197 §5.1.1).
// p walks the field by multiplication by 3 (a generator) and q by its
// inverse, so q = p^-1 at every step.
func aesMakeSbox() (s [256]byte) {
	rotl := func(x byte, n uint) byte { return x<<n | x>>(8-n) }
	p, q := byte(1), byte(1)
	for {
		p ^= p<<1 ^ aesXtimeMask(p)
		q ^= q << 1
		q ^= q << 2
		q ^= q << 4
		if q&0x80 != 0 {
			q ^= 0x09
		}
		s[p] = q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63
		if p == 1 {
			break
		}
	}
	s[0] = 0x63
	return s
}

// aesXtimeMask is the reduction term of multiplying x by 2 in GF(2^8).
func aesXtimeMask(x byte) byte {
	if x&0x80 != 0 {
		return 0x1b
	}
	return 0
}

func aesXtime(x byte) byte { return x<<1 ^ aesXtimeMask(x) }

// aesMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 (FIPS-197 §4.2).
func aesMul(a, b byte) (r byte) {
	for b != 0 {
		if b&1 != 0 {
			r ^= a
		}
		a = aesXtime(a)
		b >>= 1
	}
	return r
}

// aesMaxRounds is Nr for AES-256.
const aesMaxRounds = 14

// aesSchedule holds the expanded encryption and decryption keys.
type aesSchedule struct {
	rounds int
	enc    [aesMaxRounds + 1][16]byte
	dec    [aesMaxRounds + 1][16]byte
}

// expandAESKey runs FIPS-197 KeyExpansion for a 16-, 24- or 32-byte key
// and derives the Equivalent Inverse Cipher keys: reversed order, with
// InvMixColumns applied to all but the first and last (§5.3.5), which is
// the form AESDEC expects.
func expandAESKey(key []byte) *aesSchedule {
	nk := len(key) / 4
	ks := &aesSchedule{rounds: nk + 6}
	nw := 4 * (ks.rounds + 1)
	var w [4 * (aesMaxRounds + 1)][4]byte
	for i := 0; i < nk; i++ {
		copy(w[i][:], key[4*i:])
	}
	rcon := byte(1)
	for i := nk; i < nw; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = [4]byte{aesSbox[t[1]] ^ rcon, aesSbox[t[2]], aesSbox[t[3]], aesSbox[t[0]]}
			rcon = aesXtime(rcon)
		case nk > 6 && i%nk == 4:
			t = [4]byte{aesSbox[t[0]], aesSbox[t[1]], aesSbox[t[2]], aesSbox[t[3]]}
		}
		for j := range t {
			w[i][j] = w[i-nk][j] ^ t[j]
		}
	}
	for r := 0; r <= ks.rounds; r++ {
		for c := 0; c < 4; c++ {
			copy(ks.enc[r][4*c:], w[4*r+c][:])
		}
	}
	ks.dec[0] = ks.enc[ks.rounds]
	ks.dec[ks.rounds] = ks.enc[0]
	for r := 1; r < ks.rounds; r++ {
		ks.dec[r] = aesInvMixColumns(ks.enc[ks.rounds-r])
	}
	return ks
}

// aesInvMixColumns applies InvMixColumns (FIPS-197 §5.3.3) to each of the
// four 4-byte columns.
func aesInvMixColumns(in [16]byte) (out [16]byte) {
	for c := 0; c < 16; c += 4 {
		a0, a1, a2, a3 := in[c], in[c+1], in[c+2], in[c+3]
		out[c] = aesMul(a0, 14) ^ aesMul(a1, 11) ^ aesMul(a2, 13) ^ aesMul(a3, 9)
		out[c+1] = aesMul(a0, 9) ^ aesMul(a1, 14) ^ aesMul(a2, 11) ^ aesMul(a3, 13)
		out[c+2] = aesMul(a0, 13) ^ aesMul(a1, 9) ^ aesMul(a2, 14) ^ aesMul(a3, 11)
		out[c+3] = aesMul(a0, 11) ^ aesMul(a1, 13) ^ aesMul(a2, 9) ^ aesMul(a3, 14)
	}
	return out
}
