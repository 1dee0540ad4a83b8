// Package interoptest is what the IKEv1 and IKEv2 interop tests
// (test/interop/ikev1, test/interop/ikev2) share to run our negotiator in
// gwB's namespace against the lab's real strongSwan on gwA: the sockets,
// a test logger, our configuration mirroring the lab's default connection
// from strongSwan's proposal keywords, and the check that both ends list
// the same SA with the same SPIs and algorithms. Each version keeps its
// own Manager wiring and what it compares beyond that.
package interoptest

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/transport"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// Listen opens our IKE sockets (ports 500 and 4500) on gwB's WAN address
// inside gwB's namespace, failing the test if it cannot.
func Listen(t testing.TB, b *lab.Bed) *transport.Transport {
	t.Helper()
	var tr *transport.Transport
	err := b.Do(lab.GwB, func() error {
		var err error
		tr, err = transport.Listen(netip.MustParseAddr(lab.GwBWanIP), 0, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Logger logs through t at info level, or debug when IKE_DEBUG is set.
func Logger(t testing.TB) *slog.Logger {
	lvl := slog.LevelInfo
	if os.Getenv("IKE_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: lvl}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// SwanEncr names our encryption algorithms as strongSwan lists them.
var SwanEncr = map[ikecrypto.EncrID]string{
	ikecrypto.EncrAESCBC: "AES_CBC", ikecrypto.Encr3DES: "3DES_CBC", ikecrypto.EncrDES: "DES_CBC",
	ikecrypto.EncrAESGCM16: "AES_GCM_16",
}

// IKESuite parses strongSwan's proposal keywords (SPEC §1, and a few
// extras) into an IKE suite: "aes256-sha512-modp2048",
// "aes128gcm16-prfsha256-ecp256". Without a prf keyword the PRF follows
// the integrity algorithm, as in strongSwan.
func IKESuite(t testing.TB, s string) ikecrypto.IKESuite {
	e, bits, integ, prf, dh := parseProposal(t, s)
	if prf == 0 {
		prf = integ.PRF()
	}
	return ikecrypto.IKESuite{Encr: e, EncrKey: bits, PRF: prf, Integ: integ, DH: dh}
}

// ESPSuite parses a strongSwan ESP proposal; a DH group is the PFS group.
func ESPSuite(t testing.TB, s string) ikecrypto.ChildSuite {
	e, bits, integ, _, dh := parseProposal(t, s)
	return ikecrypto.ChildSuite{Encr: e, EncrKey: bits, Integ: integ, DH: dh}
}

func parseProposal(t testing.TB, s string) (e ikecrypto.EncrID, bits int, integ ikecrypto.IntegID, prf ikecrypto.PRFID, dh ikecrypto.GroupID) {
	t.Helper()
	for _, kw := range strings.Split(s, "-") {
		switch kw {
		case "aes", "aes128":
			e, bits = ikecrypto.EncrAESCBC, 128
		case "aes192":
			e, bits = ikecrypto.EncrAESCBC, 192
		case "aes256":
			e, bits = ikecrypto.EncrAESCBC, 256
		case "3des":
			e = ikecrypto.Encr3DES
		case "des":
			e = ikecrypto.EncrDES
		case "aes128gcm16":
			e, bits = ikecrypto.EncrAESGCM16, 128
		case "aes256gcm16":
			e, bits = ikecrypto.EncrAESGCM16, 256
		case "md5":
			integ = ikecrypto.IntegHMACMD596
		case "sha1":
			integ = ikecrypto.IntegHMACSHA196
		case "sha256":
			integ = ikecrypto.IntegHMACSHA256128
		case "sha384":
			integ = ikecrypto.IntegHMACSHA384192
		case "sha512":
			integ = ikecrypto.IntegHMACSHA512256
		case "prfsha1":
			prf = ikecrypto.PRFHMACSHA1
		case "prfsha256":
			prf = ikecrypto.PRFHMACSHA256
		case "prfsha384":
			prf = ikecrypto.PRFHMACSHA384
		case "modp768":
			dh = ikecrypto.MODP768
		case "modp1024":
			dh = ikecrypto.MODP1024
		case "modp1536":
			dh = ikecrypto.MODP1536
		case "modp2048":
			dh = ikecrypto.MODP2048
		case "ecp256":
			dh = ikecrypto.ECP256
		case "ecp384":
			dh = ikecrypto.ECP384
		case "curve25519":
			dh = ikecrypto.Curve25519
		default:
			t.Fatalf("unknown proposal keyword %q in %q", kw, s)
		}
	}
	return
}

// PeerFor is our side of the lab's default connection to gwA with one
// IKE and one ESP proposal in strongSwan's keywords. ike/v1 wraps it in
// its own Peer.
func PeerFor(t testing.TB, b *lab.Bed, ike, esp string) v2.Peer {
	remoteID := lab.GwAWanIP
	if b.Options().NAT {
		remoteID = lab.GwAWanNATIP
	}
	return v2.Peer{
		Name:  "gwA",
		Local: netip.MustParseAddr(lab.GwBWanIP), Remote: netip.MustParseAddr(lab.GwAWanIP),
		LocalID: v2.Identity(lab.GwBWanIP), RemoteID: v2.Identity(remoteID),
		PSK:      []byte(lab.DefaultPSK),
		IKE:      []ikecrypto.IKESuite{IKESuite(t, ike)},
		ESP:      []ikecrypto.ChildSuite{ESPSuite(t, esp)},
		LocalTS:  []netip.Prefix{netip.MustParsePrefix(lab.ServerNet)},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix(lab.ClientNet)},
		NATT:     true, DPD: true,
	}
}

// WaitBoth waits until strongSwan lists one established IKE SA with an
// installed child SA, ours (from sas, a Manager's SAs) lists exactly one
// established SA with child SAs, and agree finds them the same. It returns
// both views, or fails the test with the last disagreement and the tail
// of charon's log.
func WaitBoth(t testing.TB, c *lab.Charon, sas func() []v2.IKESAStatus, timeout time.Duration, agree func(lab.IKESA, v2.IKESAStatus) error) (lab.IKESA, v2.IKESAStatus) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		theirs, err := c.ListSAs()
		if err != nil {
			last = err.Error()
		}
		var mine []v2.IKESAStatus
		for _, s := range sas() {
			if s.State == v2.StateEstablished && len(s.Children) > 0 {
				mine = append(mine, s)
			}
		}
		if sw, ok := lab.Established(theirs); ok && len(mine) == 1 {
			if _, ok := sw.InstalledChild(); ok {
				err := agree(sw, mine[0])
				if err == nil {
					return sw, mine[0]
				}
				last = err.Error()
			}
		} else {
			last = fmt.Sprintf("strongSwan %d SAs, ours %d established", len(theirs), len(mine))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not established on both sides: %s\ncharon log tail:\n%s", last, Tail(c.Log(), 40))
	return lab.IKESA{}, v2.IKESAStatus{}
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CompareIKE checks that strongSwan's IKE (ISAKMP) SA is ours: SPIs
// (cookies) and algorithms. An AEAD suite has no integrity algorithm to
// compare.
func CompareIKE(sw lab.IKESA, me v2.IKESAStatus) error {
	if sw.SPIInit != fmt.Sprintf("%016x", me.SPIi) || sw.SPIResp != fmt.Sprintf("%016x", me.SPIr) {
		return fmt.Errorf("IKE SPIs: strongSwan %s/%s, ours %016x/%016x", sw.SPIInit, sw.SPIResp, me.SPIi, me.SPIr)
	}
	s := me.Suite
	if sw.EncrAlg != SwanEncr[s.Encr] || (s.EncrKey != 0 && sw.EncrKeysize != s.EncrKey) {
		return fmt.Errorf("IKE encr: strongSwan %s/%d, ours %v/%d", sw.EncrAlg, sw.EncrKeysize, s.Encr, s.EncrKey)
	}
	if s.Integ != ikecrypto.IntegNone && sw.IntegAlg != s.Integ.String() {
		return fmt.Errorf("IKE integ: strongSwan %s, ours %v", sw.IntegAlg, s.Integ)
	}
	if sw.PRFAlg != s.PRF.String() || sw.DHGroup != s.DH.String() {
		return fmt.Errorf("IKE prf/dh: strongSwan %s/%s, ours %v/%v", sw.PRFAlg, sw.DHGroup, s.PRF, s.DH)
	}
	return nil
}

// CompareChild finds our child SA matching strongSwan's ch (their inbound
// SPI is our outbound one and vice versa) and checks its algorithms and
// encapsulation. It returns ours.
func CompareChild(ch lab.ChildSA, me v2.IKESAStatus) (*v2.ChildSAStatus, error) {
	var mc *v2.ChildSAStatus
	for i := range me.Children {
		if fmt.Sprintf("%08x", me.Children[i].OutSPI) == ch.SPIIn {
			mc = &me.Children[i]
		}
	}
	if mc == nil || fmt.Sprintf("%08x", mc.InSPI) != ch.SPIOut {
		return nil, fmt.Errorf("child SA SPIs: strongSwan in %s out %s, ours %+v", ch.SPIIn, ch.SPIOut, me.Children)
	}
	cs := mc.Suite
	if ch.EncrAlg != SwanEncr[cs.Encr] || (cs.EncrKey != 0 && ch.EncrKeysize != cs.EncrKey) {
		return nil, fmt.Errorf("ESP encr: strongSwan %s/%d, ours %v/%d", ch.EncrAlg, ch.EncrKeysize, cs.Encr, cs.EncrKey)
	}
	if cs.Integ != ikecrypto.IntegNone && ch.IntegAlg != cs.Integ.String() {
		return nil, fmt.Errorf("ESP integ: strongSwan %s, ours %v", ch.IntegAlg, cs.Integ)
	}
	if ch.Encap != mc.Encap {
		return nil, fmt.Errorf("encap: strongSwan %v, ours %v", ch.Encap, mc.Encap)
	}
	return mc, nil
}
