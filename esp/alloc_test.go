package esp

import (
	"net/netip"
	"os"
	"testing"

	"github.com/ipsecgw/ipsecgw/esp/xform"
)

// nopDevice and nopBind accept everything and allocate nothing, so the
// pipeline stages can be measured alone.
type nopDevice struct{ writes int }

func (d *nopDevice) Read([][]byte, []int, int) (int, error) { return 0, os.ErrClosed }
func (d *nopDevice) Write(b [][]byte, _ int) (int, error) {
	d.writes += len(b)
	return len(b), nil
}
func (d *nopDevice) MTU() (int, error) { return 1400, nil }
func (d *nopDevice) BatchSize() int    { return maxBatch }

type nopBind struct {
	sent []Message // the last batch, kept to feed the inbound path
}

func (b *nopBind) Receive([]Message) (int, error) { return 0, os.ErrClosed }
func (b *nopBind) Send(m []Message) error {
	b.sent = append(b.sent[:0], m...)
	return nil
}
func (b *nopBind) BatchSize() int { return maxBatch }
func (b *nopBind) Close() error   { return nil }

var allocSuites = []xform.Suite{
	{Encr: xform.EncrAESGCM16, KeyBits: 128},
	{Encr: xform.EncrAESCBC, KeyBits: 128, Integ: xform.IntegHMACSHA196},
	{Encr: xform.EncrAESCBC, KeyBits: 256, Integ: xform.IntegHMACSHA256128},
	{Encr: xform.EncrChaCha20Poly1305},
}

// TestEncapDecapAllocs: the per-packet functions allocate nothing.
func TestEncapDecapAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, s := range allocSuites {
		enc, integ := keys(t, s, 3)
		x, err := xform.New(s, enc, integ)
		must(t, err)
		inner := ipv4(hostA, hostB, 1400, 1, false)
		buf := make([]byte, bufSize)
		var start, end int
		allocs := testing.AllocsPerRun(1000, func() {
			copy(buf[headroom:], inner)
			start, end, _ = encap(x, 0x1000, 7, false, protoIPv4, buf, headroom, len(inner))
		})
		if allocs != 0 {
			t.Errorf("%v: encap allocates %.1f per packet", s, allocs)
		}
		pkt := append([]byte(nil), buf[start:end]...)
		work := make([]byte, len(pkt))
		allocs = testing.AllocsPerRun(1000, func() {
			copy(work, pkt)
			if _, _, r := decap(x, work, 0, false); r != DropNone {
				t.Fatalf("decap: %v", r)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: decap allocates %.1f per packet", s, allocs)
		}
	}
}

// TestPipelineAllocs drives every pipeline stage of both directions by
// hand (read → route → seal → send, receive → classify → open → deliver)
// and requires zero allocations for a whole batch.
func TestPipelineAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	dev, bind := &nopDevice{}, &nopBind{}
	e := newStagesEngine(t, dev, bind)
	out, in := newBatch(Outbound), newBatch(Inbound)
	inner := ipv4(hostA, hostB, 1000, 1, false)
	const n = 64
	allocs := testing.AllocsPerRun(200, func() {
		out.n = n
		for i := 0; i < n; i++ {
			copy(out.bufs[i][headroom:], inner)
			out.sizes[i] = len(inner)
		}
		if e.routeBatch(out) != n {
			t.Fatal("routeBatch dropped packets")
		}
		e.sealBatch(out)
		e.sendBatch(out)
		// Loop the sent packets back in: B's inbound SA is A's outbound.
		in.n = len(bind.sent)
		for i, m := range bind.sent {
			in.msgs[i] = Message{Buf: in.bufs[i][recvHeadroom:], N: copy(in.bufs[i][recvHeadroom:], m.Buf),
				Remote: m.Remote}
		}
		if e.classifyBatch(in, true) != n {
			t.Fatal("classifyBatch dropped packets")
		}
		e.openBatch(in)
		e.deliverBatch(in)
	})
	if allocs != 0 {
		t.Fatalf("pipeline allocates %.1f per batch of %d", allocs, n)
	}
	if dev.writes == 0 {
		t.Fatal("nothing delivered")
	}
	for r, c := range e.Stats().Drops {
		if c != 0 {
			t.Fatalf("drops %v=%d", DropReason(r), c)
		}
	}
}

// newStagesEngine builds an engine whose goroutines idle (devices report
// closed) and which loops tunnel 1 back to itself: the outbound SA's SPI
// is also installed inbound, and the policy allows both directions.
func newStagesEngine(t testing.TB, dev Device, bind Bind) *Engine {
	e, err := New(Config{TUN: dev, UDP: bind, Tick: -1, Workers: 1})
	must(t, err)
	t.Cleanup(func() { e.Close() })
	s := xform.Suite{Encr: xform.EncrAESGCM16, KeyBits: 128}
	remote := netip.AddrPortFrom(addrB, 4500)
	must(t, e.UpsertTunnel(1, TunnelConfig{Remote: remote, Encap: true}))
	must(t, e.SetPolicies([]Policy{
		{Local: lanA, Remote: lanB, Tunnel: 1},
		{Local: lanB, Remote: lanA, Tunnel: 1},
	}))
	must(t, e.AddInbound(saCfg(t, s, spiAtoB, false, Lifetime{})))
	must(t, e.SetOutbound(1, saCfg(t, s, spiAtoB, false, Lifetime{})))
	return e
}

// BenchmarkPipeline measures one core's cost per packet of every stage of
// both directions (route, sequence, seal, send bookkeeping; classify,
// replay, open, deliver) without devices, AES-128-GCM, 1400-byte packets.
// Compare with espbench's encap+decap of the same size for the engine's
// overhead beyond the transform.
func BenchmarkPipeline(b *testing.B) {
	dev, bind := &nopDevice{}, &nopBind{}
	e := newStagesEngine(b, dev, bind)
	out, in := newBatch(Outbound), newBatch(Inbound)
	inner := ipv4(hostA, hostB, 1400, 1, false)
	const n = maxBatch
	b.SetBytes(int64(len(inner)) * n)
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < n; i++ { // what the TUN read does
			copy(out.bufs[i][headroom:], inner)
			out.sizes[i] = len(inner)
		}
		out.n = n
		e.routeBatch(out)
		e.sealBatch(out)
		e.sendBatch(out)
		in.n = len(bind.sent)
		for i, m := range bind.sent {
			in.msgs[i] = Message{Buf: in.bufs[i][recvHeadroom:], N: copy(in.bufs[i][recvHeadroom:], m.Buf),
				Remote: m.Remote}
		}
		e.classifyBatch(in, true)
		e.openBatch(in)
		e.deliverBatch(in)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pkt")
	if st := e.Stats(); st.Tunnels[0].PacketsIn != uint64(b.N*n) {
		b.Fatalf("delivered %d of %d; drops %v", st.Tunnels[0].PacketsIn, b.N*n, st.Drops)
	}
}
