// Package ikev1 runs ipsecgw's IKEv1 negotiator (ike/v1 over real UDP
// sockets, ike/transport) inside gwB's network namespace against a real
// strongSwan 5.9.8 charon on gwA (test/lab), and checks that both ends
// list the same SAs. No mock stands in for strongSwan.
package ikev1

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/transport"
	v1 "github.com/ipsecgw/ipsecgw/ike/v1"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// ours is the ipsecgw side running in gwB.
type ours struct {
	t    testing.TB
	m    *v1.Manager
	tr   *transport.Transport
	peer *v1.Peer

	mu     sync.Mutex
	events []v2.Event
	ids    []string // identities Lookup was asked about
	echo   *echo
	served chan struct{}
}

// startOurs opens the sockets inside gwB and starts a Manager answering
// for peer (responder) and able to initiate it.
func startOurs(t testing.TB, b *lab.Bed, peer *v1.Peer) *ours {
	t.Helper()
	o := &ours{t: t, peer: peer, served: make(chan struct{})}
	err := b.Do(lab.GwB, func() error {
		tr, err := transport.Listen(netip.MustParseAddr(lab.GwBWanIP), 0, 0)
		o.tr = tr
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lvl := slog.LevelInfo
	if os.Getenv("IKE_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: lvl}))
	o.m, err = v1.New(v1.Config{
		Send: o.tr.Send,
		Lookup: func(local, remote netip.AddrPort, id *v2.Identity) (*v1.Peer, bool) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if id != nil {
				o.ids = append(o.ids, string(*id))
			}
			return o.peer, o.peer != nil
		},
		OnEvent: func(e v2.Event) {
			o.mu.Lock()
			o.events = append(o.events, e)
			o.mu.Unlock()
		},
		Logger:          log,
		Retransmit:      v2.Retransmit{Initial: time.Second, Timeout: 10 * time.Second},
		HalfOpenTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	o.echo = &echo{o: o}
	o.tr.OnESP = o.echo.handle
	go func() { o.tr.Serve(o.m.HandlePacket); close(o.served) }()
	t.Cleanup(o.stop)
	return o
}

func (o *ours) stop() {
	o.m.Close()
	o.tr.Close()
	<-o.served
}

func (o *ours) evs() []v2.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]v2.Event(nil), o.events...)
}

func evsOf[T v2.Event](o *ours) []T {
	var out []T
	for _, e := range o.evs() {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// algorithm names as strongSwan lists them.
var swanEncr = map[ikecrypto.EncrID]string{
	ikecrypto.EncrAESCBC: "AES_CBC", ikecrypto.Encr3DES: "3DES_CBC", ikecrypto.EncrDES: "DES_CBC",
	ikecrypto.EncrAESGCM16: "AES_GCM_16",
}

// ikeSuite parses a strongSwan IKEv1 proposal ("aes256-sha512-modp2048").
func ikeSuite(t testing.TB, s string) ikecrypto.IKESuite {
	e, bits, integ, dh := parseProposal(t, s)
	return ikecrypto.IKESuite{Encr: e, EncrKey: bits, PRF: integ.PRF(), Integ: integ, DH: dh}
}

// espSuite parses a strongSwan ESP proposal; a DH group is the PFS group.
func espSuite(t testing.TB, s string) ikecrypto.ChildSuite {
	e, bits, integ, dh := parseProposal(t, s)
	return ikecrypto.ChildSuite{Encr: e, EncrKey: bits, Integ: integ, DH: dh}
}

func parseProposal(t testing.TB, s string) (e ikecrypto.EncrID, bits int, integ ikecrypto.IntegID, dh ikecrypto.GroupID) {
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
		case "modp768":
			dh = ikecrypto.MODP768
		case "modp1024":
			dh = ikecrypto.MODP1024
		case "modp1536":
			dh = ikecrypto.MODP1536
		case "modp2048":
			dh = ikecrypto.MODP2048
		default:
			t.Fatalf("unknown proposal keyword %q in %q", kw, s)
		}
	}
	return
}

// waitBoth waits until strongSwan and we both list one established IKEv1
// SA with an installed IPsec SA whose SPIs and algorithms agree (want
// children IPsec SAs installed on our side, counting rekeyed ones).
func waitBoth(t testing.TB, c *lab.Charon, o *ours, timeout time.Duration, match func(lab.IKESA, v2.IKESAStatus) error) (lab.IKESA, v2.IKESAStatus) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		sas, err := c.ListSAs()
		if err != nil {
			last = err.Error()
		}
		var mine []v2.IKESAStatus
		for _, s := range o.m.SAs() {
			if s.State == v2.StateEstablished && len(s.Children) > 0 {
				mine = append(mine, s)
			}
		}
		if sw, ok := lab.Established(sas); ok && len(mine) == 1 {
			if _, ok := sw.InstalledChild(); ok {
				err := compare(sw, mine[0])
				if err == nil && match != nil {
					err = match(sw, mine[0])
				}
				if err == nil {
					return sw, mine[0]
				}
				last = err.Error()
			}
		} else {
			last = fmt.Sprintf("strongSwan %d SAs, ours %d established", len(sas), len(mine))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not established on both sides: %s\ncharon log tail:\n%s", last, tail(c.Log(), 40))
	return lab.IKESA{}, v2.IKESAStatus{}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// compare checks that both ends describe the same ISAKMP SA and that every
// IPsec SA strongSwan has installed is one of ours with the same SPIs and
// algorithms.
func compare(sw lab.IKESA, me v2.IKESAStatus) error {
	if sw.Version != 1 {
		return fmt.Errorf("strongSwan SA is IKEv%d", sw.Version)
	}
	if sw.SPIInit != fmt.Sprintf("%016x", me.SPIi) || sw.SPIResp != fmt.Sprintf("%016x", me.SPIr) {
		return fmt.Errorf("cookies: strongSwan %s/%s, ours %016x/%016x", sw.SPIInit, sw.SPIResp, me.SPIi, me.SPIr)
	}
	s := me.Suite
	if sw.EncrAlg != swanEncr[s.Encr] || (s.EncrKey != 0 && sw.EncrKeysize != s.EncrKey) {
		return fmt.Errorf("IKE encr: strongSwan %s/%d, ours %v/%d", sw.EncrAlg, sw.EncrKeysize, s.Encr, s.EncrKey)
	}
	if sw.IntegAlg != s.Integ.String() || sw.PRFAlg != s.PRF.String() || sw.DHGroup != s.DH.String() {
		return fmt.Errorf("IKE integ/prf/dh: strongSwan %s/%s/%s, ours %v/%v/%v", sw.IntegAlg, sw.PRFAlg, sw.DHGroup, s.Integ, s.PRF, s.DH)
	}
	for _, ch := range sw.Children {
		if ch.State != "INSTALLED" {
			continue
		}
		var mc *v2.ChildSAStatus
		for i := range me.Children {
			if fmt.Sprintf("%08x", me.Children[i].OutSPI) == ch.SPIIn {
				mc = &me.Children[i]
			}
		}
		if mc == nil || fmt.Sprintf("%08x", mc.InSPI) != ch.SPIOut {
			return fmt.Errorf("IPsec SA SPIs: strongSwan in %s out %s, ours %+v", ch.SPIIn, ch.SPIOut, me.Children)
		}
		cs := mc.Suite
		if ch.EncrAlg != swanEncr[cs.Encr] || (cs.EncrKey != 0 && ch.EncrKeysize != cs.EncrKey) {
			return fmt.Errorf("ESP encr: strongSwan %s/%d, ours %v/%d", ch.EncrAlg, ch.EncrKeysize, cs.Encr, cs.EncrKey)
		}
		if cs.Integ != ikecrypto.IntegNone && ch.IntegAlg != cs.Integ.String() {
			return fmt.Errorf("ESP integ: strongSwan %s, ours %v", ch.IntegAlg, cs.Integ)
		}
		if cs.DH != 0 && ch.DHGroup != cs.DH.String() {
			return fmt.Errorf("PFS: strongSwan %q, ours %v", ch.DHGroup, cs.DH)
		}
		if ch.Encap != mc.Encap {
			return fmt.Errorf("encap: strongSwan %v, ours %v", ch.Encap, mc.Encap)
		}
	}
	return nil
}

// peerFor is our configuration mirroring the lab's default connection.
func peerFor(t testing.TB, b *lab.Bed, ike, esp string) *v1.Peer {
	remoteID := lab.GwAWanIP
	if b.Options().NAT {
		remoteID = lab.GwAWanNATIP
	}
	return &v1.Peer{Peer: v2.Peer{
		Name:  "gwA",
		Local: netip.MustParseAddr(lab.GwBWanIP), Remote: netip.MustParseAddr(lab.GwAWanIP),
		LocalID: v2.Identity(lab.GwBWanIP), RemoteID: v2.Identity(remoteID),
		PSK:      []byte(lab.DefaultPSK),
		IKE:      []ikecrypto.IKESuite{ikeSuite(t, ike)},
		ESP:      []ikecrypto.ChildSuite{espSuite(t, esp)},
		LocalTS:  []netip.Prefix{netip.MustParsePrefix(lab.ServerNet)},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix(lab.ClientNet)},
		NATT:     true, DPD: true,
	}}
}
