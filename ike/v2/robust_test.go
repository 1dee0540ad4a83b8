package v2

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/ike/ikecrypto"
	"github.com/ipsecgw/ipsecgw/ike/internal/fakenet"
	"github.com/ipsecgw/ipsecgw/ike/message"
)

// capture is a Send that records datagrams.
type capture struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (c *capture) send(pkt []byte, _, _ netip.AddrPort) error {
	c.mu.Lock()
	c.pkts = append(c.pkts, append([]byte(nil), pkt...))
	c.mu.Unlock()
	return nil
}

func (c *capture) last(t *testing.T) *message.Message {
	t.Helper()
	var m *message.Message
	eventually(t, "an answer", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.pkts) == 0 {
			return false
		}
		var err error
		m, err = message.ParseMessage(c.pkts[len(c.pkts)-1])
		if err != nil {
			t.Fatalf("unparseable answer: %v", err)
		}
		return true
	})
	return m
}

func newResponder(t *testing.T, c *capture) *Manager {
	peer := defaultPeer("p", addrB, addrA)
	m, err := New(Config{Send: c.send, Logger: testLogger(t), Clock: fakenet.NewClock(2 * time.Millisecond),
		Lookup: func(netip.AddrPort, netip.AddrPort, *Identity) (*Peer, bool) { return peer, true }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

var (
	apA = netip.AddrPortFrom(addrA, 500)
	apB = netip.AddrPortFrom(addrB, 500)
)

func notifyOf(t *testing.T, m *message.Message) message.NotifyType {
	t.Helper()
	if len(m.Payloads) == 0 {
		t.Fatal("no payload")
	}
	n, ok := m.Payloads[0].(*message.Notify)
	if !ok {
		t.Fatalf("first payload %T", m.Payloads[0])
	}
	return n.NotifyType
}

// TestErrorNotifies checks the prescribed answers to bad input (§2.21,
// §1.5, §2.5).
func TestErrorNotifies(t *testing.T) {
	c := &capture{}
	m := newResponder(t, c)
	hdr := func(ver uint8, exch message.ExchangeType, spiR uint64, flags message.Flags, payloads []byte, next message.PayloadType) []byte {
		h := message.Header{SPIi: 0x1122334455667788, SPIr: spiR, NextPayload: next, MajorVersion: ver, Exchange: exch, Flags: flags}
		b := message.AppendHeader(nil, &h)
		b = append(b, payloads...)
		binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
		return b
	}
	// Major version 3: INVALID_MAJOR_VERSION.
	m.HandlePacket(hdr(3, message.IKE_SA_INIT, 0, message.FlagInitiator, nil, 0), apB, apA)
	if r := c.last(t); notifyOf(t, r) != message.INVALID_MAJOR_VERSION || !r.IsResponse() || r.MajorVersion != 2 {
		t.Fatalf("version: %v", r.Header.String())
	}
	// An unknown critical payload: UNSUPPORTED_CRITICAL_PAYLOAD.
	crit := []byte{0, 0x80, 0, 8, 1, 2, 3, 4}
	m.HandlePacket(hdr(2, message.IKE_SA_INIT, 0, message.FlagInitiator, crit, 200), apB, apA)
	if r := c.last(t); notifyOf(t, r) != message.UNSUPPORTED_CRITICAL_PAYLOAD {
		t.Fatalf("critical: %v", notifyOf(t, r))
	}
	// A truncated payload: INVALID_SYNTAX.
	m.HandlePacket(hdr(2, message.IKE_SA_INIT, 0, message.FlagInitiator, []byte{0, 0, 0, 40}, message.PayloadSA), apB, apA)
	if r := c.last(t); notifyOf(t, r) != message.INVALID_SYNTAX {
		t.Fatalf("syntax: %v", notifyOf(t, r))
	}
	// A request for an unknown SA: INVALID_IKE_SPI.
	m.HandlePacket(hdr(2, message.INFORMATIONAL, 0x99, message.FlagInitiator, nil, 0), apB, apA)
	if r := c.last(t); notifyOf(t, r) != message.INVALID_IKE_SPI || !r.IsResponse() {
		t.Fatalf("spi: %v", notifyOf(t, r))
	}
	if len(m.SAs()) != 0 {
		t.Fatal("state created by bad input")
	}
}

// TestGarbageNeverCrashes feeds random and mutated datagrams.
func TestGarbageNeverCrashes(t *testing.T) {
	p := newPair(t, nil)
	p.establish()
	var seed [32]byte
	r := rand.New(rand.NewChaCha8(seed))
	var sample []byte
	var mu sync.Mutex
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		mu.Lock()
		defer mu.Unlock()
		if sample == nil && len(pkt) > 40 {
			sample = append([]byte(nil), pkt...)
		}
		return false
	})
	p.a.Rekey("toB", false)
	eventually(t, "a sample", func() bool { mu.Lock(); defer mu.Unlock(); return sample != nil })
	for i := 0; i < 3000; i++ {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, r.IntN(300))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			if len(b) >= 28 {
				b[17] = 0x20
				binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
			}
		} else {
			b = append([]byte(nil), sample...)
			for k := 0; k < 1+r.IntN(4); k++ {
				b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
			}
		}
		p.b.HandlePacket(b, apB, apA)
	}
	// Still alive and intact.
	time.Sleep(50 * time.Millisecond)
	if len(established(p.b)) != 1 || len(established(p.a)) != 1 {
		t.Fatal("garbage broke the SA")
	}
}

