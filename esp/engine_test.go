package esp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/esp/fake"
	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// TestTunnelEverySuite runs a two-gateway tunnel for every transform, raw
// ESP and UDP encapsulated, in both directions, with sizes that exercise
// every padding length.
func TestTunnelEverySuite(t *testing.T) {
	for _, s := range xform.Suites() {
		for _, encap := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/encap=%v", s, encap), func(t *testing.T) {
				bd := newBed(t, bedOpts{suite: s, encap: encap})
				var onPort [2]int // datagrams to port 0 (raw ESP) and 4500
				bd.net.SetTap(func(_, to netip.AddrPort, _ []byte) bool {
					onPort[min(to.Port(), 1)]++
					return true
				})
				for size := 32; size < 48; size++ {
					bd.pass(t, bd.a, bd.b, hostA, hostB, 1, size, uint32(size))
				}
				bd.pass(t, bd.a, bd.b, hostA, hostB, 40, 1300, 1000)
				bd.pass(t, bd.b, bd.a, hostB, hostA, 40, 200, 2000)
				st := bd.b.e.Stats()
				if st.Tunnels[0].PacketsIn != 56 || st.Tunnels[0].PacketsOut != 40 {
					t.Fatalf("tunnel counters %+v", st.Tunnels[0].Counters)
				}
				for r, n := range st.Drops {
					if n != 0 {
						t.Fatalf("unexpected drops %v=%d", DropReason(r), n)
					}
				}
				if want := 96; encap && onPort != [2]int{0, want} || !encap && onPort != [2]int{want, 0} {
					t.Fatalf("datagrams by port (raw, 4500) = %v", onPort)
				}
			})
		}
	}
}

// TestReorderAndDuplicates: a wire that reorders and duplicates still
// delivers every packet exactly once; duplicates are counted as replays.
func TestReorderAndDuplicates(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	bd.net.SetImpairment(fake.Impairment{Reorder: 0.3, Duplicate: 0.2})
	const n = 500
	for i := 0; i < n; i++ {
		bd.a.tun.Inject(ipv4(hostA, hostB, 100, uint32(i), false))
	}
	got := bd.b.collect(t, n-1, 5*time.Second) // the last one may be held back
	bd.net.Flush()
	got2 := bd.b.collect(t, n-len(got), time.Second)
	if len(got)+len(got2) != n {
		t.Fatalf("delivered %d of %d", len(got)+len(got2), n)
	}
	if bd.b.e.Stats().Drops[DropReplay] == 0 {
		t.Fatal("duplicates were not counted as replays")
	}
}

