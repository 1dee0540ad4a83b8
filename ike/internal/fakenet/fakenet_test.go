package fakenet

import (
	"net/netip"
	"testing"
	"time"
)

type got struct{ local, remote chan netip.AddrPort }

func (g got) HandlePacket(_ []byte, local, remote netip.AddrPort) {
	g.local <- local
	g.remote <- remote
}

// TestNetNAT: a datagram from the inside address arrives from the NAT's
// address with the port moved by 1000, and the reply is translated back.
func TestNetNAT(t *testing.T) {
	in, out, nat := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.7")
	a, b := got{make(chan netip.AddrPort, 1), make(chan netip.AddrPort, 1)}, got{make(chan netip.AddrPort, 1), make(chan netip.AddrPort, 1)}
	n := NewNet()
	n.Attach(in, a)
	n.Attach(out, b)
	n.SetNAT(in, nat)
	n.Send([]byte{1}, netip.AddrPortFrom(in, 500), netip.AddrPortFrom(out, 500))
	if l, r := <-b.local, <-b.remote; l != netip.AddrPortFrom(out, 500) || r != netip.AddrPortFrom(nat, 1500) {
		t.Fatalf("B received on %v from %v", l, r)
	}
	n.Send([]byte{1}, netip.AddrPortFrom(out, 500), netip.AddrPortFrom(nat, 1500))
	if l, r := <-a.local, <-a.remote; l != netip.AddrPortFrom(in, 500) || r != netip.AddrPortFrom(out, 500) {
		t.Fatalf("A received on %v from %v", l, r)
	}
	n.SetDrop(func([]byte, netip.AddrPort, netip.AddrPort) bool { return true })
	n.Send([]byte{1}, netip.AddrPortFrom(in, 500), netip.AddrPortFrom(out, 500))
	if n.Sent() != 3 {
		t.Fatalf("Sent = %d, want 3 (dropped ones count)", n.Sent())
	}
	select {
	case <-b.local:
		t.Fatal("dropped datagram delivered")
	case <-time.After(20 * time.Millisecond):
	}
}

// TestClock: a timer fires only once Advance passes its deadline, and a
// stopped one never does.
func TestClock(t *testing.T) {
	c := NewClock(time.Millisecond)
	t1, t2 := c.NewTimer(10*time.Second), c.NewTimer(5*time.Second)
	t2.Stop()
	c.Advance(9*time.Second, time.Second)
	select {
	case <-t1.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Second, time.Second)
	select {
	case at := <-t1.C():
		if at != time.Unix(1_700_000_010, 0) {
			t.Fatalf("fired at %v", at)
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	select {
	case <-t2.C():
		t.Fatal("stopped timer fired")
	default:
	}
	r := &Recorder[any]{}
	r.On(1)
	r.On("x")
	if s := Of[string](r); len(s) != 1 || s[0] != "x" || len(r.All()) != 2 {
		t.Fatalf("recorder: %v", r.All())
	}
}
