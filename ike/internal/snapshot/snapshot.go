// Package snapshot copies out the SAs of an IKE manager's table (ike/v1,
// ike/v2) so that the manager can act on them without its lock: posting
// to an SA's goroutine may wait, and an SA goroutine may take the lock
// itself, so the lock is held only while the table is read.
package snapshot

import "sync"

// Values returns the values of m for which keep is true (all of them when
// keep is nil), reading m under mu. The order is unspecified.
func Values[K comparable, V any](mu *sync.Mutex, m map[K]V, keep func(V) bool) []V {
	mu.Lock()
	defer mu.Unlock()
	var out []V
	for _, v := range m {
		if keep == nil || keep(v) {
			out = append(out, v)
		}
	}
	return out
}
