package config

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseASN(t *testing.T) {
	cases := []struct {
		in   string
		want ASN
		ok   bool
	}{
		{"1", 1, true},
		{"45104", 45104, true},
		{"65001", 65001, true},
		{"4294967295", 4294967295, true},
		{"123.456", 8061384, true},
		{"0.1", 1, true},
		{"1.0", 65536, true},
		{"65535.65535", 4294967295, true},
		{"0", 0, false},
		{"0.0", 0, false},
		{"4294967296", 0, false},
		{"99999999999", 0, false},
		{"65536.0", 0, false},
		{"1.65536", 0, false},
		{"-1", 0, false},
		{"+5", 0, false},
		{"1.2.3", 0, false},
		{"1.", 0, false},
		{".1", 0, false},
		{"0x10", 0, false},
		{"as65001", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseASN(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseASN(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestASNFormat(t *testing.T) {
	if s := ASN(8061384).AsDot(); s != "123.456" {
		t.Errorf("AsDot = %q", s)
	}
	if s := ASN(65001).AsDot(); s != "65001" {
		t.Errorf("AsDot small = %q", s)
	}
	if s := ASN(8061384).String(); s != "8061384" {
		t.Errorf("String = %q", s)
	}
}

func TestASNYAML(t *testing.T) {
	cases := []struct {
		doc  string
		want ASN
		err  string
	}{
		{"a: 65001", 65001, ""},
		{`a: "123.456"`, 8061384, ""},
		{"a: 123.456", 8061384, ""}, // unquoted: a YAML float, read as text
		{"a: 1.10", 65546, ""},      // text kept: 1×65536+10
		{"a: ~", 0, ""},
		{"a: 0", 0, "must be a number 1–4294967295"},
		{"a: 4294967296", 0, "must be a number 1–4294967295"},
		{"a: [1]", 0, "expected a number"},
	}
	for _, tc := range cases {
		var v struct{ A ASN }
		err := yaml.Unmarshal([]byte(tc.doc), &v)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil || v.A != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.doc, v.A, err, tc.want)
		}
	}
	out, err := yaml.Marshal(struct{ A ASN }{8061384})
	if err != nil || string(out) != "a: 8061384\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
}

func TestASNJSON(t *testing.T) {
	cases := []struct {
		doc  string
		want ASN
		ok   bool
	}{
		{`{"a":65001}`, 65001, true},
		{`{"a":"123.456"}`, 8061384, true},
		{`{"a":"65001"}`, 65001, true},
		{`{"a":null}`, 0, true},
		{`{"a":123.456}`, 0, false}, // asdot must be a string in JSON
		{`{"a":0}`, 0, false},
		{`{"a":4294967296}`, 0, false},
		{`{"a":"x"}`, 0, false},
		{`{"a":true}`, 0, false},
	}
	for _, tc := range cases {
		var v struct {
			A ASN `json:"a"`
		}
		err := json.Unmarshal([]byte(tc.doc), &v)
		if tc.ok != (err == nil) || v.A != tc.want {
			t.Errorf("%s: got %d, %v; want %d ok=%v", tc.doc, v.A, err, tc.want, tc.ok)
		}
	}
	b, err := json.Marshal(struct {
		A ASN `json:"a"`
	}{8061384})
	if err != nil || string(b) != `{"a":8061384}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
}
