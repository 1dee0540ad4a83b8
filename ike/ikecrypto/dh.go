package ikecrypto

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// GroupID is an IKEv2 Diffie-Hellman group number (IANA "Transform Type 4";
// the same numbers as IKEv1's group description attribute).
type GroupID uint16

// Diffie-Hellman groups supported.
const (
	GroupNone  GroupID = 0
	MODP768    GroupID = 1  // RFC 2409 §6.1, "group1"
	MODP1024   GroupID = 2  // RFC 2409 §6.2, "group2"
	MODP1536   GroupID = 5  // RFC 3526 §2, "group5"
	MODP2048   GroupID = 14 // RFC 3526 §3, "group14"
	ECP256     GroupID = 19 // RFC 5903
	ECP384     GroupID = 20
	ECP521     GroupID = 21
	Curve25519 GroupID = 31 // RFC 8031
	maxGroupID         = 0xffff
)

func (g GroupID) String() string {
	switch g {
	case GroupNone:
		return "NONE"
	case MODP768:
		return "MODP_768"
	case MODP1024:
		return "MODP_1024"
	case MODP1536:
		return "MODP_1536"
	case MODP2048:
		return "MODP_2048"
	case ECP256:
		return "ECP_256"
	case ECP384:
		return "ECP_384"
	case ECP521:
		return "ECP_521"
	case Curve25519:
		return "CURVE_25519"
	}
	return fmt.Sprintf("DH(%d)", uint16(g))
}

// The MODP primes. Each is 2^n - 2^(n-64) - 1 + 2^64 * ([2^(n-130) π] + k)
// with generator 2; dh_test.go recomputes them from π.
const (
	modp768Hex  = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF"
	modp1024Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	modp1536Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
	modp2048Hex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ikecrypto: bad prime constant")
	}
	return n
}

var modpPrimes = map[GroupID]*big.Int{
	MODP768:  mustHex(modp768Hex),
	MODP1024: mustHex(modp1024Hex),
	MODP1536: mustHex(modp1536Hex),
	MODP2048: mustHex(modp2048Hex),
}

// Errors of public-value checks.
var (
	ErrBadPublic = errors.New("ikecrypto: invalid Diffie-Hellman public value")
)

// Group is a Diffie-Hellman group.
type Group struct {
	id    GroupID
	p     *big.Int   // MODP only
	curve ecdh.Curve // ECP and Curve25519
	plen  int        // public value length on the wire
}

// NewGroup returns the group for the IANA number.
func NewGroup(id GroupID) (*Group, error) {
	if p, ok := modpPrimes[id]; ok {
		return &Group{id: id, p: p, plen: (p.BitLen() + 7) / 8}, nil
	}
	switch id {
	case ECP256:
		return &Group{id: id, curve: ecdh.P256(), plen: 64}, nil
	case ECP384:
		return &Group{id: id, curve: ecdh.P384(), plen: 96}, nil
	case ECP521:
		return &Group{id: id, curve: ecdh.P521(), plen: 132}, nil
	case Curve25519:
		return &Group{id: id, curve: ecdh.X25519(), plen: 32}, nil
	}
	return nil, fmt.Errorf("ikecrypto: unsupported DH group %v", id)
}

// ID is the group's number.
func (g *Group) ID() GroupID { return g.id }

// PublicLen is the exact length of a public value of the group (RFC 7296
// §3.4, RFC 5903 §7, RFC 8031 §2).
func (g *Group) PublicLen() int { return g.plen }

// PrivateKey is one side's ephemeral DH secret.
type PrivateKey struct {
	g   *Group
	x   *big.Int // MODP
	ec  *ecdh.PrivateKey
	pub []byte
}

// modpExpBits is the private exponent size for MODP groups: twice the
// strength of the largest group supported here, so no group is weakened
// (RFC 3526 §8 estimates 2048-bit MODP at ~110 bits of strength).
const modpExpBits = 512

// GenerateKey creates a private key and its public value.
func (g *Group) GenerateKey(rand io.Reader) (*PrivateKey, error) {
	k := &PrivateKey{g: g}
	if g.p != nil {
		buf := make([]byte, modpExpBits/8)
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("ikecrypto: dh key: %w", err)
		}
		buf[0] |= 0x80 // full-size exponent
		k.x = new(big.Int).SetBytes(buf)
		y := new(big.Int).Exp(big.NewInt(2), k.x, g.p)
		k.pub = y.FillBytes(make([]byte, g.plen))
		return k, nil
	}
	ec, err := g.curve.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("ikecrypto: dh key: %w", err)
	}
	k.ec = ec
	pub := ec.PublicKey().Bytes()
	if g.id != Curve25519 {
		pub = pub[1:] // RFC 5903 §7: x | y without the 0x04 point format octet
	}
	k.pub = pub
	return k, nil
}

// Group is the key's group.
func (k *PrivateKey) Group() *Group { return k.g }

// Public is the public value as carried in a KE payload.
func (k *PrivateKey) Public() []byte { return k.pub }

// SharedSecret computes g^ir from the peer's public value after checking
// it: for MODP 1 < y < p-1 (RFC 6989 §2.1), for ECP a point on the curve,
// for Curve25519 a non-zero result (RFC 8031 §2).
func (k *PrivateKey) SharedSecret(peer []byte) ([]byte, error) {
	g := k.g
	if len(peer) != g.plen {
		return nil, fmt.Errorf("%w: length %d, group %v wants %d", ErrBadPublic, len(peer), g.id, g.plen)
	}
	if g.p != nil {
		y := new(big.Int).SetBytes(peer)
		pm1 := new(big.Int).Sub(g.p, big.NewInt(1))
		if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
			return nil, ErrBadPublic
		}
		z := new(big.Int).Exp(y, k.x, g.p)
		// RFC 7296 §2.14: g^ir padded with zeros to the modulus length.
		return z.FillBytes(make([]byte, g.plen)), nil
	}
	raw := peer
	if g.id != Curve25519 {
		raw = append([]byte{4}, peer...)
	}
	pub, err := g.curve.NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
	}
	z, err := k.ec.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
	}
	return z, nil
}