// TestForgedDeleteIgnored: a Delete that fails the ICV changes nothing
// (§2.21: unauthenticated input never changes state).
func TestForgedDeleteIgnored(t *testing.T) {
	p := newPair(t, nil)
	a, _ := p.establish()
	h := message.Header{SPIi: a.SPIi, SPIr: a.SPIr, MajorVersion: 2, Exchange: message.INFORMATIONAL,
		Flags: message.FlagInitiator, MessageID: 2}
	msg := &message.Message{Header: h}
	b, err := msg.MarshalSealed([]message.Payload{&message.Delete{Protocol: message.ProtocolIKE}},
		func(n int) int { return 16 + (n+16)/16*16 + 12 },
		func(m, pt []byte) error { copy(m[len(m)-12-16:], bytes.Repeat([]byte{7}, 16)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	p.b.HandlePacket(b, apB, apA)
	time.Sleep(50 * time.Millisecond)
	if len(established(p.b)) != 1 {
		t.Fatal("forged delete accepted")
	}
	if p.b.Stats().AuthFailures == 0 {
		t.Fatal("ICV failure not counted")
	}
}

// TestTransportModeRefused: a USE_TRANSPORT_MODE request still gets a
// tunnel-mode CHILD_SA (§1.3.1), which the initiator accepts.
func TestTransportModeRefused(t *testing.T) {
	p := newPair(t, nil)
	// Inject USE_TRANSPORT_MODE into A's IKE_AUTH by wrapping build.
	p.peerA.Name = "toB"
	a, b := p.establish()
	if len(a.Children) != 1 || len(b.Children) != 1 {
		t.Fatal("no child")
	}
	// Responder side directly: respondChild ignores the notify.
	sa := &ikeSA{m: p.b, peer: p.peerB, log: testLogger(t), prf: mustPRF(ikecrypto.PRFHMACSHA1)}
	sa.keys.D = make([]byte, 20)
	ps := []message.Payload{message.NewNotify(message.USE_TRANSPORT_MODE, nil),
		espProposals(p.peerA.ESP, 0x1234, false),
		&message.TS{Selectors: selectors(p.peerA.LocalTS, addrA)},
		&message.TS{Responder: true, Selectors: selectors(p.peerA.RemoteTS, addrB)}}
	out, c, err := sa.respondChild(ps, []byte("ni"), []byte("nr"), true)
	if err != nil || c == nil {
		t.Fatal(err)
	}
	for _, x := range out {
		if n, ok := x.(*message.Notify); ok && n.NotifyType == message.USE_TRANSPORT_MODE {
			t.Fatal("transport mode echoed")
		}
	}
}

// TestPeerMoved: after NAT detection, an authenticated request from a new
// port moves the SA (RFC 7296 §2.23) and is reported.
func TestPeerMoved(t *testing.T) {
	p := newPair(t, nil)
	p.peerA.ForceEncap = true // B sees A "behind NAT"
	a, _ := p.establish()
	// Rewrite A's source port on the way to B.
	p.net.SetDrop(func(pkt []byte, from, to netip.AddrPort) bool {
		if from.Addr() == addrA {
			go p.b.HandlePacket(append([]byte(nil), pkt...), to, netip.AddrPortFrom(addrA, 40000))
			return true
		}
		return false
	})
	p.a.Rekey("toB", false)
	waitChildSPIChange(t, p.a, a.Children[0].InSPI)
	n, mv := count[PeerMoved](p.rb)
	if n != 1 || mv.To.Port() != 40000 || mv.From.Port() != 4500 {
		t.Fatalf("PeerMoved %d %+v", n, mv)
	}
	if st := established(p.b)[0]; st.Remote.Port() != 40000 {
		t.Fatalf("remote %v", st.Remote)
	}
}

// TestSimultaneousIKERekey: both ends rekey the IKE SA at once; one is
// refused with TEMPORARY_FAILURE, the other completes; one IKE SA remains.
func TestSimultaneousIKERekey(t *testing.T) {
	p := newPair(t, nil)
	a, _ := p.establish()
	p.a.Rekey("toB", true)
	p.b.Rekey("toA", true)
	for i := 0; i < 30; i++ {
		ea, eb := established(p.a), established(p.b)
		if len(ea) == 1 && len(eb) == 1 && ea[0].SPIi != a.SPIi && ea[0].SPIi == eb[0].SPIi && len(p.a.SAs()) == 1 && len(p.b.SAs()) == 1 {
			if len(ea[0].Children) != 1 || len(eb[0].Children) != 1 {
				t.Fatal("children lost")
			}
			return
		}
		p.clock.Advance(time.Second, 200*time.Millisecond)
	}
	t.Fatalf("no single rekeyed SA: %+v\n%+v", p.a.SAs(), p.b.SAs())
}

// TestNoGoroutineLeak: after Close every SA goroutine is gone.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		p := newPair(t, nil)
		p.establish()
		p.a.Rekey("toB", true)
		p.a.Close()
		p.b.Close()
	}
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= before+2 })
}
