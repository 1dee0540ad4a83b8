package udpio

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

// RawESP is a raw IP protocol 50 socket implementing netio.Bind, for
// tunnels without NAT. The kernel has no ESP of its own here (no XFRM), so
// the socket simply sees every ESP packet. Received IPv4 packets come with
// their IP header, which Receive strips (the header lands in a scratch
// iovec, so the ESP packet is read straight into the caller's buffer);
// on send the kernel builds the IP header.
type RawESP struct {
	conn  *net.IPConn
	rc    syscall.RawConn
	v6    bool
	local netip.Addr

	rmu   sync.Mutex // serializes Receive; guards the receive state below
	rr    *ring
	hdrs  [][]byte // per-slot scratch for the IPv4 header
	rn    int
	rerr  syscall.Errno
	recvF func(fd uintptr) bool

	wmu   sync.Mutex // serializes Send; guards the send state below
	wr    *ring
	wfrom int
	werr  syscall.Errno
	sendF func(fd uintptr) bool
}

// ListenRawESP opens a raw ESP socket bound to local (which may be the
// unspecified address).
func ListenRawESP(local netip.Addr) (*RawESP, error) {
	network := "ip4:esp"
	v6 := local.Is6() && !local.Is4In6()
	if v6 {
		network = "ip6:esp"
	}
	conn, err := net.ListenIP(network, &net.IPAddr{IP: local.AsSlice()})
	if err != nil {
		return nil, fmt.Errorf("udpio: raw esp socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("udpio: %w", err)
	}
	r := &RawESP{conn: conn, rc: rc, v6: v6, local: local, rr: newRing(Batch, 0), wr: newRing(Batch, 0),
		hdrs: make([][]byte, Batch)}
	r.rr.v6, r.wr.v6 = v6, v6
	for i := range r.hdrs {
		r.hdrs[i] = make([]byte, 20)
	}
	rc.Control(func(fd uintptr) { setBuffers(int(fd), 4<<20) })
	r.recvF = func(fd uintptr) bool {
		r.rn, r.rerr = recvmmsg(fd, r.rr)
		return r.rerr != unix.EAGAIN && r.rerr != unix.EWOULDBLOCK
	}
	r.sendF = func(fd uintptr) bool {
		for r.wfrom < r.wr.n {
			n, errno := sendmmsg(fd, r.wr, r.wfrom)
			if errno == unix.EAGAIN || errno == unix.EWOULDBLOCK {
				return false
			}
			if errno != 0 {
				r.werr = errno
				r.wfrom++
				continue
			}
			r.wfrom += n
		}
		return true
	}
	return r, nil
}

// BatchSize implements netio.Bind.
func (r *RawESP) BatchSize() int { return Batch }

// Close implements netio.Bind.
func (r *RawESP) Close() error { return r.conn.Close() }

// Receive implements netio.Bind. Remote carries port 0.
func (r *RawESP) Receive(msgs []netio.Message) (int, error) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	n := min(len(msgs), Batch)
	for i := 0; i < n; i++ {
		if r.v6 { // IPv6 raw sockets never return the IP header
			r.rr.set(i, msgs[i].Buf, nil, netip.AddrPort{}, 0)
		} else {
			r.rr.set(i, r.hdrs[i], msgs[i].Buf, netip.AddrPort{}, 0)
		}
	}
	r.rr.n = n
	for {
		if err := r.rc.Read(r.recvF); err != nil {
			return 0, err
		}
		if r.rerr != 0 {
			return 0, r.rerr
		}
		k := 0
		for i := 0; i < r.rn; i++ {
			got := int(r.rr.hdrs[i].n)
			if !r.v6 {
				ihl := int(r.hdrs[i][0]&0xf) * 4
				if got < 20 || ihl < 20 || got < ihl {
					continue // not a sane IPv4 packet: skip it
				}
				got -= 20
				if ihl > 20 { // IP options spilled into the buffer
					copy(msgs[i].Buf, msgs[i].Buf[ihl-20:got])
					got -= ihl - 20
				}
			}
			m := &msgs[k]
			if k != i {
				m.N = copy(m.Buf, msgs[i].Buf[:got])
			} else {
				m.N = got
			}
			m.Remote = netip.AddrPortFrom(getSockaddr(&r.rr.names[i]).Addr(), 0)
			m.Local = netip.AddrPortFrom(r.local, 0)
			k++
		}
		if k > 0 {
			return k, nil
		}
	}
}

// Send implements netio.Bind.
func (r *RawESP) Send(msgs []netio.Message) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	var firstErr error
	for len(msgs) > 0 {
		n := min(len(msgs), Batch)
		for i := 0; i < n; i++ {
			r.wr.set(i, msgs[i].Buf, nil, netip.AddrPortFrom(msgs[i].Remote.Addr(), 0), 0)
		}
		r.wr.n, r.wfrom, r.werr = n, 0, 0
		if err := r.rc.Write(r.sendF); err != nil {
			return err
		}
		if r.werr != 0 && firstErr == nil {
			firstErr = fmt.Errorf("udpio: raw esp sendmmsg: %w", r.werr)
		}
		msgs = msgs[n:]
	}
	return firstErr
}
