package healthcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IANA protocol numbers icmp.ParseMessage needs.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// icmpConn is an ICMP echo socket bound to the probe source.
type icmpConn struct {
	pc  *icmp.PacketConn
	dst net.Addr
	// id is the echo identifier replies must carry. On a datagram
	// ("ping") socket the kernel replaces ours with the socket's port and
	// demultiplexes the replies itself.
	id  uint16
	v6  bool
	buf []byte
}

// DialICMP opens an ICMP echo socket bound to src, talking to dst with echo
// identifier id. It uses a raw socket (CAP_NET_RAW) and falls back to an
// unprivileged datagram ICMP socket (net.ipv4.ping_group_range) when raw
// sockets are not permitted. Binding to src fails if src is not a local
// address, which is what the health check should report as a failure.
func DialICMP(src, dst netip.Addr, id uint16) (Conn, error) {
	return dialICMP(src, dst, id, false)
}

// dialICMP is DialICMP; dgram skips the raw socket (for tests).
func dialICMP(src, dst netip.Addr, id uint16, dgram bool) (Conn, error) {
	if src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("healthcheck: %v and %v of different families", src, dst)
	}
	v6 := dst.Is6()
	rawNet, dgramNet := "ip4:icmp", "udp4"
	if v6 {
		rawNet, dgramNet = "ip6:ipv6-icmp", "udp6"
	}
	c := &icmpConn{id: id, v6: v6, buf: make([]byte, 1500)}
	var pc *icmp.PacketConn
	var err error = syscall.EPERM
	if !dgram {
		pc, err = icmp.ListenPacket(rawNet, src.String())
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		pc, err = icmp.ListenPacket(dgramNet, src.String())
		if err == nil {
			c.dst = &net.UDPAddr{IP: dst.AsSlice()}
			c.id = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		}
	} else if err == nil {
		c.dst = &net.IPAddr{IP: dst.AsSlice()}
	}
	if err != nil {
		return nil, fmt.Errorf("healthcheck: listen on %v: %w", src, err)
	}
	c.pc = pc
	return c, nil
}

// Send implements Conn.
func (c *icmpConn) Send(seq uint16, payload []byte) error {
	m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(c.id), Seq: int(seq), Data: payload}}
	if c.v6 {
		// The kernel fills in the ICMPv6 checksum on raw and ping
		// sockets (RFC 3542 §3.1), so no pseudo-header is needed.
		m.Type = ipv6.ICMPTypeEchoRequest
	}
	b, err := m.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = c.pc.WriteTo(b, c.dst)
	return err
}

// Recv implements Conn. A raw socket sees every ICMP message addressed to
// the source address; only echo replies from the destination carrying our
// identifier are returned.
func (c *icmpConn) Recv() (uint16, []byte, error) {
	proto, want := protoICMP, icmp.Type(ipv4.ICMPTypeEchoReply)
	if c.v6 {
		proto, want = protoICMPv6, ipv6.ICMPTypeEchoReply
	}
	for {
		n, from, err := c.pc.ReadFrom(c.buf)
		if err != nil {
			return 0, nil, err
		}
		if !sameHost(from, c.dst) {
			continue
		}
		m, err := icmp.ParseMessage(proto, c.buf[:n])
		if err != nil || m.Type != want {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || uint16(echo.ID) != c.id {
			continue
		}
		return uint16(echo.Seq), echo.Data, nil
	}
}

// Close implements Conn.
func (c *icmpConn) Close() error { return c.pc.Close() }

func sameHost(a, b net.Addr) bool {
	ip := func(x net.Addr) net.IP {
		switch x := x.(type) {
		case *net.IPAddr:
			return x.IP
		case *net.UDPAddr:
			return x.IP
		}
		return nil
	}
	return ip(a).Equal(ip(b))
}
