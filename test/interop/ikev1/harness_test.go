// Package ikev1 runs ipsecgw's IKEv1 negotiator (ike/v1 over real UDP
// sockets, ike/transport) inside gwB's network namespace against a real
// strongSwan 5.9.8 charon on gwA (test/lab), and checks that both ends
// list the same SAs. No mock stands in for strongSwan.
package ikev1

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/transport"
	v1 "github.com/ipsecgw/ipsecgw/ike/v1"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
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
	o.tr = interoptest.Listen(t, b)
	var err error
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
		Logger:          interoptest.Logger(t),
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

// waitBoth waits until strongSwan and we both list one established IKEv1
// SA with an installed IPsec SA whose SPIs and algorithms agree, and
// match (if any) accepts them.
func waitBoth(t testing.TB, c *lab.Charon, o *ours, timeout time.Duration, match func(lab.IKESA, v2.IKESAStatus) error) (lab.IKESA, v2.IKESAStatus) {
	t.Helper()
	return interoptest.WaitBoth(t, c, o.m.SAs, timeout, func(sw lab.IKESA, me v2.IKESAStatus) error {
		err := compare(sw, me)
		if err == nil && match != nil {
			err = match(sw, me)
		}
		return err
	})
}

// compare checks that both ends describe the same ISAKMP SA and that every
// IPsec SA strongSwan has installed is one of ours with the same SPIs,
// algorithms and PFS group.
func compare(sw lab.IKESA, me v2.IKESAStatus) error {
	if sw.Version != 1 {
		return fmt.Errorf("strongSwan SA is IKEv%d", sw.Version)
	}
	if err := interoptest.CompareIKE(sw, me); err != nil {
		return err
	}
	for _, ch := range sw.Children {
		if ch.State != "INSTALLED" {
			continue
		}
		mc, err := interoptest.CompareChild(ch, me)
		if err != nil {
			return err
		}
		if cs := mc.Suite; cs.DH != 0 && ch.DHGroup != cs.DH.String() {
			return fmt.Errorf("PFS: strongSwan %q, ours %v", ch.DHGroup, cs.DH)
		}
	}
	return nil
}

// peerFor is our configuration mirroring the lab's default connection.
func peerFor(t testing.TB, b *lab.Bed, ike, esp string) *v1.Peer {
	return &v1.Peer{Peer: interoptest.PeerFor(t, b, ike, esp)}
}
