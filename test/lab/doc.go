// Package lab builds throw-away network test beds for ipsecgw's interop and
// end-to-end tests: four (or five, with NAT) Linux network namespaces wired
// with veth pairs, optionally running strongSwan's charon on the gateways.
//
//	client ---- gwA ======================== gwB ---- server
//	10.1.0.10   10.1.0.1  192.0.2.1    192.0.2.2  10.2.0.1   10.2.0.10
//	  (eth0)     (lan)      (wan)        (wan)     (lan)      (eth0)
//
// With Options.NAT a "nat" namespace sits between the gateways and
// masquerades gwA (wan 172.16.0.1) to 192.0.2.1 with nftables.
//
// There is deliberately no route between 10.1.0.0/24 and 10.2.0.0/24 except
// through a tunnel, so a ping from client to server proves that the tunnel
// carries it. The kernel here has no ESP/XFRM: strongSwan runs with its
// userspace kernel-libipsec plugin (a TUN device "ipsec0" plus routes in
// table 220), which only speaks ESP in UDP (port 4500).
//
// Every bed gets a short unique id; its namespaces are "ig<id>-<role>" and
// its state (configs, logs, sockets) lives in /run/ipsecgw-lab/ig<id>/.
// Cleanup is registered with testing.TB.Cleanup, so it also runs when the
// test fails or panics. After a SIGKILL of the test binary,
// scripts/clean-lab.sh removes the leftovers (and New removes those of beds
// whose owning process is gone).
//
// # Using it
//
//	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}}) // gwB left for ipsecgwd
//	b.Start(lab.GwB, "ipsecgwd", lab.GoBuild(t, ".../cmd/ipsecgwd"), "-config", cfg)
//	a := b.Charon(lab.GwA)
//	if err := a.Initiate("", 30*time.Second); err != nil { t.Fatal(err) }
//	sas, _ := a.ListSAs()                  // parsed IKE and CHILD SAs
//	err := b.Ping(lab.Client, lab.ServerIP, 3)
//
// # strongSwan pitfalls handled here
//
//   - Debian's include sets kernel-libipsec "load = no": the override must
//     come after the include in strongswan.conf.
//   - charon-systemd writes no pid file and, without journald, no log unless
//     filelog is configured; it is the variant that can run once per
//     namespace (the classic charon insists on one global pid file).
//   - libipsec fakes NAT so that ESP always goes in UDP 4500, even without
//     NAT; its TUN "ipsec0" (MTU 1400) gets txqueuelen 10000 here, else the
//     ring overflows and drops packets.
//   - A SIGKILLed charon leaves its "lookup 220" ip rule (and a restart adds
//     a second one): Charon.Kill removes it.
//   - With 0.0.0.0/0 selectors libipsec routes "default dev ipsec0" in table
//     220, and install_routes = no is ignored: SwanConn.InertTable220 sets
//     kernel-netlink's fwmark so that the table is never consulted.
//   - govici's CallStreaming races its event and response channels and can
//     drop list-sa events or leave them to break the next call; Charon uses
//     a subscription instead (see streamLocked).
//   - libipsec's table-220 route for a CHILD_SA takes its source address
//     from the local selector: a gateway that owns no address inside its
//     local_ts fails the CHILD_SA ("unable to install IPsec policies (SPD)")
//     and answers TS_UNACCEPTABLE. Add an address first (TestTwoConnections).
//   - tcpdump started and stopped quickly captures nothing without
//     --immediate-mode: packets wait in the ring for the block timeout and
//     SIGINT drops them (Capture sets it).
//   - An IKEv2 peer is declared dead only when all retransmissions fail;
//     dpd_timeout is IKEv1 only. Lower RetransmitTries/Timeout/Base for DPD
//     tests.
package lab
