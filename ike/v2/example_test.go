package v2_test

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/transport"
	v2 "github.com/ipsecgw/ipsecgw/ike/v2"
)

// A standalone negotiator: real sockets, one configured peer, events to
// the data plane.
func ExampleManager() {
	local := netip.MustParseAddr("192.0.2.2")
	tr, err := transport.Listen(local, 0, 0) // UDP 500 and 4500
	if err != nil {
		panic(err)
	}
	peer := &v2.Peer{
		Name: "hq", Local: local, Remote: netip.MustParseAddr("192.0.2.1"),
		RemoteID: "192.0.2.1", PSK: []byte("s3cret-PSK"),
		IKE: []ikecrypto.IKESuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128,
			PRF: ikecrypto.PRFHMACSHA1, Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}},
		ESP: []ikecrypto.ChildSuite{{Encr: ikecrypto.EncrAESCBC, EncrKey: 128,
			Integ: ikecrypto.IntegHMACSHA196, DH: ikecrypto.MODP1024}}, // DH: PFS on rekeys
		IKELifetime: 24 * time.Hour, ChildLifetime: 24 * time.Hour,
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		DPD:      true, NATT: true,
	}
	var m *v2.Manager
	m, err = v2.New(v2.Config{
		Send: tr.Send,
		Lookup: func(l, r netip.AddrPort, id *v2.Identity) (*v2.Peer, bool) {
			return peer, r.Addr() == peer.Remote
		},
		OnEvent: func(e v2.Event) {
			switch e := e.(type) {
			case v2.ChildUp:
				_ = e // install e.InSPI/e.OutSPI with their keys; Encap means ESP in UDP
			case v2.ChildDown:
				_ = e // remove the pair
			case v2.IKEDown:
				if e.Reason == v2.ReasonDeadPeer {
					m.Initiate(peer) // the product re-initiates after DPD
				}
			}
		},
		Logger: slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	go tr.Serve(m.HandlePacket)
	m.Initiate(peer)
	// ... m.SAs() for status, m.Rekey("hq", false), m.Terminate("hq")
	m.Close()
	tr.Close()
}
