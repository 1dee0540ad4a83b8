package message

import "testing"

// BenchmarkParseMessage parses strongSwan's IKE_SA_INIT request (336 bytes,
// 8 payloads): the codec cost per handshake, and per flood packet a
// responder must look at before any cookie check (RFC 7296 §2.6).
func BenchmarkParseMessage(b *testing.B) {
	msg := readHex(b, "strongswan_ike_sa_init_req.hex")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := ParseMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseHeader is the demultiplexing step (SPI lookup) done for
// every received datagram; it must not allocate.
func BenchmarkParseHeader(b *testing.B) {
	msg := readHex(b, "strongswan_ike_auth_req.hex")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalMessage(b *testing.B) {
	m, err := ParseMessage(readHex(b, "strongswan_ike_sa_init_req.hex"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseHeaderAllocs(t *testing.T) {
	msg := readHex(t, "strongswan_ike_auth_req.hex")
	if n := testing.AllocsPerRun(100, func() { ParseHeader(msg) }); n != 0 {
		t.Errorf("ParseHeader allocates %.0f times", n)
	}
}
