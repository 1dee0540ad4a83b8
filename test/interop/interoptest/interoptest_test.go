package interoptest

import (
	"strings"
	"testing"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// TestSuites: strongSwan's keywords map to our suites, the PRF following
// the integrity algorithm unless given.
func TestSuites(t *testing.T) {
	if s := IKESuite(t, "aes256-sha512-modp2048"); s != (ikecrypto.IKESuite{Encr: ikecrypto.EncrAESCBC, EncrKey: 256,
		Integ: ikecrypto.IntegHMACSHA512256, PRF: ikecrypto.IntegHMACSHA512256.PRF(), DH: ikecrypto.MODP2048}) {
		t.Fatalf("IKESuite = %+v", s)
	}
	if s := IKESuite(t, "aes128gcm16-prfsha256-ecp256"); s.Encr != ikecrypto.EncrAESGCM16 || s.PRF != ikecrypto.PRFHMACSHA256 || s.Integ != ikecrypto.IntegNone {
		t.Fatalf("IKESuite = %+v", s)
	}
	if s := ESPSuite(t, "3des-md5-modp1024"); s != (ikecrypto.ChildSuite{Encr: ikecrypto.Encr3DES, Integ: ikecrypto.IntegHMACMD596, DH: ikecrypto.MODP1024}) {
		t.Fatalf("ESPSuite = %+v", s)
	}
}

// TestCompare: SPIs and algorithms must agree, and a child SA is matched
// by crossed SPIs.
func TestCompare(t *testing.T) {
	suite := IKESuite(t, "aes128-sha256-modp2048")
	me := v2.IKESAStatus{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Suite: suite,
		Children: []v2.ChildSAStatus{{InSPI: 0xc0000001, OutSPI: 0xd0000001, Suite: ESPSuite(t, "aes128-sha1")}}}
	sw := lab.IKESA{SPIInit: "0102030405060708", SPIResp: "1112131415161718", EncrAlg: "AES_CBC", EncrKeysize: 128,
		IntegAlg: suite.Integ.String(), PRFAlg: suite.PRF.String(), DHGroup: suite.DH.String()}
	if err := CompareIKE(sw, me); err != nil {
		t.Fatal(err)
	}
	bad := sw
	bad.SPIResp = "1112131415161719"
	if err := CompareIKE(bad, me); err == nil || !strings.Contains(err.Error(), "SPIs") {
		t.Fatalf("different SPIs accepted: %v", err)
	}
	ch := lab.ChildSA{SPIIn: "d0000001", SPIOut: "c0000001", EncrAlg: "AES_CBC", EncrKeysize: 128, IntegAlg: ikecrypto.IntegHMACSHA196.String()}
	if mc, err := CompareChild(ch, me); err != nil || mc.InSPI != 0xc0000001 {
		t.Fatalf("CompareChild = %v, %v", mc, err)
	}
	ch.SPIOut = "c0000002"
	if _, err := CompareChild(ch, me); err == nil {
		t.Fatal("mismatched SPIs accepted")
	}
	if got := Tail("a\nb\nc", 2); got != "b\nc" {
		t.Fatalf("Tail = %q", got)
	}
}
