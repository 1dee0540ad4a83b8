//go:build !amd64 || purego

package xform

// newAESCBC returns the portable AES-CBC: there is no assembly for this
// architecture (see aes_amd64.go).
func newAESCBC(key []byte) (cbcMode, error) { return newAESCBCGeneric(key) }
