package ikecrypto

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"hash"
	"net/netip"
)

// IKEv1 key derivation and authentication (RFC 2409 §5, §5.5, Appendix B),
// NAT-D (RFC 3947 §3.2) and the CBC chaining of IKEv1 messages. All values
// are computed with the PRF negotiated in phase 1: the HMAC of the
// negotiated hash algorithm (RFC 2409 §4: "the HMAC version of the
// negotiated hash algorithm is used as a default prf").

// V1Keys are the secrets of an ISAKMP SA (RFC 2409 §5).
type V1Keys struct {
	SKEYID Key // prf(pre-shared-key, Ni_b | Nr_b)
	D      Key // SKEYID_d: derives phase 2 keying material
	A      Key // SKEYID_a: authenticates phase 2 and informational messages
	E      Key // SKEYID_e: source of the phase 1 encryption key
	Enc    Key // the cipher key, expanded from SKEYID_e (Appendix B)
}

// V1SKEYIDPSK computes SKEYID for pre-shared key authentication
// (RFC 2409 §5): SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
func V1SKEYIDPSK(p PRF, psk, ni, nr []byte) Key {
	k := make([]byte, 0, len(ni)+len(nr))
	k = append(append(k, ni...), nr...)
	return p.Sum(psk, k)
}

// V1DeriveKeys computes SKEYID_d, _a and _e from SKEYID and g^xy, then the
// encryption key of encKeyLen bytes (RFC 2409 §5):
//
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
func V1DeriveKeys(p PRF, skeyid Key, gxy []byte, ckyI, ckyR uint64, encKeyLen int) V1Keys {
	ck := appendUint64(appendUint64(nil, ckyI), ckyR)
	k := V1Keys{SKEYID: skeyid}
	k.D = p.Sum(skeyid, gxy, ck, []byte{0})
	k.A = p.Sum(skeyid, k.D, gxy, ck, []byte{1})
	k.E = p.Sum(skeyid, k.A, gxy, ck, []byte{2})
	k.Enc = V1ExpandKey(p, k.E, encKeyLen)
	return k
}

// V1ExpandKey derives an encryption key of n bytes from SKEYID_e (RFC 2409
// Appendix B): the first n bytes of SKEYID_e when it is long enough,
// otherwise of Ka = K1 | K2 | K3 ... with K1 = prf(SKEYID_e, 0) (a single
// zero octet) and Ki+1 = prf(SKEYID_e, Ki).
func V1ExpandKey(p PRF, skeyidE Key, n int) Key {
	if len(skeyidE) >= n {
		return append(Key(nil), skeyidE[:n]...)
	}
	out := make(Key, 0, n+p.Size())
	k := p.Sum(skeyidE, []byte{0})
	for {
		out = append(out, k...)
		if len(out) >= n {
			return out[:n]
		}
		k = p.Sum(skeyidE, k)
	}
}

// V1Phase1IV is the IV of the first encrypted phase 1 message (RFC 2409
// Appendix B): hash(g^xi | g^xr) truncated to the cipher block size.
func V1Phase1IV(h func() hash.Hash, gxi, gxr []byte, blockSize int) []byte {
	d := h()
	d.Write(gxi)
	d.Write(gxr)
	return d.Sum(nil)[:blockSize]
}

// V1Phase2IV is the first IV of a Quick Mode or Informational exchange with
// message ID mid (RFC 2409 Appendix B): hash(last phase 1 CBC output block
// | M-ID) truncated to the block size. lastBlock is the IV left by the last
// phase 1 message.
func V1Phase2IV(h func() hash.Hash, lastBlock []byte, mid uint32, blockSize int) []byte {
	d := h()
	d.Write(lastBlock)
	d.Write(binary.BigEndian.AppendUint32(nil, mid))
	return d.Sum(nil)[:blockSize]
}

// V1HashI computes HASH_I (RFC 2409 §5):
//
//	HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
//
// SAi_b is the initiator's SA payload body as sent and IDii_b the
// initiator's ID payload body, both without generic header.
func V1HashI(p PRF, skeyid Key, gxi, gxr []byte, ckyI, ckyR uint64, saiB, idiiB []byte) []byte {
	return p.Sum(skeyid, gxi, gxr, appendUint64(appendUint64(nil, ckyI), ckyR), saiB, idiiB)
}

