package transport

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestMarkerHandling runs over loopback on high ports: IKE on 4500 carries
// the non-ESP marker on the wire and not in the handler; keepalives vanish;
// ESP goes to OnESP.
func TestMarkerHandling(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tr, err := Listen(lo, 0+35500, 35450)
	if err != nil {
		t.Skip("cannot bind loopback ports:", err)
	}
	got := make(chan []byte, 4)
	esp := make(chan []byte, 4)
	tr.OnESP = func(p []byte, _, _ netip.AddrPort) { esp <- p }
	done := make(chan struct{})
	go func() { tr.Serve(func(p []byte, _, _ netip.AddrPort) { got <- p }); close(done) }()

	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ike, natt := tr.LocalAddrs()
	send := func(b []byte, to netip.AddrPort) { peer.WriteToUDPAddrPort(b, to) }
	send([]byte("ike-on-500"), ike)
	send([]byte{0xff}, natt)
	send(append([]byte{0, 0, 0, 0}, []byte("ike-on-4500")...), natt)
	send([]byte{1, 2, 3, 4, 5, 6, 7, 8}, natt)
	want := map[string]bool{"ike-on-500": true, "ike-on-4500": true}
	for i := 0; i < 2; i++ {
		select {
		case p := <-got:
			if !want[string(p)] {
				t.Fatalf("unexpected IKE %q", p)
			}
			delete(want, string(p))
		case <-time.After(2 * time.Second):
			t.Fatal("timeout")
		}
	}
	select {
	case p := <-esp:
		if !bytes.Equal(p, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Fatalf("esp %x", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("esp timeout")
	}
	// Sending from 4500 adds the marker; keepalives go bare.
	pa := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	tr.Send([]byte("hello"), natt, pa)
	tr.Send([]byte{0xff}, natt, pa)
	buf := make([]byte, 100)
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, _ := peer.ReadFromUDPAddrPort(buf)
	if !bytes.Equal(buf[:n], []byte("\x00\x00\x00\x00hello")) {
		t.Fatalf("sent %q", buf[:n])
	}
	n, _, _ = peer.ReadFromUDPAddrPort(buf)
	if !bytes.Equal(buf[:n], []byte{0xff}) {
		t.Fatalf("keepalive %q", buf[:n])
	}
	tr.Close()
	<-done
}