// TestDropsByReason injects replayed, corrupted, unknown-SPI, short and
// badly padded packets and checks each is dropped and counted by reason.
func TestDropsByReason(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	var captured [][]byte
	bd.net.SetTap(func(from, to netip.AddrPort, pkt []byte) bool {
		if from.Addr() == addrA {
			captured = append(captured, append([]byte(nil), pkt...))
		}
		return true
	})
	bd.pass(t, bd.a, bd.b, hostA, hostB, 3, 100, 0)
	bd.net.SetTap(nil)
	from, to := netip.AddrPortFrom(addrA, 4500), netip.AddrPortFrom(addrB, 4500)

	// Replay of an accepted packet.
	bd.net.Inject(from, to, captured[0])
	waitDrops(t, bd.b.e, DropReplay, 1)

	// Corrupted ciphertext with a fresh sequence number: ICV fails, and the
	// window must not move (the same sequence number later still works).
	c := append([]byte(nil), captured[1]...)
	binary.BigEndian.PutUint32(c[4:], 100)
	bd.net.Inject(from, to, c)
	waitDrops(t, bd.b.e, DropICV, 1)

	// Unknown SPI, short packet.
	u := append([]byte(nil), captured[2]...)
	binary.BigEndian.PutUint32(u, 0xdead)
	bd.net.Inject(from, to, u)
	waitDrops(t, bd.b.e, DropUnknownSPI, 1)
	bd.net.Inject(from, to, []byte{1, 2, 3, 4, 5})
	waitDrops(t, bd.b.e, DropMalformed, 1)

	// Valid ICV around bad padding: seal by hand with padding 1, 2, 4.
	x, err := xform.New(bd.suite, keysEnc(t, bd.suite, spiAtoB), nil)
	must(t, err)
	inner := ipv4(hostA, hostB, 41, 77, false)
	buf := make([]byte, bufSize)
	copy(buf[headroom:], inner)
	start, end, ok := encap(x, spiAtoB, 50, false, protoIPv4, buf, headroom, len(inner))
	if !ok {
		t.Fatal("encap failed")
	}
	// Re-seal with the padding altered: decrypt is not needed, just rebuild.
	copy(buf[headroom:], inner)
	padded := buf[headroom+len(inner) : end-x.ICVLen()]
	padded[len(padded)-3] = 9 // a pad byte (padding is 1, 2, 3 here)
	x.Seal(buf[start:end], 0, false)
	bd.net.Inject(from, to, buf[start:end])
	waitDrops(t, bd.b.e, DropBadPadding, 1)

	// The ICV-failed sequence number 100 is still acceptable.
	seq100 := sealed(t, x, 100, ipv4(hostA, hostB, 60, 99, false))
	bd.net.Inject(from, to, seq100)
	if got := bd.b.collect(t, 1, 2*time.Second); got[99] == nil {
		t.Fatal("a valid packet after a forged one with the same sequence number was not delivered")
	}
	st := bd.b.e.Stats()
	if st.Tunnels[0].Drops[DropICV] != 1 || st.Tunnels[0].Drops[DropReplay] != 1 {
		t.Fatalf("tunnel drops %v", st.Tunnels[0].Drops)
	}
}

func keysEnc(t *testing.T, s xform.Suite, spi uint32) []byte {
	enc, _ := keys(t, s, byte(spi))
	return enc
}

// sealed builds a complete ESP packet for SPI spiAtoB.
func sealed(t *testing.T, x xform.Transform, seq uint64, inner []byte) []byte {
	buf := make([]byte, bufSize)
	copy(buf[headroom:], inner)
	start, end, ok := encap(x, spiAtoB, seq, false, protoIPv4, buf, headroom, len(inner))
	if !ok {
		t.Fatal("encap failed")
	}
	return buf[start:end]
}

// TestRekeyUnderLoad: make-before-break rekeying loses nothing. B installs
// the new inbound SA, A switches its outbound SA mid-stream, and B removes
// the old inbound SA only after the grace period.
func TestRekeyUnderLoad(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	const n = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			bd.a.tun.Inject(ipv4(hostA, hostB, 200, uint32(i), false))
			if i == n/3 {
				// Switch while packets are in flight: wait until some have
				// gone out on the old SA, not until all have.
				for bd.a.e.Stats().Tunnels[0].PacketsOut < 100 {
					time.Sleep(time.Millisecond)
				}
				if err := bd.b.e.AddInbound(saCfg(t, bd.suite, 0x1002, false, Lifetime{})); err != nil {
					t.Error(err)
				}
				if err := bd.a.e.SetOutbound(1, saCfg(t, bd.suite, 0x1002, false, Lifetime{})); err != nil {
					t.Error(err)
				}
				bd.b.e.RemoveInbound(spiAtoB, 30*time.Second)
			}
		}
	}()
	got := bd.b.collect(t, n, 10*time.Second)
	<-done
	if len(got) != n {
		t.Fatalf("delivered %d of %d across the rekey; drops %v", len(got), n, bd.b.e.Stats().Drops)
	}
	// Grace over: the old SA goes.
	bd.clk.Advance(31 * time.Second)
	bd.b.e.Housekeep()
	for _, sa := range bd.b.e.Stats().SAs {
		if sa.Direction == Inbound && sa.SPI == spiAtoB {
			t.Fatal("old inbound SA still installed after its grace period")
		}
	}
	st := bd.a.e.Stats()
	var oldOut, newOut uint64
	for _, sa := range st.SAs {
		if sa.Direction == Outbound && sa.SPI == spiAtoB {
			oldOut = sa.PacketsOut
			if !sa.Retired {
				t.Fatal("old outbound SA not marked retired")
			}
		}
		if sa.Direction == Outbound && sa.SPI == 0x1002 {
			newOut = sa.PacketsOut
		}
	}
	if oldOut == 0 || newOut == 0 || oldOut+newOut != n {
		t.Fatalf("outbound SA counters old=%d new=%d, want sum %d", oldOut, newOut, n)
	}
}

