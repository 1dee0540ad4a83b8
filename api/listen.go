package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultAddress is where ipsecgwd serves the API and where the CLI looks for
// it unless told otherwise.
const DefaultAddress = "unix:///run/ipsecgw/api.sock"

// Endpoint is a parsed API address: a unix socket path or a TCP host:port.
type Endpoint struct {
	// Network is "unix" or "tcp".
	Network string
	// Address is the socket path (unix) or host:port (tcp).
	Address string
}

// String returns the endpoint in URL form.
func (e Endpoint) String() string {
	if e.Network == "unix" {
		return "unix://" + e.Address
	}
	return "http://" + e.Address
}

// ParseEndpoint accepts "unix:///path", a bare absolute path, "http://host:port",
// "tcp://host:port" or "host:port".
func ParseEndpoint(s string) (Endpoint, error) {
	switch {
	case s == "":
		return Endpoint{}, errors.New("api: empty address")
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if p == "" {
			return Endpoint{}, fmt.Errorf("api: %q: empty socket path", s)
		}
		return Endpoint{Network: "unix", Address: p}, nil
	case strings.HasPrefix(s, "/"):
		return Endpoint{Network: "unix", Address: s}, nil
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "tcp://"):
		u, err := url.Parse(s)
		if err != nil {
			return Endpoint{}, fmt.Errorf("api: %q: %w", s, err)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") {
			return Endpoint{}, fmt.Errorf("api: %q: want scheme://host:port", s)
		}
		return checkHostPort(u.Host)
	case strings.Contains(s, "://"):
		return Endpoint{}, fmt.Errorf("api: %q: unsupported scheme (want unix://, http:// or tcp://)", s)
	default:
		return checkHostPort(s)
	}
}

func checkHostPort(hp string) (Endpoint, error) {
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return Endpoint{}, fmt.Errorf("api: %q: %w", hp, err)
	}
	return Endpoint{Network: "tcp", Address: hp}, nil
}

// ListenUnix listens on a unix socket at path with mode 0600, creating the
// parent directory (0755) if needed. A stale socket left by a killed daemon is
// removed, but only if nothing answers on it: a second daemon must not steal
// the first one's socket.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("api: %s: another daemon is listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api: remove stale socket: %w", err)
		}
	}
	// Create the socket with no group/other permissions from the start, so
	// there is no window in which another user could connect.
	l, err := listenUnixUmask(path)
	if err != nil {
		return nil, fmt.Errorf("api: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("api: chmod %s: %w", path, err)
	}
	return l, nil
}

// Listen opens a listener for an endpoint.
func Listen(e Endpoint) (net.Listener, error) {
	if e.Network == "unix" {
		return ListenUnix(e.Address)
	}
	l, err := net.Listen("tcp", e.Address)
	if err != nil {
		return nil, fmt.Errorf("api: listen %s: %w", e.Address, err)
	}
	return l, nil
}

// requireBearer rejects requests that lack "Authorization: Bearer <token>".
// TCP is reachable by every local user (and possibly the network), unlike the
// 0600 unix socket, so it always needs the token.
func requireBearer(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ipsecgw"`)
			writeError(w, http.StatusUnauthorized, ErrorDetail{Rule: "unauthorized", Message: "missing or wrong bearer token"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveHTTP serves h on l until ctx is done, then shuts down gracefully
// (in-flight requests — and so in-flight store commits — finish first).
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}
