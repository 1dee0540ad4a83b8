package udpio

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

func listen(t *testing.T, o Options) *UDP {
	t.Helper()
	u, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// receiveAll reads until want datagrams arrived or the deadline passed.
func receiveAll(t *testing.T, b netio.Bind, want int) []netio.Message {
	t.Helper()
	var got []netio.Message
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < want {
			msgs := make([]netio.Message, 32)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 2048)
			}
			n, err := b.Receive(msgs)
			if err != nil {
				return
			}
			for _, m := range msgs[:n] {
				m.Buf = m.Buf[:m.N]
				got = append(got, m)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.Close()
		<-done
	}
	return got
}

// TestUDPBatchOffloads sends runs of equal-size datagrams (coalesced by GSO
// when enabled) and mixed sizes, and checks every datagram arrives intact,
// in order, with the sender's address, whether GRO coalesces or not.
func TestUDPBatchOffloads(t *testing.T) {
	for _, o := range []Options{{}, {NoGSO: true, NoGRO: true}, {ZeroChecksum: true}, {NoGRO: true}} {
		tx, rx := listen(t, o), listen(t, o)
		var msgs []netio.Message
		var want [][]byte
		for i := 0; i < 300; i++ {
			size := 1200
			if i%50 == 49 {
				size = 100 + i // a short one ends a GSO run
			}
			b := make([]byte, size)
			binary.BigEndian.PutUint32(b, uint32(i))
			for j := 4; j < size; j++ {
				b[j] = byte(i + j)
			}
			want = append(want, b)
			msgs = append(msgs, netio.Message{Buf: b, Remote: rx.LocalAddr()})
		}
		if err := tx.Send(msgs); err != nil {
			t.Fatalf("%+v: send: %v", o, err)
		}
		got := receiveAll(t, rx, len(want))
		if len(got) != len(want) {
			t.Fatalf("%+v (gso=%v gro=%v): received %d of %d", o, tx.GSO(), rx.GRO(), len(got), len(want))
		}
		for i, m := range got {
			if !bytes.Equal(m.Buf, want[i]) {
				t.Fatalf("%+v: datagram %d differs (len %d vs %d)", o, i, len(m.Buf), len(want[i]))
			}
			if m.Remote != tx.LocalAddr() {
				t.Fatalf("remote %v, want %v", m.Remote, tx.LocalAddr())
			}
		}
		if g, _ := tx.OffloadStats(); tx.GSO() != (g > 0) {
			t.Fatalf("%+v: %d GSO sends with GSO=%v", o, g, tx.GSO())
		}
		if _, c := rx.OffloadStats(); tx.GSO() && rx.GRO() && c == 0 {
			t.Fatalf("%+v: GSO sends were not received coalesced", o)
		}
		if o.ZeroChecksum && tx.GSO() {
			t.Fatal("zero checksum must disable GSO (Linux refuses it)")
		}
	}
}

// TestUDPDualStack: a [::] socket talks to an IPv4 peer (v4-mapped on
// the wire of the socket API, plain IPv4 addresses in Messages).
func TestUDPDualStack(t *testing.T) {
	d, err := ListenUDP(netip.MustParseAddrPort("[::]:0"), Options{})
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	defer d.Close()
	v4 := listen(t, Options{})
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), d.LocalAddr().Port())
	if err := v4.Send([]netio.Message{{Buf: []byte("ping"), Remote: to}}); err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, d, 1)
	if len(got) != 1 || got[0].Remote != v4.LocalAddr() {
		t.Fatalf("dual-stack receive: %+v", got)
	}
	if err := d.Send([]netio.Message{{Buf: []byte("pong"), Remote: got[0].Remote}}); err != nil {
		t.Fatal(err)
	}
	back := receiveAll(t, v4, 1)
	if len(back) != 1 || string(back[0].Buf) != "pong" {
		t.Fatalf("reply: %+v", back)
	}
}

// TestUDPAllocs: a batched send and receive allocate nothing.
func TestUDPAllocs(t *testing.T) {
	tx, rx := listen(t, Options{NoGRO: true}), listen(t, Options{NoGRO: true})
	out := make([]netio.Message, 16)
	in := make([]netio.Message, 16)
	for i := range out {
		out[i] = netio.Message{Buf: make([]byte, 1000), Remote: rx.LocalAddr()}
		in[i].Buf = make([]byte, 2048)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := tx.Send(out); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := rx.Receive(in)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("send+receive of a batch allocates %.1f", allocs)
	}
}

// TestRawESPLoopback sends ESP over a raw protocol-50 socket on loopback
// and receives it without the IP header. Needs root.
func TestRawESPLoopback(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	lo := netip.MustParseAddr("127.0.0.1")
	r, err := ListenRawESP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pkt := []byte{0, 0, 0x12, 0x34, 0, 0, 0, 1, 'h', 'e', 'l', 'l', 'o'}
	if err := r.Send([]netio.Message{{Buf: pkt, Remote: netip.AddrPortFrom(lo, 0)}}); err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, r, 1)
	if len(got) != 1 || !bytes.Equal(got[0].Buf, pkt) || got[0].Remote != netip.AddrPortFrom(lo, 0) {
		t.Fatalf("received %+v", got)
	}
}

// TestUDPPktinfo: an unbound socket reports the address each datagram was
// sent to and sends from the Local address it is given (IKE replies from
// the address it was reached on).
func TestUDPPktinfo(t *testing.T) {
	for _, o := range []Options{{}, {NoGRO: true}} {
		any, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"), o)
		if err != nil {
			t.Fatal(err)
		}
		peer := listen(t, o)
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), any.LocalAddr().Port())
		if err := peer.Send([]netio.Message{{Buf: []byte("ike"), Remote: to}}); err != nil {
			t.Fatal(err)
		}
		got := receiveAll(t, any, 1)
		if len(got) != 1 || got[0].Local != to {
			t.Fatalf("%+v: local %v, want %v", o, got, to)
		}
		// Reply from 127.0.0.5, a different local address.
		from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.5"), any.LocalAddr().Port())
		if err := any.Send([]netio.Message{{Buf: []byte("reply"), Local: from, Remote: peer.LocalAddr()}}); err != nil {
			t.Fatal(err)
		}
		back := receiveAll(t, peer, 1)
		if len(back) != 1 || back[0].Remote != from {
			t.Fatalf("%+v: reply came from %+v, want %v", o, back, from)
		}
		any.Close()
	}
}
