package esp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/esp"
	"github.com/ipsecgw/ipsecgw/esp/fake"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// Example wires an engine the way the daemon does, with in-memory devices
// standing in for esp/tunio and esp/udpio: one UDP-encapsulated tunnel, a
// policy, and an SA pair. A packet for a tunnel without outbound SA raises
// Acquire; the control plane answers with SetOutbound.
func Example() {
	network := fake.NewNetwork(1)
	tun := fake.NewTUN(1400)
	udp := network.Bind(netip.MustParseAddrPort("192.0.2.2:4500"))
	events := make(chan esp.Event, 8)
	e, err := esp.New(esp.Config{
		TUN: tun, // tunio.Create("ipsecgw0", 1400) in the daemon
		UDP: udp, // udpio.ListenUDP(netip.MustParseAddrPort("192.0.2.2:4500"), udpio.Options{})
		OnIKE: func(pkt []byte, local, remote netip.AddrPort) {
			// hand a copy of pkt to the IKE SA that owns it
		},
		OnEvent: func(ev esp.Event) { events <- ev },
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	peer := network.Bind(netip.MustParseAddrPort("192.0.2.1:4500")) // the customer gateway
	_ = e.UpsertTunnel(1, esp.TunnelConfig{
		Remote: netip.MustParseAddrPort("192.0.2.1:4500"), Encap: true, MTU: 1500,
	})
	_ = e.SetPolicies([]esp.Policy{{
		Local:  netip.MustParsePrefix("10.2.0.0/24"),
		Remote: netip.MustParsePrefix("10.1.0.0/24"),
		Tunnel: 1,
	}})

	// Traffic before any SA: queued, and the control plane is asked.
	pkt := make([]byte, 60)
	pkt[0], pkt[3] = 0x45, 60
	copy(pkt[12:], []byte{10, 2, 0, 10})
	copy(pkt[16:], []byte{10, 1, 0, 10})
	tun.Inject(pkt)
	ev := <-events
	fmt.Println(ev.Kind, "tunnel", ev.Tunnel)

	// IKE negotiated a CHILD_SA: inbound first, then outbound.
	suite := xform.Suite{Encr: xform.EncrAESGCM16, KeyBits: 128}
	key := make([]byte, 20) // AES-128 key + 4-byte salt (RFC 4106 §8.1)
	_ = e.AddInbound(esp.SAConfig{SPI: 0xc0ffee01, Suite: suite, EncKey: key, Tunnel: 1,
		Lifetime: esp.Lifetime{SoftTime: 50 * time.Minute, HardTime: time.Hour}})
	_ = e.SetOutbound(1, esp.SAConfig{SPI: 0xc0ffee02, Suite: suite, EncKey: key,
		Lifetime: esp.Lifetime{SoftTime: 50 * time.Minute, HardTime: time.Hour}})

	msgs := []esp.Message{{Buf: make([]byte, 2048)}}
	n, _ := peer.Receive(msgs)
	fmt.Printf("%d ESP packet of %d bytes to the peer, SPI %x\n", n, msgs[0].N, msgs[0].Buf[:4])
	fmt.Println("inner MTU for a 1500-byte path:", esp.InnerMTU(1500, suite, true))
	// Output:
	// acquire tunnel 1
	// 1 ESP packet of 96 bytes to the peer, SPI c0ffee02
	// inner MTU for a 1500-byte path: 1438
}
