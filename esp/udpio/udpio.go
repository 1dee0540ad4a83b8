// Package udpio implements netio.Bind over real sockets on Linux: the UDP
// port-4500 socket of RFC 3948 ESP-in-UDP (shared with IKE) with
// recvmmsg/sendmmsg, UDP GSO on send and UDP GRO on receive, and a raw IP
// protocol 50 socket for plain ESP.
//
// The sockets integrate with Go's netpoller through syscall.RawConn, and all
// kernel-facing arrays are preallocated, so a batch costs one system call
// and no allocation. The UDP checksum is computed by the kernel (usually
// offloaded): RFC 3948 §2.1 lets senders transmit zero, but Linux refuses
// UDP GSO on a socket with checksums disabled, and GSO is worth far more.
// Options.ZeroChecksum trades GSO for the zero checksum.
package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

// Batch is the number of datagrams per system call.
const Batch = 128

const (
	maxGSOSegments = 64    // kernel UDP_MAX_SEGMENTS
	maxGSOBytes    = 65000 // stay below the 64 KiB IP datagram limit
	groBufs        = 8     // coalesced datagrams per receive call
	groBufSize     = 65536 // one coalesced datagram
)

// Options tune a UDP bind. A socket bound to the unspecified address
// reports each datagram's destination in Message.Local (IP_PKTINFO) and
// sends from Message.Local when it is set.
type Options struct {
	// NoGSO disables UDP segmentation offload on send.
	NoGSO bool
	// NoGRO disables UDP receive coalescing.
	NoGRO bool
	// ZeroChecksum sends IPv4 datagrams with UDP checksum 0 (RFC 3948
	// §2.1); it implies NoGSO.
	ZeroChecksum bool
	// SocketBuffer sets SO_RCVBUF/SO_SNDBUF (force variants when root);
	// 0 means 4 MiB.
	SocketBuffer int
}

// UDP is a batched UDP socket implementing netio.Bind.
type UDP struct {
	conn  *net.UDPConn
	rc    syscall.RawConn
	local netip.AddrPort
	gso   bool
	gro   bool
	// pktinfo: the socket is bound to the unspecified address, so it
	// reports each datagram's destination and accepts a source per send.
	pktinfo bool
	v6      bool

	rmu   sync.Mutex // serializes Receive; guards the receive state below
	rr    *ring
	rn    int // result of the last recvmmsg
	rerr  syscall.Errno
	recvF func(fd uintptr) bool
	big   [][]byte // GRO receive buffers
	// pending GRO segments not yet handed out: datagram index and offset
	pendIdx, pendOff, pendN int

	wmu          sync.Mutex // serializes Send; guards the send state below
	wr           *ring
	wfrom        int
	werr         syscall.Errno
	sendF        func(fd uintptr) bool
	coal         [][]byte      // GSO coalescing buffers, one per ring slot
	gsoSends     atomic.Uint64 // super-datagrams sent with UDP_SEGMENT
	groCoalesced atomic.Uint64 // coalesced datagrams received and split
	// gsoBroken is set when the kernel refused a GSO send; Send then turns
	// GSO off for good.
	gsoBroken bool
}

// ListenUDP opens a UDP socket on addr (e.g. 0.0.0.0:4500). An IPv6 addr
// such as [::]:4500 gives a dual-stack socket serving IPv4 peers too.
func ListenUDP(addr netip.AddrPort, o Options) (*UDP, error) {
	network := "udp4"
	switch {
	case addr.Addr() == netip.IPv6Unspecified():
		network = "udp" // Go leaves IPV6_V6ONLY off only for "udp"
	case addr.Addr().Is6() && !addr.Addr().Is4In6():
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("udpio: listen %v: %w", addr, err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("udpio: %w", err)
	}
	u := &UDP{conn: conn, rc: rc, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		gso: !o.NoGSO && !o.ZeroChecksum, gro: !o.NoGRO}
	bufSize := o.SocketBuffer
	if bufSize <= 0 {
		bufSize = 4 << 20
	}
	var serr error
	v6 := false
	cerr := rc.Control(func(fd uintptr) {
		dom, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		v6 = dom == unix.AF_INET6
		setBuffers(int(fd), bufSize)
		if o.ZeroChecksum && !v6 {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
		}
		if addr.Addr().IsUnspecified() {
			// Learn each datagram's destination address: IKE needs it
			// for NAT detection (RFC 7296 §2.23) and replies from it.
			if v6 {
				u.pktinfo = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) == nil
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) // v4-mapped peers
			} else {
				u.pktinfo = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) == nil
			}
		}
		if u.gro && unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) != nil {
			u.gro = false // old kernel: plain recvmmsg
		}
	})
	if err := errors.Join(cerr, serr); err != nil {
		conn.Close()
		return nil, fmt.Errorf("udpio: socket options: %w", err)
	}
	u.rr, u.wr = newRing(Batch, oobSize), newRing(Batch, oobSize)
	u.rr.v6, u.wr.v6, u.v6 = v6, v6, v6
	if u.gro {
		u.big = make([][]byte, groBufs)
		for i := range u.big {
			u.big[i] = make([]byte, groBufSize)
		}
	}
	if u.gso {
		u.coal = make([][]byte, Batch)
	}
	u.recvF = u.doRecv
	u.sendF = u.doSend
	return u, nil
}

