package api

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]Endpoint{
		"unix:///run/ipsecgw/api.sock": {"unix", "/run/ipsecgw/api.sock"},
		"/tmp/x.sock":                  {"unix", "/tmp/x.sock"},
		"http://127.0.0.1:9811":        {"tcp", "127.0.0.1:9811"},
		"tcp://[::1]:9811":             {"tcp", "[::1]:9811"},
		"127.0.0.1:9811":               {"tcp", "127.0.0.1:9811"},
	} {
		got, err := ParseEndpoint(in)
		if err != nil || got != want {
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "unix://", "https://h:1", "http://h:1/path", "nohostport", "ftp://x"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "api.sock")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode = %v, want socket 0600", fi.Mode())
	}
	// A live daemon's socket must not be stolen.
	if _, err := ListenUnix(path); err == nil {
		t.Error("second listener stole a live socket")
	}
	// A stale socket file (daemon killed) is replaced.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	l2, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	// A regular file is never removed.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(path); err == nil {
		t.Error("a regular file was replaced by a socket")
	}
}
