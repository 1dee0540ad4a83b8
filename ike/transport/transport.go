// Package transport carries IKE datagrams over real UDP sockets on ports
// 500 and 4500 for standalone use (interop tests, a negotiator without
// the ESP engine). On port 4500 (RFC 3948 §2.2) IKE messages are preceded
// by the four-octet non-ESP marker, a single 0xFF octet is a NAT-keepalive
// and anything else is ESP, which goes to OnESP if set. The daemon routes
// port 4500 through its ESP engine instead.
package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Handler receives one IKE message (marker stripped) with the addresses it
// travelled between.
type Handler func(pkt []byte, local, remote netip.AddrPort)

// Transport owns the IKE sockets of one local address.
type Transport struct {
	local     netip.Addr
	ike, natt *net.UDPConn
	// OnESP, if set before Serve, receives ESP-in-UDP packets from 4500.
	OnESP Handler

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Listen opens UDP sockets on local:ikePort and local:nattPort (0 picks the
// standard 500 and 4500).
func Listen(local netip.Addr, ikePort, nattPort uint16) (*Transport, error) {
	if ikePort == 0 {
		ikePort = 500
	}
	if nattPort == 0 {
		nattPort = 4500
	}
	ike, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, ikePort)))
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	natt, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, nattPort)))
	if err != nil {
		ike.Close()
		return nil, fmt.Errorf("transport: %w", err)
	}
	return &Transport{local: local, ike: ike, natt: natt}, nil
}

// LocalAddrs returns the bound IKE and NAT-T addresses.
func (t *Transport) LocalAddrs() (ike, natt netip.AddrPort) {
	return t.ike.LocalAddr().(*net.UDPAddr).AddrPort(), t.natt.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Send transmits an IKE message from local (its port picks the socket).
// From the NAT-T socket a non-ESP marker is prepended, except to a
// NAT-keepalive (the single octet 0xFF).
func (t *Transport) Send(pkt []byte, local, remote netip.AddrPort) error {
	_, nattAddr := t.LocalAddrs()
	conn := t.ike
	if local.Port() == nattAddr.Port() {
		conn = t.natt
		if !(len(pkt) == 1 && pkt[0] == 0xff) {
			b := make([]byte, 4+len(pkt))
			copy(b[4:], pkt)
			pkt = b
		}
	}
	_, err := conn.WriteToUDPAddrPort(pkt, remote)
	return err
}

// SendESP transmits an ESP-in-UDP packet from the NAT-T socket.
func (t *Transport) SendESP(pkt []byte, remote netip.AddrPort) error {
	_, err := t.natt.WriteToUDPAddrPort(pkt, remote)
	return err
}

// Serve reads both sockets until Close, calling h for every IKE message.
// It returns once both readers have stopped.
func (t *Transport) Serve(h Handler) {
	ikeAddr, nattAddr := t.LocalAddrs()
	t.wg.Add(2)
	go t.read(t.ike, ikeAddr, false, h)
	go t.read(t.natt, nattAddr, true, h)
	t.wg.Wait()
}

func (t *Transport) read(c *net.UDPConn, local netip.AddrPort, natt bool, h Handler) {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		pkt := buf[:n]
		if natt {
			switch {
			case n == 1 && pkt[0] == 0xff:
				continue // NAT-keepalive
			case n >= 4 && pkt[0]|pkt[1]|pkt[2]|pkt[3] == 0:
				pkt = pkt[4:]
			default:
				if t.OnESP != nil {
					t.OnESP(append([]byte(nil), pkt...), local, from)
				}
				continue
			}
		}
		h(append([]byte(nil), pkt...), local, from)
	}
}

// Close closes both sockets; Serve returns.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return errors.Join(t.ike.Close(), t.natt.Close())
}