func setBuffers(fd, n int) {
	for _, opt := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[0], n) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[1], n)
		}
	}
}

// LocalAddr returns the bound address.
func (u *UDP) LocalAddr() netip.AddrPort { return u.local }

// GSO and GRO report which offloads are active.
func (u *UDP) GSO() bool { return u.gso }

// GRO reports whether receive coalescing is active.
func (u *UDP) GRO() bool { return u.gro }

// BatchSize implements netio.Bind.
func (u *UDP) BatchSize() int { return Batch }

// OffloadStats reports how many GSO super-datagrams were sent and how many
// GRO-coalesced datagrams were received (for metrics and tests).
func (u *UDP) OffloadStats() (gsoSends, groCoalesced uint64) {
	return u.gsoSends.Load(), u.groCoalesced.Load()
}

// Close implements netio.Bind.
func (u *UDP) Close() error { return u.conn.Close() }

func (u *UDP) doRecv(fd uintptr) bool {
	u.rn, u.rerr = recvmmsg(fd, u.rr)
	return u.rerr != unix.EAGAIN && u.rerr != unix.EWOULDBLOCK
}

// Receive implements netio.Bind.
func (u *UDP) Receive(msgs []netio.Message) (int, error) {
	u.rmu.Lock()
	defer u.rmu.Unlock()
	if u.gro {
		return u.receiveGRO(msgs)
	}
	n := min(len(msgs), Batch)
	oob := 0
	if u.pktinfo {
		oob = oobSize
	}
	for i := 0; i < n; i++ {
		u.rr.set(i, msgs[i].Buf, nil, netip.AddrPort{}, oob)
	}
	u.rr.n = n
	if err := u.rc.Read(u.recvF); err != nil {
		return 0, err
	}
	if u.rerr != 0 {
		return 0, u.rerr
	}
	for i := 0; i < u.rn; i++ {
		msgs[i].N = int(u.rr.hdrs[i].n)
		msgs[i].Remote = getSockaddr(&u.rr.names[i])
		msgs[i].Local = u.localFor(i)
	}
	return u.rn, nil
}

// receiveGRO reads coalesced datagrams into large buffers and splits them
// into msgs by the segment size the kernel reports (the copy is cheaper
// than the per-datagram stack traversal GRO saves).
func (u *UDP) receiveGRO(msgs []netio.Message) (int, error) {
	if u.pendIdx >= u.pendN {
		for i := range u.big {
			u.rr.set(i, u.big[i], nil, netip.AddrPort{}, len(u.rr.oob[i]))
		}
		u.rr.n = len(u.big)
		if err := u.rc.Read(u.recvF); err != nil {
			return 0, err
		}
		if u.rerr != 0 {
			return 0, u.rerr
		}
		u.pendIdx, u.pendOff, u.pendN = 0, 0, u.rn
	}
	k := 0
	for k < len(msgs) && u.pendIdx < u.pendN {
		h := &u.rr.hdrs[u.pendIdx]
		total := int(h.n)
		seg, _ := parseCmsgs(u.rr.oob[u.pendIdx][:h.hdr.Controllen])
		local := u.localFor(u.pendIdx)
		if seg <= 0 {
			seg = total
		} else if seg < total {
			u.groCoalesced.Add(1)
		}
		from := getSockaddr(&u.rr.names[u.pendIdx])
		for k < len(msgs) && u.pendOff < total {
			end := min(u.pendOff+seg, total)
			m := &msgs[k]
			m.N = copy(m.Buf, u.big[u.pendIdx][u.pendOff:end])
			m.Remote, m.Local = from, local
			u.pendOff = end
			k++
		}
		if u.pendOff >= total {
			u.pendIdx++
			u.pendOff = 0
		}
	}
	return k, nil
}

