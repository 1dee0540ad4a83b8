package xform

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"sync"
)

// integAlg describes one HMAC integrity transform: the HMAC key is the full
// digest size and the ICV is the digest truncated to icvLen bytes
// (RFC 2403 §2, RFC 2404 §2, RFC 4868 §2.1–2.3).
type integAlg struct {
	name   string
	newH   func() hash.Hash
	keyLen int
	icvLen int
}

// integAlgs is a constant table keyed by IKEv2 integrity transform ID.
var integAlgs = map[uint16]integAlg{
	IntegHMACMD596:     {"md5", md5.New, 16, 12},
	IntegHMACSHA196:    {"sha1", sha1.New, 20, 12},
	IntegHMACSHA256128: {"sha256", sha256.New, 32, 16},
	IntegHMACSHA384192: {"sha384", sha512.New384, 48, 24},
	IntegHMACSHA512256: {"sha512", sha512.New, 64, 32},
}

// macState is one goroutine's keyed HMAC and scratch space. HMAC state is
// mutable, so Transforms keep a sync.Pool of these instead of one shared
// instance: concurrent Seal/Open calls each take their own, and in steady
// state Get/Put allocate nothing.
type macState struct {
	h   hash.Hash
	sum [64]byte // HMAC output before truncation (largest: SHA-512)
	hi  [4]byte  // Seq high bits appended for ESN (RFC 4303 §3.3.2.1)
	blk [16]byte // CBC IV generator scratch (iv.go)

	// ivLane and ivCtr are this state's CBC IV counter (iv.go); the
	// lane is unique per state within one Transform, 0 until first use.
	ivLane, ivCtr uint64
}

// mac is a keyed HMAC integrity transform shared by the CBC and NULL
// transforms.
type mac struct {
	icvLen int
	pool   sync.Pool // of *macState
}

func newMAC(id uint16, key []byte) *mac {
	ia := integAlgs[id]
	m := &mac{icvLen: ia.icvLen}
	m.pool.New = func() any {
		st := &macState{h: hmac.New(ia.newH, key)}
		// The first Reset makes crypto/hmac save the keyed inner and
		// outer states, so later Resets restore them without hashing
		// the pads again and without allocating.
		st.h.Reset()
		return st
	}
	return m
}

func (m *mac) get() *macState   { return m.pool.Get().(*macState) }
func (m *mac) put(st *macState) { m.pool.Put(st) }

// compute returns the truncated ICV of data, followed for ESN by the
// implicit high-order 32 bits of the sequence number: RFC 4303 §3.3.2.1
// places them after the Next Header (or after any padding) for the ICV
// computation only; they are never transmitted. The result aliases st.
func (m *mac) compute(st *macState, data []byte, seqHi uint32, esn bool) []byte {
	st.h.Reset()
	st.h.Write(data)
	if esn {
		binary.BigEndian.PutUint32(st.hi[:], seqHi)
		st.h.Write(st.hi[:])
	}
	return st.h.Sum(st.sum[:0])[:m.icvLen]
}

// nullTransform is ESP with ENCR_NULL (RFC 2410) and an HMAC: integrity
// only. Used for debugging captures and in tests of the framing code.
type nullTransform struct {
	suite Suite
	mac   *mac
}

func newNull(s Suite, integKey []byte) *nullTransform {
	return &nullTransform{suite: s, mac: newMAC(s.Integ, integKey)}
}

func (t *nullTransform) Suite() Suite   { return t.suite }
func (t *nullTransform) IVLen() int     { return 0 }
func (t *nullTransform) ICVLen() int    { return t.mac.icvLen }
func (t *nullTransform) BlockSize() int { return 4 }

func (t *nullTransform) Seal(pkt []byte, seqHi uint32, esn bool) {
	n := len(pkt) - t.mac.icvLen
	if n < espHeaderLen+trailerLen {
		panic("xform: Seal: packet too short")
	}
	st := t.mac.get()
	copy(pkt[n:], t.mac.compute(st, pkt[:n], seqHi, esn))
	t.mac.put(st)
}

func (t *nullTransform) Open(pkt []byte, seqHi uint32, esn bool) ([]byte, error) {
	n := len(pkt) - t.mac.icvLen
	if n < espHeaderLen+trailerLen {
		return nil, ErrShort
	}
	st := t.mac.get()
	ok := hmac.Equal(t.mac.compute(st, pkt[:n], seqHi, esn), pkt[n:])
	t.mac.put(st)
	if !ok {
		return nil, ErrAuth
	}
	return pkt[espHeaderLen:n], nil
}

// ESP framing sizes (RFC 4303 §2).
const (
	espHeaderLen = 8 // SPI + Sequence Number
	trailerLen   = 2 // Pad Length + Next Header
)
