// Package tunio opens the TUN device that carries the tunnels' inner
// traffic, using golang.zx2c4.com/wireguard/tun: batched reads and writes
// with the kernel's virtio-net offloads (TSO/USO split on read, GRO
// coalescing on write), which the lab measured at 433/320 ns of CPU per
// packet against 929/541 ns for plain read(2)/write(2).
package tunio

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/ipsecgw/ipsecgw/esp/netio"
)

// TxQueueLen is the transmit queue length set on the device. At the
// default of 500 the TUN ring overflows whenever the reader wakes up late
// and drops up to a third of the packets (lab README).
const TxQueueLen = 10000

// Device is an open TUN device; it implements netio.Device and io.Closer.
type Device struct {
	tun.Device
	name string
}

var _ netio.Device = (*Device)(nil)

// Create creates (or attaches to) the TUN device name with the given MTU,
// raises its transmit queue to TxQueueLen and sets it up. Addresses and
// routes are the caller's business.
func Create(name string, mtu int) (*Device, error) {
	td, err := tun.CreateTUN(name, mtu)
	if err != nil {
		return nil, fmt.Errorf("tunio: create %s: %w", name, err)
	}
	real, err := td.Name()
	if err != nil {
		td.Close()
		return nil, fmt.Errorf("tunio: %w", err)
	}
	link, err := netlink.LinkByName(real)
	if err == nil {
		err = netlink.LinkSetTxQLen(link, TxQueueLen)
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		td.Close()
		return nil, fmt.Errorf("tunio: configure %s: %w", real, err)
	}
	// Nobody here consumes up/down/MTU events; drain them so the device's
	// netlink listener never blocks on a full channel. Close ends the loop.
	go func() {
		for range td.Events() {
		}
	}()
	return &Device{Device: td, name: real}, nil
}

// Name returns the device's interface name.
func (d *Device) Name() string { return d.name }
