package esp

import (
	"net/netip"
	"sync"
	"time"
)

// packet is one slot of a batch. The buffer it describes is batch.bufs[i].
type packet struct {
	start, end int // the packet's bytes in its buffer
	reason     DropReason
	skip       bool // consumed by the first stage (queued, IKE, keepalive)
	nh         byte
	udp        bool // inbound: arrived on the UDP bind
	innerLen   int  // inner packet length (bytes accounted)
	seq        uint64
	tun        *tunnel
	out        *outboundSA
	in         *inboundSA
	remote     netip.AddrPort
	local      netip.AddrPort
}

// batch is the unit that travels through the pipeline. mu is locked by the
// first stage and unlocked by the crypto worker; the in-order stage locks it
// to wait for the crypto (wireguard-go's element pattern, without channels
// per element).
type batch struct {
	mu   sync.Mutex
	dir  Direction
	n    int
	now  int64 // unix ns at read time, for last-use stamps
	pkts [maxBatch]packet
	bufs [maxBatch][]byte // full fixed buffers, bufSize (outbound) or inBufSize each

	io    [][]byte  // scratch slice headers for Device.Read/Write
	sizes []int     // for Device.Read
	msgs  []Message // for Bind.Receive/Send
	raw   []Message // outbound: raw ESP messages
}

func newBatch(d Direction) *batch {
	b := &batch{dir: d, io: make([][]byte, maxBatch), sizes: make([]int, maxBatch),
		msgs: make([]Message, maxBatch), raw: make([]Message, 0, maxBatch)}
	size := bufSize
	if d == Inbound {
		size = inBufSize
	}
	mem := make([]byte, maxBatch*size)
	for i := range b.bufs {
		b.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return b
}

func (e *Engine) getBatch(pool chan *batch) (*batch, bool) {
	select {
	case b := <-pool:
		return b, true
	case <-e.done:
		return nil, false
	}
}

// enqueue hands a batch to the workers and the in-order stage.
func (e *Engine) enqueue(b *batch, order chan *batch) bool {
	b.mu.Lock()
	select {
	case order <- b:
	case <-e.done:
		return false
	}
	select {
	case e.crypto <- b:
		return true
	case <-e.done:
		return false
	}
}

func (e *Engine) cryptoWorker() {
	for {
		select {
		case b := <-e.crypto:
			if b.dir == Outbound {
				e.sealBatch(b)
			} else {
				e.openBatch(b)
			}
			b.mu.Unlock()
		case <-e.done:
			return
		}
	}
}

// backoff sleeps after repeated I/O errors so a persistently failing
// device cannot spin a core; single errors cost nothing.
func backoff(fails int) {
	if fails > 3 {
		time.Sleep(time.Duration(min(fails, 100)) * time.Millisecond)
	}
}
