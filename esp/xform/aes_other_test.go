//go:build !amd64 || purego

package xform

func useAESNIForTest() bool { return false }

// chachaAsm reports whether x/crypto's ChaCha20-Poly1305 runs its
// allocation-free assembly on this build.
const chachaAsm = false
