package esp_test

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// TestWireFormatGopacket decodes what Encap produces with an independent
// parser (gopacket's RFC 4303 ESP layer): SPI and sequence number sit where
// the RFC puts them, and the payload is IV‖ciphertext‖ICV of the expected
// length for the transform.
func TestWireFormatGopacket(t *testing.T) {
	for _, s := range []xform.Suite{
		{Encr: xform.EncrAESCBC, KeyBits: 128, Integ: xform.IntegHMACSHA196},
		{Encr: xform.EncrAESGCM16, KeyBits: 128},
	} {
		encLen, integLen, err := s.KeyLen()
		if err != nil {
			t.Fatal(err)
		}
		x, err := xform.New(s, bytes.Repeat([]byte{1}, encLen), bytes.Repeat([]byte{2}, integLen))
		if err != nil {
			t.Fatal(err)
		}
		// A 60-byte IPv4 packet (the header's version nibble is all Encap
		// needs from it here).
		inner := make([]byte, 60)
		inner[0] = 0x45
		buf := make([]byte, esp.BufSize)
		copy(buf[esp.Headroom:], inner)
		start, end, ok := esp.Encap(x, 0xdeadbeef, 7, false, 4, buf, esp.Headroom, len(inner))
		if !ok {
			t.Fatalf("%v: Encap failed", s)
		}
		p := gopacket.NewPacket(buf[start:end], layers.LayerTypeIPSecESP, gopacket.Default)
		l, ok := p.Layer(layers.LayerTypeIPSecESP).(*layers.IPSecESP)
		if !ok {
			t.Fatalf("%v: gopacket found no ESP layer: %v", s, p.ErrorLayer())
		}
		if l.SPI != 0xdeadbeef || l.Seq != 7 {
			t.Fatalf("%v: SPI %#x seq %d, want 0xdeadbeef 7", s, l.SPI, l.Seq)
		}
		// IV + (inner + padding + 2-byte trailer, block aligned) + ICV.
		body := len(inner) + 2
		if b := x.BlockSize(); body%b != 0 {
			body += b - body%b
		}
		if want := x.IVLen() + body + x.ICVLen(); len(l.Encrypted) != want {
			t.Fatalf("%v: ESP payload %d bytes, want %d", s, len(l.Encrypted), want)
		}
		// And it opens again.
		if got, nh, r := esp.Decap(x, buf[start:end], 0, false); r != 0 || nh != 4 || !bytes.Equal(got, inner) {
			t.Fatalf("%v: Decap: reason %v nh %d", s, r, nh)
		}
	}
}