// TestLifetimeEvents: soft and hard limits by packets, bytes and time.
func TestLifetimeEvents(t *testing.T) {
	t.Run("packets", func(t *testing.T) {
		bd := newBed(t, bedOpts{lifetime: Lifetime{SoftPackets: 10, HardPackets: 20}})
		bd.pass(t, bd.a, bd.b, hostA, hostB, 10, 100, 0)
		ev := bd.a.waitEvent(t, SoftExpire, time.Second)
		if ev.SPI != spiAtoB || ev.Tunnel != 1 {
			t.Fatalf("soft expire event %+v", ev)
		}
		bd.pass(t, bd.a, bd.b, hostA, hostB, 10, 100, 100)
		bd.a.waitEvent(t, HardExpire, time.Second)
		bd.a.tun.Inject(ipv4(hostA, hostB, 100, 500, false))
		waitDrops(t, bd.a.e, DropExpired, 1)
	})
	t.Run("bytes", func(t *testing.T) {
		bd := newBed(t, bedOpts{lifetime: Lifetime{SoftBytes: 1000}})
		bd.pass(t, bd.a, bd.b, hostA, hostB, 11, 100, 0)
		bd.a.waitEvent(t, SoftExpire, time.Second)
		bd.b.waitEvent(t, SoftExpire, time.Second) // inbound SA counts too
	})
	t.Run("time", func(t *testing.T) {
		bd := newBed(t, bedOpts{lifetime: Lifetime{SoftTime: time.Hour, HardTime: 2 * time.Hour}})
		bd.clk.Advance(59 * time.Minute)
		bd.a.e.Housekeep()
		select {
		case ev := <-bd.a.events:
			t.Fatalf("early event %+v", ev)
		case <-time.After(50 * time.Millisecond):
		}
		bd.clk.Advance(time.Minute)
		bd.a.e.Housekeep()
		bd.a.waitEvent(t, SoftExpire, time.Second)
		bd.clk.Advance(time.Hour)
		bd.a.e.Housekeep()
		bd.a.waitEvent(t, HardExpire, time.Second)
	})
}

// TestSeqExhausted: a 32-bit SA reports exhaustion before the end and stops
// sending at 2^32-1 rather than wrap (RFC 4303 §3.3.3).
func TestSeqExhausted(t *testing.T) {
	bd := newBed(t, bedOpts{})
	sa := (*bd.a.e.tunnels.Load())[1].out.Load()
	sa.seq.Store(maxSeq32 - seqReserve - 2)
	bd.pass(t, bd.a, bd.b, hostA, hostB, 2, 100, 0) // gets warnAt-1, warnAt
	bd.a.waitEvent(t, SeqExhausted, time.Second)
	sa.seq.Store(maxSeq32 - 1)
	bd.pass(t, bd.a, bd.b, hostA, hostB, 1, 100, 10) // the last sequence number
	bd.a.tun.Inject(ipv4(hostA, hostB, 100, 11, false))
	waitDrops(t, bd.a.e, DropSeqExhausted, 1)
	bd.b.quiet(t, 50*time.Millisecond)
}

