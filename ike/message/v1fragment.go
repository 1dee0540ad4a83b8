package message

import (
	"errors"
	"fmt"
)

// IKEv1 fragmentation (the Cisco scheme strongSwan implements, announced
// by VendorIDFragmentation): a whole encoded ISAKMP message, header
// included, is cut into pieces; each piece travels in a FragmentV1 payload
// behind its own ISAKMP header (same cookies, exchange type and message ID,
// no E flag: the pieces are of the already encrypted message). The last
// fragment carries the LAST flag. Reassembly happens before decryption.

// maxFragmentsV1 bounds a reassembly: the fragment number is one octet.
const maxFragmentsV1 = 255

// FragmentMessageV1 splits the encoded message msg into fragment messages
// of at most maxLen bytes each, under header h (NextPayload, Length and the E
// flag are set here) and fragment ID id.
func FragmentMessageV1(msg []byte, h Header, id uint16, maxLen int) ([][]byte, error) {
	room := maxLen - HeaderLen - genericHeaderLen - 4
	if room < 1 {
		return nil, marshalError("fragment size %d leaves no room for data", maxLen)
	}
	n := (len(msg) + room - 1) / room
	if n == 0 || n > maxFragmentsV1 {
		return nil, marshalError("%d fragments", n)
	}
	h.Flags &^= FlagV1Encryption
	out := make([][]byte, 0, n)
	for i := range n {
		piece := msg[i*room : min((i+1)*room, len(msg))]
		m := MessageV1{Header: h, Payloads: []Payload{&FragmentV1{ID: id, Number: uint8(i + 1), Last: i == n-1, Data: piece}}}
		b, err := m.Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ReassemblyV1 collects the IKEv1 fragments of one message (one per peer
// and fragment ID). The zero value is ready to use.
type ReassemblyV1 struct {
	// MaxBytes caps the reassembled message (0: DefaultMaxReassembly).
	MaxBytes int

	id    uint16
	last  int // number of the LAST fragment, 0 while unknown
	parts [maxFragmentsV1 + 1][]byte
	have  int
	size  int
}

// errFragmentID reports a fragment of another message.
var errFragmentID = errors.New("message: fragment of another message")

// Add stores fragment f (its data is copied) and reports done when every
// fragment from 1 to the LAST one is present. A fragment with a new ID
// replaces whatever was collected (strongSwan keeps one message per peer).
func (r *ReassemblyV1) Add(f *FragmentV1) (done bool, err error) {
	if f.Number == 0 {
		return false, malformedV1("fragment number 0")
	}
	if r.have > 0 && f.ID != r.id {
		if f.ID < r.id {
			return false, errFragmentID
		}
		*r = ReassemblyV1{MaxBytes: r.MaxBytes}
	}
	r.id = f.ID
	if r.last != 0 && (int(f.Number) > r.last || (f.Last && int(f.Number) != r.last)) {
		return false, malformedV1("fragment %d beyond the last (%d)", f.Number, r.last)
	}
	if r.parts[f.Number] != nil {
		return r.complete(), nil
	}
	maxBytes := r.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxReassembly
	}
	if r.size+len(f.Data) > maxBytes {
		return false, fmt.Errorf("message: reassembled IKEv1 message exceeds %d bytes", maxBytes)
	}
	if f.Last {
		for i := int(f.Number) + 1; i <= maxFragmentsV1; i++ {
			if r.parts[i] != nil {
				return false, malformedV1("fragment %d after the last (%d)", i, f.Number)
			}
		}
		r.last = int(f.Number)
	}
	r.parts[f.Number] = append(make([]byte, 0, len(f.Data)+1), f.Data...)
	r.have++
	r.size += len(f.Data)
	return r.complete(), nil
}

func (r *ReassemblyV1) complete() bool { return r.last != 0 && r.have == r.last }

// Message returns the reassembled message bytes (parse them with
// ParseMessageV1) once Add reported done.
func (r *ReassemblyV1) Message() ([]byte, error) {
	if !r.complete() {
		return nil, fmt.Errorf("message: IKEv1 reassembly incomplete (%d fragments, last %d)", r.have, r.last)
	}
	b := make([]byte, 0, r.size)
	for i := 1; i <= r.last; i++ {
		b = append(b, r.parts[i]...)
	}
	return b, nil
}
