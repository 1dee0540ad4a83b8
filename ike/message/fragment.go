package message

import "fmt"

// Default limits of a Reassembly: a reassembled IKE message cannot exceed
// what its 4-octet length could describe, but a peer should not make us hold
// more than a UDP datagram's worth (RFC 7383 §2.6 leaves the limit to the
// implementation).
const (
	DefaultMaxFragments  = 128
	DefaultMaxReassembly = 64 << 10
)

// Reassembly collects the decrypted fragments of one fragmented message
// (RFC 7383 §2.6). Each fragment is authenticated and decrypted on its own
// before Add; the caller keeps one Reassembly per message ID and exchange.
// The zero value is ready to use.
type Reassembly struct {
	// MaxFragments caps Total Fragments (0: DefaultMaxFragments).
	MaxFragments int
	// MaxBytes caps the reassembled plaintext (0: DefaultMaxReassembly).
	MaxBytes int

	total uint16
	first PayloadType
	parts [][]byte
	have  int
	size  int
}

// Add stores the plaintext of fragment f. It reports done once every
// fragment 1..Total is present. Duplicates are ignored. Following RFC 7383
// §2.6.2, a fragment announcing more fragments than the ones held restarts
// the reassembly (the sender re-fragmented with a smaller size after PMTU
// trouble), and one announcing fewer is ignored. plaintext is copied.
func (r *Reassembly) Add(f *EncryptedFragment, plaintext []byte) (done bool, err error) {
	if err := f.check(); err != nil {
		return false, err
	}
	maxFrags, maxBytes := r.MaxFragments, r.MaxBytes
	if maxFrags == 0 {
		maxFrags = DefaultMaxFragments
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxReassembly
	}
	if int(f.Total) > maxFrags {
		return false, fmt.Errorf("message: %d fragments exceed the limit of %d", f.Total, maxFrags)
	}
	switch {
	case r.total == 0 || f.Total > r.total:
		*r = Reassembly{MaxFragments: r.MaxFragments, MaxBytes: r.MaxBytes, total: f.Total, parts: make([][]byte, f.Total)}
	case f.Total < r.total:
		return false, nil
	}
	i := int(f.Number) - 1
	if r.parts[i] != nil {
		return r.have == int(r.total), nil
	}
	if r.size+len(plaintext) > maxBytes {
		return false, fmt.Errorf("message: reassembled message exceeds %d bytes", maxBytes)
	}
	r.parts[i] = append(make([]byte, 0, len(plaintext)+1), plaintext...)
	if f.Number == 1 {
		r.first = f.NextPayload
	}
	r.have++
	r.size += len(plaintext)
	return r.have == int(r.total), nil
}

// Plaintext returns the first inner payload type (from fragment 1) and the
// concatenated plaintext. It is valid once Add reported done.
func (r *Reassembly) Plaintext() (PayloadType, []byte, error) {
	if r.total == 0 || r.have != int(r.total) {
		return PayloadNone, nil, fmt.Errorf("message: reassembly incomplete (%d of %d fragments)", r.have, r.total)
	}
	b := make([]byte, 0, r.size)
	for _, p := range r.parts {
		b = append(b, p...)
	}
	return r.first, b, nil
}

// Payloads parses the reassembled inner chain (see ParsePayloads).
func (r *Reassembly) Payloads() ([]Payload, error) {
	first, b, err := r.Plaintext()
	if err != nil {
		return nil, err
	}
	return ParsePayloads(first, b)
}

// Total returns the announced number of fragments (0 before the first Add).
func (r *Reassembly) Total() int { return int(r.total) }

// Received returns how many distinct fragments are held.
func (r *Reassembly) Received() int { return r.have }
