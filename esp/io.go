package esp

import "github.com/ipsecgw/ipsecgw/esp/netio"

// Device is the batch TUN interface the engine reads inner packets from and
// writes them to; see netio.Device.
type Device = netio.Device

// Bind is a batched datagram socket (UDP 4500 or raw ESP); see netio.Bind.
type Bind = netio.Bind

// Message is one datagram exchanged with a Bind; see netio.Message.
type Message = netio.Message
