package lab_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/test/lab"
)

// A strongSwan-to-strongSwan tunnel: New starts a charon on both gateways
// with the default connection and initiates it from gwA.
func ExampleNew() {
	var t *testing.T // the test's own
	b := lab.New(t, lab.Options{Initiate: true})
	if err := b.Ping(lab.Client, lab.ServerIP, 3); err != nil {
		t.Fatal(err)
	}
	sas, _ := b.Charon(lab.GwA).ListSAs()
	ch, _ := sas[0].InstalledChild()
	fmt.Println(sas[0].State, ch.SPIIn, ch.SPIOut)
	r, _ := b.Iperf(lab.Client, lab.ServerIP, 5*time.Second, 1)
	fmt.Println(r)
}

// Interop against ipsecgwd on gwB: charon runs on gwA only, with IKEv1
// Aggressive Mode and FQDN identities, over a masquerading NAT.
func ExampleBed_StartCharon() {
	var t *testing.T
	b := lab.New(t, lab.Options{NAT: true, NATRandom: true, Charon: []string{}})
	gwd := lab.GoBuild(t, "github.com/ipsecgw/ipsecgw/cmd/ipsecgwd")
	cfg := filepath.Join(b.Dir(), "ipsecgwd.yaml") // write it first
	b.Start(lab.GwB, "ipsecgwd", gwd, "--config", cfg)

	a := b.StartCharon(lab.GwA, lab.SwanConn{
		Version: 1, Aggressive: true,
		LocalID: "fqdn:gwa.example.org", RemoteID: "fqdn:gwb.example.org",
		IKEProposal: "aes256-sha256-modp2048", ESPProposal: "aes128-sha1-modp1024",
		DPDDelay: 5 * time.Second, DPDTimeout: 15 * time.Second,
	})
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(lab.Client, lab.ServerIP, 3); err != nil {
		t.Fatal(err)
	}
}

// Code that must run inside a namespace (a TUN device or a socket of an
// in-process gateway) goes through Do.
func ExampleBed_Do() {
	var t *testing.T
	b := lab.New(t, lab.Options{Charon: []string{lab.GwA}})
	err := b.Do(lab.GwB, func() error {
		// open the TUN device and the UDP 500/4500 sockets here;
		// they stay in gwB's namespace after Do returns
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