// localFor returns the local address of received slot i.
func (u *UDP) localFor(i int) netip.AddrPort {
	if u.pktinfo {
		h := &u.rr.hdrs[i].hdr
		if _, dst := parseCmsgs(u.rr.oob[i][:h.Controllen]); dst.IsValid() {
			return netip.AddrPortFrom(dst, u.local.Port())
		}
	}
	return u.local
}

// control writes slot's control data: a GSO segment size (0: none) and,
// on an unbound socket, the source address; it returns the length.
func (u *UDP) control(slot int, gso int, local netip.Addr) int {
	oob := u.wr.oob[slot]
	n := 0
	if gso > 0 {
		n = putGSO(oob, uint16(gso))
	}
	if u.pktinfo && local.IsValid() && !local.IsUnspecified() && (u.v6 || local.Is4()) {
		n += putPktinfo(oob[n:], local, u.v6 && !local.Is4())
	}
	return n
}

func (u *UDP) doSend(fd uintptr) bool {
	for u.wfrom < u.wr.n {
		n, errno := sendmmsg(fd, u.wr, u.wfrom)
		if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
			return false
		}
		if errno == unix.EIO && u.gso {
			// The egress device cannot segment: wireguard-go's
			// conn/bind_std.go falls back the same way.
			u.gsoBroken = true
		}
		if errno != 0 {
			// Skip the datagram the kernel refused (e.g. EMSGSIZE,
			// ECONNREFUSED from an ICMP error) and go on with the rest.
			u.werr = errno
			u.wfrom++
			continue
		}
		u.wfrom += n
	}
	return true
}

// Send implements netio.Bind. Consecutive datagrams of equal size to the
// same peer are sent as one GSO super-datagram (the last may be shorter).
func (u *UDP) Send(msgs []netio.Message) error {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	var firstErr error
	for len(msgs) > 0 {
		used := u.fill(msgs)
		msgs = msgs[used:]
		u.wfrom, u.werr = 0, 0
		if err := u.rc.Write(u.sendF); err != nil {
			return err
		}
		if u.gsoBroken {
			u.gso = false
		}
		if u.werr != 0 && firstErr == nil {
			firstErr = fmt.Errorf("udpio: sendmmsg: %w", u.werr)
		}
	}
	return firstErr
}

// fill prepares the send ring from msgs and returns how many it consumed.
func (u *UDP) fill(msgs []netio.Message) int {
	slot, i := 0, 0
	for i < len(msgs) && slot < Batch {
		m := &msgs[i]
		if !u.gso {
			u.wr.set(slot, m.Buf, nil, m.Remote, u.control(slot, 0, m.Local.Addr()))
			slot, i = slot+1, i+1
			continue
		}
		// Gather a run: same peer, same size, the last one may be shorter.
		size := len(m.Buf)
		j := i + 1
		total := size
		for j < len(msgs) && j-i < maxGSOSegments && msgs[j].Remote == m.Remote && msgs[j].Local == m.Local &&
			len(msgs[j].Buf) <= size && total+len(msgs[j].Buf) <= maxGSOBytes {
			total += len(msgs[j].Buf)
			j++
			if len(msgs[j-1].Buf) < size {
				break
			}
		}
		if j-i == 1 {
			u.wr.set(slot, m.Buf, nil, m.Remote, u.control(slot, 0, m.Local.Addr()))
		} else {
			if cap(u.coal[slot]) < total {
				u.coal[slot] = make([]byte, 0, maxGSOBytes)
			}
			b := u.coal[slot][:0]
			for _, x := range msgs[i:j] {
				b = append(b, x.Buf...)
			}
			u.coal[slot] = b
			u.gsoSends.Add(1)
			u.wr.set(slot, b, nil, m.Remote, u.control(slot, size, m.Local.Addr()))
		}
		slot, i = slot+1, j
	}
	u.wr.n = slot
	return i
}
