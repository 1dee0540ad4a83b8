package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseFile checks that decoding never panics, that validation of any
// decoded file never panics, and that a decoded file survives an encode →
// decode round trip unchanged. The seed corpus is testdata/example.yaml plus
// testdata/fuzz/FuzzParseFile.
func FuzzParseFile(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "example.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile(b)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("ParseFile error %T is not Errors: %v", err, err)
			}
			return
		}
		_ = file.Validate()
		_ = file.Warnings()
		for i := range file.Connections {
			c := file.Connections[i].Clone()
			c.ApplyDefaults("192.0.2.2")
			_, _ = c.PeerBGPAddress()
			_, _ = c.IKE.Transforms()
		}
		out, err := yaml.Marshal(file)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := ParseFile(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		file.lines, again.lines = nil, nil
		if !reflect.DeepEqual(normalizeFile(file), normalizeFile(again)) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v\n%s", file, again, out)
		}
	})
}

// normalizeFile maps empty lists to nil: omitempty drops them on encode.
func normalizeFile(f *File) *File {
	n := &File{}
	for i := range f.Connections {
		c := f.Connections[i].Clone()
		c.LocalSubnets, c.RemoteSubnets, c.Routes = nilIfEmpty(c.LocalSubnets), nilIfEmpty(c.RemoteSubnets), nilIfEmpty(c.Routes)
		if len(c.Tunnels) == 0 {
			c.Tunnels = nil
		}
		n.Connections = append(n.Connections, *c)
	}
	return n
}

// TestFuzzCorpusValid asserts that the seed files named valid-* are valid
// connections files, so the corpus keeps covering the accepting paths.
func TestFuzzCorpusValid(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseFile", "valid-*"))
	if len(paths) < 2 {
		t.Fatalf("seed corpus missing: %v", paths)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, lit, _ := strings.Cut(string(raw), "[]byte(")
		src, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f, err := ParseFile([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if es := f.Validate(); len(es) != 0 {
			t.Fatalf("%s: %v", p, es)
		}
	}
}