// TestESNAcrossBoundary: with ESN the sequence number crosses 2^32 and the
// receiver infers the high bits (RFC 4303 Appendix A).
func TestESNAcrossBoundary(t *testing.T) {
	bd := newBed(t, bedOpts{esn: true, encap: true})
	out := (*bd.a.e.tunnels.Load())[1].out.Load()
	out.seq.Store(1<<32 - 20)
	in := (*bd.b.e.inbound.Load())[spiAtoB]
	in.win.Accept(1<<32 - 30)
	bd.pass(t, bd.a, bd.b, hostA, hostB, 50, 100, 0)
	if hi := in.top.Load(); hi != 1<<32+30 {
		t.Fatalf("window top %#x, want %#x", hi, uint64(1<<32+30))
	}
}

// TestAcquireQueueFlush: traffic for a tunnel without SA queues, raises
// Acquire once, and is sent when SetOutbound installs the SA.
func TestAcquireQueueFlush(t *testing.T) {
	bd := newBed(t, bedOpts{noSA: true, encap: true})
	must(t, bd.b.e.AddInbound(saCfg(t, bd.suite, spiAtoB, false, Lifetime{})))
	for i := 0; i < 70; i++ {
		bd.a.tun.Inject(ipv4(hostA, hostB, 100, uint32(i), false))
	}
	ev := bd.a.waitEvent(t, Acquire, time.Second)
	if ev.Tunnel != 1 {
		t.Fatalf("acquire for tunnel %d", ev.Tunnel)
	}
	waitDrops(t, bd.a.e, DropQueueFull, 6)
	if q := bd.a.e.Stats().Tunnels[0].Queued; q != 64 {
		t.Fatalf("queued %d, want 64", q)
	}
	select {
	case ev := <-bd.a.events:
		t.Fatalf("second event %+v within the rate limit", ev)
	default:
	}
	must(t, bd.a.e.SetOutbound(1, saCfg(t, bd.suite, spiAtoB, false, Lifetime{})))
	got := bd.b.collect(t, 64, 2*time.Second)
	if len(got) != 64 {
		t.Fatalf("flushed %d of 64", len(got))
	}
	for i := uint32(0); i < 64; i++ {
		if got[i] == nil {
			t.Fatalf("packet %d missing after flush", i)
		}
	}
}

// TestNoPolicy: traffic no policy selects is dropped and counted.
func TestNoPolicy(t *testing.T) {
	bd := newBed(t, bedOpts{})
	bd.a.tun.Inject(ipv4(hostA, netip.MustParseAddr("10.9.0.1"), 100, 1, false))
	bd.a.tun.Inject(ipv4(netip.MustParseAddr("10.8.0.1"), hostB, 100, 2, false)) // source outside Local
	waitDrops(t, bd.a.e, DropNoPolicy, 2)
	bd.b.quiet(t, 30*time.Millisecond)
}

// TestFragNeeded: an inner DF packet that does not fit the tunnel gets an
// ICMP type 3 code 4 with the tunnel's inner MTU; without DF it is sent.
func TestFragNeeded(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true, pathMTU: 1400})
	mtu := InnerMTU(1400, bd.suite, true)
	big := ipv4(hostA, hostB, mtu+1, 7, true)
	bd.a.tun.Inject(big)
	icmp, ok := bd.a.tun.Next(2 * time.Second)
	if !ok {
		t.Fatal("no ICMP written back")
	}
	if icmp[9] != 1 || icmp[20] != 3 || icmp[21] != 4 {
		t.Fatalf("not an ICMP frag-needed: %x", icmp[:24])
	}
	if got := int(binary.BigEndian.Uint16(icmp[26:])); got != mtu {
		t.Fatalf("next-hop MTU %d, want %d", got, mtu)
	}
	if fold(checksum(icmp[:20], 0)) != 0xffff || fold(checksum(icmp[20:], 0)) != 0xffff {
		t.Fatal("bad checksums")
	}
	if netip.AddrFrom4([4]byte(icmp[16:20])) != hostA || netip.AddrFrom4([4]byte(icmp[12:16])) != hostB {
		t.Fatal("ICMP addresses not reversed")
	}
	if string(icmp[28:48]) != string(big[:20]) {
		t.Fatal("ICMP does not quote the original header")
	}
	waitDrops(t, bd.a.e, DropTooBig, 1)
	// Exactly at the MTU passes; above it without DF passes too.
	bd.pass(t, bd.a, bd.b, hostA, hostB, 1, mtu, 100)
	bd.a.tun.Inject(ipv4(hostA, hostB, mtu+1, 101, false))
	if got := bd.b.collect(t, 1, 2*time.Second); got[101] == nil {
		t.Fatal("non-DF oversize packet not sent")
	}
}