// V1HashR computes HASH_R (RFC 2409 §5):
//
//	HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
func V1HashR(p PRF, skeyid Key, gxi, gxr []byte, ckyI, ckyR uint64, saiB, idirB []byte) []byte {
	return p.Sum(skeyid, gxr, gxi, appendUint64(appendUint64(nil, ckyR), ckyI), saiB, idirB)
}

// V1Hash1 computes HASH(1) of Quick Mode and of an Informational exchange
// (RFC 2409 §5.5, §5.7): prf(SKEYID_a, M-ID | payloads after HASH).
func V1Hash1(p PRF, skeyidA Key, mid uint32, rest []byte) []byte {
	return p.Sum(skeyidA, binary.BigEndian.AppendUint32(nil, mid), rest)
}

// V1Hash2 computes HASH(2) of Quick Mode (RFC 2409 §5.5):
// prf(SKEYID_a, M-ID | Ni_b | payloads after HASH).
func V1Hash2(p PRF, skeyidA Key, mid uint32, niB, rest []byte) []byte {
	return p.Sum(skeyidA, binary.BigEndian.AppendUint32(nil, mid), niB, rest)
}

// V1Hash3 computes HASH(3) of Quick Mode (RFC 2409 §5.5):
// prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
func V1Hash3(p PRF, skeyidA Key, mid uint32, niB, nrB []byte) []byte {
	return p.Sum(skeyidA, []byte{0}, binary.BigEndian.AppendUint32(nil, mid), niB, nrB)
}

// V1KeyMat computes n bytes of Quick Mode keying material for the SA with
// the given SPI (the SPI its receiver chose) and protocol (RFC 2409 §5.5):
//
//	KEYMAT = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//
// expanded as K1 | K2 | ... with K1 = KEYMAT and
// Ki+1 = prf(SKEYID_d, Ki | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b).
// gxy is nil without PFS.
func V1KeyMat(p PRF, skeyidD Key, gxy []byte, protocol uint8, spi uint32, niB, nrB []byte, n int) Key {
	seed := make([]byte, 0, len(gxy)+5+len(niB)+len(nrB))
	seed = append(seed, gxy...)
	seed = append(seed, protocol)
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(append(seed, niB...), nrB...)
	out := make(Key, 0, n+p.Size())
	var k []byte
	for len(out) < n {
		k = p.Sum(skeyidD, k, seed)
		out = append(out, k...)
	}
	return out[:n]
}

// V1NATD computes a NAT-D hash (RFC 3947 §3.2) with the negotiated hash
// algorithm: HASH(CKY-I | CKY-R | IP | Port).
func V1NATD(h func() hash.Hash, ckyI, ckyR uint64, ap netip.AddrPort) []byte {
	d := h()
	d.Write(appendUint64(appendUint64(nil, ckyI), ckyR))
	d.Write(ap.Addr().Unmap().AsSlice())
	d.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return d.Sum(nil)
}

// ErrV1Ciphertext reports an IKEv1 ciphertext that is not a whole number of
// cipher blocks.
var ErrV1Ciphertext = errors.New("ikecrypto: IKEv1 ciphertext is not a multiple of the block size")

// V1Encrypt pads plaintext with zero octets to the block size (RFC 2409
// Appendix B) and encrypts it in CBC mode with iv. It returns the
// ciphertext and the IV of the next message in the same chain: the last
// ciphertext block.
func V1Encrypt(b cipher.Block, iv, plaintext []byte) (ct, next []byte) {
	bs := b.BlockSize()
	n := (len(plaintext) + bs - 1) / bs * bs
	if n == 0 {
		n = bs
	}
	ct = make([]byte, n)
	copy(ct, plaintext)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, ct)
	return ct, append([]byte(nil), ct[n-bs:]...)
}

// V1Decrypt decrypts an IKEv1 CBC ciphertext with iv and returns the
// padded plaintext and the IV of the next message in the chain.
func V1Decrypt(b cipher.Block, iv, ct []byte) (pt, next []byte, err error) {
	bs := b.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 || len(iv) != bs {
		return nil, nil, ErrV1Ciphertext
	}
	pt = make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(pt, ct)
	return pt, append([]byte(nil), ct[len(ct)-bs:]...), nil
}
