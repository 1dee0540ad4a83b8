package xform

import (
	"crypto/aes"
)

// newAESCBCGeneric returns the portable AES-CBC over the standard library's
// cipher.Block (which itself uses hardware AES for single blocks when
// available).
func newAESCBCGeneric(key []byte) (cbcMode, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return blockCBC{b: b, bs: aes.BlockSize}, nil
}