// TestMSSClamp: a SYN's MSS is lowered to fit the tunnel, checksum fixed.
func TestMSSClamp(t *testing.T) {
	bd := newBed(t, bedOpts{clamp: true, pathMTU: 1400})
	syn := make([]byte, 44)
	syn[0] = 0x45
	binary.BigEndian.PutUint16(syn[2:], 44)
	syn[8], syn[9] = 64, protoTCP
	copy(syn[12:], hostA.AsSlice())
	copy(syn[16:], hostB.AsSlice())
	binary.BigEndian.PutUint16(syn[10:], ^fold(checksum(syn[:20], 0)))
	tcp := syn[20:]
	binary.BigEndian.PutUint32(tcp[4:], 0x12345678) // seq; also the collect id
	tcp[12] = 6 << 4                                // data offset 24
	tcp[13] = 0x02                                  // SYN
	tcp[20], tcp[21] = 2, 4
	binary.BigEndian.PutUint16(tcp[22:], 1460)
	binary.BigEndian.PutUint16(tcp[16:], ^fold(tcpSum(syn)))
	bd.a.tun.Inject(syn)
	p, ok := bd.b.tun.Next(2 * time.Second)
	if !ok {
		t.Fatal("SYN not delivered")
	}
	want := InnerMTU(1400, bd.suite, false) - 40
	if got := int(binary.BigEndian.Uint16(p[42:])); got != want {
		t.Fatalf("MSS %d, want %d", got, want)
	}
	if fold(tcpSum(p)) != 0xffff {
		t.Fatal("TCP checksum wrong after clamping")
	}
}

func tcpSum(p []byte) uint32 {
	s := checksum(p[12:20], 0) + protoTCP + uint32(len(p)-20)
	return checksum(p[20:], s)
}

