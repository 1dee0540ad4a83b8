// Package netio defines the small batch I/O interfaces between the ESP
// engine (package esp) and its devices: a TUN device and datagram sockets.
// It is a leaf package so that implementations (esp/tunio, esp/udpio,
// esp/fake) do not import the engine.
package netio

import (
	"net/netip"
)

// Device is the batch packet interface of the TUN device that carries the
// tunnels' inner (cleartext) traffic. Its methods match
// golang.zx2c4.com/wireguard/tun.Device, so a *tun.NativeTun can be used as
// is (esp/tunio adds txqueuelen tuning); esp/fake provides an in-memory one.
type Device interface {
	// Read reads up to len(bufs) packets, packet i into bufs[i][offset:],
	// and sets sizes[i] to its length. It blocks until at least one packet
	// is available and returns the number of packets read.
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	// Write writes bufs[i][offset:] for every i. The bytes before offset
	// are scratch space for the device (a virtio header needs 10 bytes), and
	// the capacity beyond each packet may be used to coalesce packets.
	Write(bufs [][]byte, offset int) (int, error)
	// MTU reports the device MTU: the largest inner packet it hands us.
	MTU() (int, error)
	// BatchSize is the largest number of packets one Read returns.
	BatchSize() int
}

// Message is one datagram exchanged with a Bind.
type Message struct {
	// Buf holds the datagram payload. On receive it is the buffer to fill
	// (its length is the space available); on send it is the payload.
	Buf []byte
	// N is the number of bytes received into Buf.
	N int
	// Local is the local address the datagram arrived on or leaves from;
	// the zero value lets the bind choose.
	Local netip.AddrPort
	// Remote is the peer's address. Raw ESP binds use port 0.
	Remote netip.AddrPort
}

// Bind is a batched datagram socket: UDP port 4500 (RFC 3948 ESP-in-UDP,
// shared with IKE) or a raw IP protocol 50 socket (plain ESP). Receive on a
// raw ESP bind returns the ESP packet without its IP header. Implementations
// are esp/udpio (recvmmsg/sendmmsg, UDP GSO) and esp/fake (in memory).
type Bind interface {
	// Receive fills up to len(msgs) messages and returns how many. It
	// blocks until at least one datagram is available.
	Receive(msgs []Message) (int, error)
	// Send sends msgs[i].Buf to msgs[i].Remote for every i. It may coalesce
	// consecutive datagrams of equal size to one destination (UDP GSO).
	Send(msgs []Message) error
	// BatchSize is the preferred number of messages per call.
	BatchSize() int
	// Close unblocks Receive and releases the socket.
	Close() error
}
