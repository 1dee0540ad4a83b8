package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ipsecgwd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	var out bytes.Buffer
	good := writeConfig(t, "address: 192.0.2.2\nstate_dir: /var/lib/ipsecgw\nmetrics: \"\"\n")
	if code := run([]string{"-config", good, "-check"}, &out); code != 0 {
		t.Errorf("valid config: exit %d\n%s", code, out.String())
	}
	out.Reset()
	bad := writeConfig(t, "address: not-an-ip\nstate_dir: relative\nlog_level: loud\napi_tcp: 0.0.0.0:9811\n")
	if code := run([]string{"-config", bad, "-check"}, &out); code != 1 {
		t.Errorf("invalid config: exit %d", code)
	}
	for _, want := range []string{"address: ", "(ip)", "state_dir: ", "log_level: ", "api_token: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	unknown := writeConfig(t, "adress: 192.0.2.2\n")
	if code := run([]string{"-config", unknown, "-check"}, &out); code != 1 || !strings.Contains(out.String(), "adress") {
		t.Errorf("unknown key: exit %d\n%s", code, out.String())
	}
	if code := run([]string{"-config", "/nonexistent/ipsecgwd.yaml", "-check"}, &out); code != 1 {
		t.Errorf("missing explicit file: exit %d", code)
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-help"}, &out); code != 0 || !strings.Contains(out.String(), "SYNOPSIS") || !strings.Contains(out.String(), "EXIT STATUS") {
		t.Errorf("-help: exit %d\n%s", code, out.String())
	}
	if code := run([]string{"-nosuchflag"}, &out); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
	if code := run([]string{"extra"}, &out); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
	if code := run([]string{"-log-format", "xml", "-check"}, &out); code != 2 {
		t.Errorf("bad -log-format: exit %d", code)
	}
}