// TestIKEAndKeepalives: the UDP port is shared with IKE behind the non-ESP
// marker; keepalives are counted and sent every 20 s when enabled.
func TestIKEAndKeepalives(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true, keepalive: true})
	must(t, bd.a.e.SendIKE([]byte("ike-message"), netip.AddrPort{}, netip.AddrPortFrom(addrB, 4500)))
	select {
	case m := <-bd.b.ike:
		if string(m) != "ike-message" {
			t.Fatalf("OnIKE got %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("OnIKE not called")
	}
	bd.clk.Advance(keepaliveEvery)
	bd.a.e.Housekeep()
	bd.a.e.Housekeep() // not twice within the interval
	for i := 0; i < 100 && bd.b.e.Stats().KeepalivesIn == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if st := bd.b.e.Stats(); st.KeepalivesIn != 1 || st.IKEIn != 1 {
		t.Fatalf("keepalives in %d, IKE in %d", st.KeepalivesIn, st.IKEIn)
	}
	if st := bd.a.e.Stats(); st.Tunnels[0].Keepalives != 1 {
		t.Fatalf("keepalives sent %d", st.Tunnels[0].Keepalives)
	}
}

// TestPeerMoved: a NAT rebinding moves the tunnel, but only for packets
// that pass the ICV (RFC 7296 §2.23, §2.21).
func TestPeerMoved(t *testing.T) {
	bd := newBed(t, bedOpts{encap: true})
	var captured []byte
	bd.net.SetTap(func(from, to netip.AddrPort, pkt []byte) bool {
		if from.Addr() == addrB && len(pkt) > 8 {
			captured = append([]byte(nil), pkt...)
		}
		return true
	})
	bd.pass(t, bd.b, bd.a, hostB, hostA, 1, 100, 0)
	bd.net.SetTap(nil)
	natted := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), 33000)
	to := netip.AddrPortFrom(addrA, 4500)

	// Forged (replayed with a new sequence number → ICV fails): no move.
	f := append([]byte(nil), captured...)
	binary.BigEndian.PutUint32(f[4:], 9)
	bd.net.Inject(natted, to, f)
	waitDrops(t, bd.a.e, DropICV, 1)
	if r := bd.a.e.Stats().Tunnels[0].Remote; r != netip.AddrPortFrom(addrB, 4500) {
		t.Fatalf("unauthenticated packet moved the peer to %v", r)
	}
	// Authenticated packet from the new address: move.
	x, err := xform.New(bd.suite, keysEnc(t, bd.suite, spiBtoA), nil)
	must(t, err)
	pkt := sealedSPI(t, x, spiBtoA, 5, ipv4(hostB, hostA, 80, 42, false))
	bd.net.Inject(natted, to, pkt)
	ev := bd.a.waitEvent(t, PeerMoved, 2*time.Second)
	if ev.Remote != natted {
		t.Fatalf("moved to %v", ev.Remote)
	}
	if r := bd.a.e.Stats().Tunnels[0].Remote; r != natted {
		t.Fatalf("tunnel remote %v", r)
	}
}

func sealedSPI(t *testing.T, x xform.Transform, spi uint32, seq uint64, inner []byte) []byte {
	buf := make([]byte, bufSize)
	copy(buf[headroom:], inner)
	start, end, ok := encap(x, spi, seq, false, protoIPv4, buf, headroom, len(inner))
	if !ok {
		t.Fatal("encap failed")
	}
	return buf[start:end]
}

// TestSelectorCheck: a decrypted packet whose inner addresses lie outside
// the tunnel's policies is dropped (RFC 4301 §5.2).
func TestSelectorCheck(t *testing.T) {
	bd := newBed(t, bedOpts{})
	must(t, bd.a.e.SetPolicies([]Policy{
		{Local: lanA, Remote: lanB, Tunnel: 1},
		{Local: lanA, Remote: netip.MustParsePrefix("10.3.0.0/24"), Tunnel: 1},
	}))
	bd.a.tun.Inject(ipv4(hostA, netip.MustParseAddr("10.3.0.1"), 100, 1, false))
	waitDrops(t, bd.b.e, DropSelector, 1)
}

// TestOverheadHelpers checks InnerMTU and Overhead against real packets.
func TestOverheadHelpers(t *testing.T) {
	for _, s := range xform.Suites() {
		enc, integ := keys(t, s, 1)
		x, err := xform.New(s, enc, integ)
		must(t, err)
		for _, encapUDP := range []bool{false, true} {
			mtu := InnerMTU(1500, s, encapUDP)
			buf := make([]byte, 4096)
			outer := outerLen(false, encapUDP)
			start, end, ok := encap(x, 0x1000, 1, false, protoIPv4, buf, 128, mtu)
			if !ok || end-start+outer > 1500 {
				t.Fatalf("%v: inner MTU %d gives %d bytes", s, mtu, end-start+outer)
			}
			start, end, _ = encap(x, 0x1000, 1, false, protoIPv4, buf, 128, mtu+1)
			if end-start+outer <= 1500 {
				t.Fatalf("%v: inner MTU %d is not the largest", s, mtu)
			}
			if o := Overhead(s, encapUDP); o < 1500-mtu || o > 1500-mtu+x.BlockSize() {
				t.Fatalf("%v: overhead %d vs inner MTU %d", s, o, mtu)
			}
		}
	}
}
