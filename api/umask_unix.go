package api

import (
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// umaskMu serialises the umask change: umask is process-wide.
var umaskMu sync.Mutex

// listenUnixUmask creates the socket under umask 0177 so it is born 0600.
func listenUnixUmask(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	umaskMu.Unlock()
	return l, err
}
