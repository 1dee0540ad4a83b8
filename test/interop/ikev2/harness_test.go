// Package ikev2 runs ipsecgw's IKEv2 negotiator (ike/v2 over real UDP
// sockets, ike/transport) inside gwB's network namespace against a real
// strongSwan charon on gwA (test/lab), and checks that both ends list the
// same SAs. No mock stands in for strongSwan.
package ikev2

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/transport"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
	"github.com/ipsecgw/ipsecgw/test/interop/interoptest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// ours is the ipsecgw side running in gwB.
type ours struct {
	t    testing.TB
	m    *v2.Manager
	tr   *transport.Transport
	peer *v2.Peer

	mu     sync.Mutex
	events []v2.Event
	served chan struct{}
	esp    chan []byte // ESP-in-UDP datagrams received on 4500
}

// startOurs opens the sockets inside gwB and starts a Manager answering
// for peer (responder) and able to initiate it.
func startOurs(t testing.TB, b *lab.Bed, peer *v2.Peer, mods ...func(*v2.Config)) *ours {
	t.Helper()
	o := &ours{t: t, peer: peer, served: make(chan struct{}), esp: make(chan []byte, 64)}
	o.tr = interoptest.Listen(t, b)
	var err error
	cfg := v2.Config{
		Send: o.tr.Send,
		Lookup: func(local, remote netip.AddrPort, id *v2.Identity) (*v2.Peer, bool) {
			o.mu.Lock()
			defer o.mu.Unlock()
			return o.peer, o.peer != nil
		},
		OnEvent: func(e v2.Event) {
			o.mu.Lock()
			o.events = append(o.events, e)
			o.mu.Unlock()
		},
		Logger:     interoptest.Logger(t),
		Retransmit: v2.Retransmit{Initial: time.Second, Timeout: 15 * time.Second},
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	o.m, err = v2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o.tr.OnESP = func(pkt []byte, _, _ netip.AddrPort) {
		select {
		case o.esp <- pkt:
		default:
		}
	}
	go func() { o.tr.Serve(o.m.HandlePacket); close(o.served) }()
	t.Cleanup(o.stop)
	return o
}

func (o *ours) stop() {
	o.m.Close()
	o.tr.Close()
	<-o.served
}

func (o *ours) setPeer(p *v2.Peer) {
	o.mu.Lock()
	o.peer = p
	o.events = nil
	o.mu.Unlock()
}

func (o *ours) evs() []v2.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]v2.Event(nil), o.events...)
}

// waitBoth waits until strongSwan and we both list one established IKE SA
// with an installed CHILD_SA, then checks they agree on SPIs and
// algorithms. It returns both views.
func waitBoth(t testing.TB, c *lab.Charon, o *ours, timeout time.Duration) (lab.IKESA, v2.IKESAStatus) {
	t.Helper()
	return interoptest.WaitBoth(t, c, o.m.SAs, timeout, compare)
}

// compare checks that both ends describe the same IKE SA and CHILD_SA.
func compare(sw lab.IKESA, me v2.IKESAStatus) error {
	if err := interoptest.CompareIKE(sw, me); err != nil {
		return err
	}
	ch, _ := sw.InstalledChild()
	_, err := interoptest.CompareChild(ch, me)
	return err
}

// peerFor is our configuration mirroring the lab's default connection.
func peerFor(t testing.TB, b *lab.Bed, ike, esp string) *v2.Peer {
	p := interoptest.PeerFor(t, b, ike, esp)
	return &p
}
