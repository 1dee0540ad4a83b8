package udpio

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr (recvmmsg(2)): a msghdr and the byte count the
// kernel fills in. Go pads it like C does on every Linux ABI.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// ring holds the preallocated kernel-facing arrays for one direction of a
// socket, so batched calls allocate nothing.
type ring struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec // two per message: raw ESP receive splits off the IP header
	names []unix.RawSockaddrInet6
	oob   [][]byte
	n     int  // messages prepared for the next call
	v6    bool // AF_INET6 socket: IPv4 peers are written v4-mapped
}

func newRing(size, oobLen int) *ring {
	r := &ring{hdrs: make([]mmsghdr, size), iovs: make([]unix.Iovec, 2*size),
		names: make([]unix.RawSockaddrInet6, size), oob: make([][]byte, size)}
	for i := range r.oob {
		if oobLen > 0 {
			r.oob[i] = make([]byte, oobLen)
		}
	}
	return r
}

// set prepares slot i with up to two buffers, the peer address (for send,
// zero for receive) and optional control data of length oobLen.
func (r *ring) set(i int, b0, b1 []byte, to netip.AddrPort, oobLen int) {
	h := &r.hdrs[i].hdr
	*h = unix.Msghdr{}
	iov := r.iovs[2*i : 2*i+2]
	k := 0
	for _, b := range [2][]byte{b0, b1} {
		if len(b) > 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	h.Iov = &iov[0]
	h.SetIovlen(k)
	name := &r.names[i]
	if to.IsValid() {
		h.Namelen = putSockaddr(name, to, r.v6)
	} else {
		h.Namelen = unix.SizeofSockaddrInet6
	}
	h.Name = (*byte)(unsafe.Pointer(name))
	if oobLen > 0 {
		h.Control = &r.oob[i][0]
		h.SetControllen(oobLen)
	}
	r.hdrs[i].n = 0
}

func putSockaddr(sa *unix.RawSockaddrInet6, a netip.AddrPort, v6 bool) uint32 {
	*sa = unix.RawSockaddrInet6{}
	if !v6 && (a.Addr().Is4() || a.Addr().Is4In6()) {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], a.Port())
		s4.Addr = a.Addr().Unmap().As4()
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], a.Port())
	sa.Addr = a.Addr().As16() // v4-mapped for IPv4 peers of a dual-stack socket
	return unix.SizeofSockaddrInet6
}

func getSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// recvmmsg reads up to r.n messages without blocking; EAGAIN means wait.
func recvmmsg(fd uintptr, r *ring) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.n),
		unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sendmmsg sends r.hdrs[from:r.n] without blocking.
func sendmmsg(fd uintptr, r *ring, from int) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[from])), uintptr(r.n-from),
		unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// oobSize fits a UDP_GRO/UDP_SEGMENT and an IPv6 packet-info message.
var oobSize = unix.CmsgSpace(2) + unix.CmsgSpace(unix.SizeofInet6Pktinfo)

// parseCmsgs returns the UDP_GRO segment size (0 if the datagram was not
// coalesced) and the packet's destination address from IP_PKTINFO or
// IPV6_PKTINFO (invalid if absent).
func parseCmsgs(oob []byte) (gro int, dst netip.Addr) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		switch {
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 2:
			gro = int(*(*uint16)(unsafe.Pointer(&data[0])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom4(pi.Addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom16(pi.Addr).Unmap()
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return gro, dst
}

// putPktinfo writes an IP_PKTINFO (IPv4 socket) or IPV6_PKTINFO control
// message choosing src as the source address, and returns its length.
func putPktinfo(oob []byte, src netip.Addr, v6 bool) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if !v6 {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		*pi = unix.Inet4Pktinfo{Spec_dst: src.As4()}
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	*pi = unix.Inet6Pktinfo{Addr: src.As16()}
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// putGSO writes a UDP_SEGMENT control message into oob and returns its length.
func putGSO(oob []byte, size uint16) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = size
	return unix.CmsgSpace(2)
}
