package message

import "encoding/binary"

// reader is a bounded big-endian reader: every read checks the remaining
// length and reports failure instead of panicking, so a parser can read a
// whole substructure and check ok once (the cryptobyte.String idiom, without
// cryptobyte's length-prefix model, which does not match IKE lengths that
// count their own header).
type reader []byte

func (r *reader) empty() bool { return len(*r) == 0 }

func (r *reader) u8(v *uint8) bool {
	if len(*r) < 1 {
		return false
	}
	*v = (*r)[0]
	*r = (*r)[1:]
	return true
}

func (r *reader) u16(v *uint16) bool {
	if len(*r) < 2 {
		return false
	}
	*v = binary.BigEndian.Uint16(*r)
	*r = (*r)[2:]
	return true
}

func (r *reader) u32(v *uint32) bool {
	if len(*r) < 4 {
		return false
	}
	*v = binary.BigEndian.Uint32(*r)
	*r = (*r)[4:]
	return true
}

// bytes returns the next n bytes (aliasing the input) or fails.
func (r *reader) bytes(n int, v *[]byte) bool {
	if n < 0 || len(*r) < n {
		return false
	}
	*v = (*r)[:n:n]
	*r = (*r)[n:]
	return true
}

// skip drops n bytes.
func (r *reader) skip(n int) bool {
	var b []byte
	return r.bytes(n, &b)
}

// clone copies b so that parsed values do not alias the caller's buffer where
// aliasing would be surprising (keys, nonces kept beyond the datagram).
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
