package message

import (
	"bytes"
	"testing"
)

// The fuzzers check that no input panics and that whatever parses
// re-encodes stably: marshal(parse(x)) parses again to the same bytes.
// Seeds live in testdata/fuzz/<FuzzName>/ (strongSwan captures and
// hand-built chains); crashers found later are kept there too.

func FuzzParseMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if _, ok := AsNotifyError(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		m2, err := ParseMessage(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%x", err, out)
		}
		out2, err := m2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding (%v)\n%x\n%x", err, out, out2)
		}
		if n := len(m.Payloads); n > 0 {
			if e, ok := m.Payloads[n-1].(*Encrypted); ok && !bytes.Equal(append(append([]byte(nil), e.AAD...), e.Data...), m.Raw) {
				t.Fatal("AAD‖Data is not the message")
			}
		}
	})
}

func FuzzParsePayloads(f *testing.F) {
	f.Fuzz(func(t *testing.T, first uint8, b []byte) {
		checkChain(t, PayloadType(first), b)
	})
}

// checkChain parses an inner chain and checks the stable re-encoding.
func checkChain(t *testing.T, first PayloadType, b []byte) []Payload {
	ps, err := ParsePayloads(first, b)
	if err != nil {
		if _, ok := AsNotifyError(err); !ok {
			t.Fatalf("untyped error %v", err)
		}
		return nil
	}
	first2, out, err := MarshalPayloads(ps)
	if err != nil {
		t.Fatalf("re-marshal: %v", err)
	}
	if len(ps) > 0 && first2 != first {
		t.Fatalf("first payload %s became %s", first, first2)
	}
	ps2, err := ParsePayloads(first2, out)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	_, out2, err := MarshalPayloads(ps2)
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("unstable encoding (%v)", err)
	}
	return ps
}

// FuzzParseSA, FuzzParseTS, FuzzParseNotify and FuzzParseCP aim the fuzzer
// at one payload body each (the generic header is added here), where the
// substructure parsing lives.
func FuzzParseSA(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) { fuzzBody(t, PayloadSA, body) })
}

func FuzzParseTS(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range fuzzBody(t, PayloadTSi, body) {
			for _, s := range p.(*TS).Selectors {
				for _, pr := range s.Prefixes() {
					if !pr.IsValid() {
						t.Fatalf("invalid prefix from %+v", s)
					}
				}
			}
		}
	})
}

func FuzzParseNotify(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) { fuzzBody(t, PayloadNotify, body) })
}

func FuzzParseCP(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) { fuzzBody(t, PayloadCP, body) })
}

func fuzzBody(t *testing.T, typ PayloadType, body []byte) []Payload {
	if len(body) > 0xffff-4 {
		return nil
	}
	return checkChain(t, typ, gp(0, 0, body))
}

// FuzzReassembly feeds fragment headers and contents in fuzzer-chosen order;
// the reassembly must never panic or exceed its limits.
func FuzzReassembly(f *testing.F) {
	f.Fuzz(func(t *testing.T, script []byte) {
		r := Reassembly{MaxFragments: 16, MaxBytes: 256}
		for len(script) >= 3 {
			fr := &EncryptedFragment{Number: uint16(script[0] % 20), Total: uint16(script[1] % 20)}
			n := int(script[2] % 40)
			script = script[3:]
			data := script[:min(n, len(script))]
			script = script[len(data):]
			done, err := r.Add(fr, data)
			if err != nil {
				continue
			}
			if done {
				if _, b, err := r.Plaintext(); err != nil || len(b) > 256 {
					t.Fatalf("plaintext %d bytes, %v", len(b), err)
				}
			}
		}
	})
}

func FuzzParseMessageV1(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessageV1(b)
		if err != nil {
			if _, ok := err.(*NotifyErrorV1); !ok {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		m2, err := ParseMessageV1(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if out2, err := m2.Marshal(); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding (%v)", err)
		}
	})
}

func FuzzParsePayloadsV1(f *testing.F) {
	f.Fuzz(func(t *testing.T, first uint8, b []byte) {
		ps, err := ParsePayloadsV1(PayloadType(first), b)
		if err != nil {
			if _, ok := err.(*NotifyErrorV1); !ok {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, p := range ps {
			if id, ok := p.(*IDV1); ok {
				id.Prefix()
				id.Selector()
			}
		}
		first2, out, err := MarshalPayloadsV1(ps)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		ps2, err := ParsePayloadsV1(first2, out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if _, out2, err := MarshalPayloadsV1(ps2); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding (%v)", err)
		}
	})
}

// FuzzReassemblyV1 drives IKEv1 fragment reassembly with fuzzer-chosen
// IDs, numbers and LAST flags.
func FuzzReassemblyV1(f *testing.F) {
	f.Fuzz(func(t *testing.T, script []byte) {
		r := ReassemblyV1{MaxBytes: 512}
		for len(script) >= 3 {
			fr := &FragmentV1{ID: uint16(script[0] % 4), Number: script[1] % 12, Last: script[2]&0x80 != 0}
			n := int(script[2] & 0x3f)
			script = script[3:]
			fr.Data = script[:min(n, len(script))]
			script = script[len(fr.Data):]
			done, err := r.Add(fr)
			if err == nil && done {
				if b, err := r.Message(); err != nil || len(b) > 512 {
					t.Fatalf("message %d bytes, %v", len(b), err)
				}
			}
		}
	})
}
