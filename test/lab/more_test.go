package lab

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIKEv1Modes brings up IKEv1 Main Mode with IP identities and
// Aggressive Mode with FQDN identities, with PFS in Quick Mode.
func TestIKEv1Modes(t *testing.T) {
	for _, tc := range []struct {
		name string
		aggr bool
		idA  string
		idB  string
	}{
		{"main", false, "", ""},
		{"aggressive", true, "fqdn:gwa.example.org", "fqdn:gwb.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(t, Options{Charon: []string{}})
			ca := SwanConn{Version: 1, Aggressive: tc.aggr, LocalID: tc.idA, RemoteID: tc.idB,
				IKEProposal: "aes256-sha256-modp2048", ESPProposal: "aes192-sha1-modp1536"}
			cb := ca
			cb.LocalID, cb.RemoteID = tc.idB, tc.idA
			a := b.StartCharon(GwA, ca)
			bb := b.StartCharon(GwB, cb)
			if err := a.Initiate("", 30*time.Second); err != nil {
				t.Fatal(err)
			}
			sa, err := bb.WaitEstablished(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if sa.Version != 1 || sa.EncrAlg != "AES_CBC" || sa.EncrKeysize != 256 || sa.DHGroup != "MODP_2048" {
				t.Errorf("IKE SA: v%d %s-%d %s", sa.Version, sa.EncrAlg, sa.EncrKeysize, sa.DHGroup)
			}
			if tc.idA != "" && sa.RemoteID != "gwa.example.org" {
				t.Errorf("remote id %q", sa.RemoteID)
			}
			ch, _ := sa.InstalledChild()
			if ch.EncrKeysize != 192 || ch.DHGroup != "MODP_1536" {
				t.Errorf("child: %s-%d pfs %q", ch.EncrAlg, ch.EncrKeysize, ch.DHGroup)
			}
			if err := b.Ping(Client, ServerIP, 2); err != nil {
				t.Fatal(err)
			}
			mode := "initiating Main Mode"
			if tc.aggr {
				mode = "initiating Aggressive Mode"
			}
			if !strings.Contains(a.Log(), mode) {
				t.Errorf("gwA log lacks %q", mode)
			}
		})
	}
}

// TestCrashRestart kills gwB's charon, checks that its ip rule is gone and
// that a restarted charon brings the tunnel back.
func TestCrashRestart(t *testing.T) {
	b := New(t, Options{Initiate: true})
	if err := b.Ping(Client, ServerIP, 1); err != nil {
		t.Fatal(err)
	}
	gb := b.Charon(GwB)
	if out, _ := b.Exec(GwB, "ip", "rule"); !strings.Contains(out, "lookup 220") {
		t.Fatalf("no rule 220 while running: %s", out)
	}
	gb.Kill()
	if gb.Running() {
		t.Fatal("charon still running after Kill")
	}
	if out, _ := b.Exec(GwB, "ip", "rule"); strings.Contains(out, "220") {
		t.Errorf("rule 220 left after Kill: %s", out)
	}
	if b.PingOnce(Client, ServerIP) {
		t.Error("ping passes with gwB's charon dead")
	}
	if err := gb.Restart(); err != nil {
		t.Fatal(err)
	}
	if out, _ := b.Exec(GwB, "ip", "rule"); strings.Count(out, "lookup 220") != 1 {
		t.Errorf("want one rule 220 after restart: %s", out)
	}
	// gwA still holds the old SA; a fresh initiate (unique=replace default
	// is "no", so a new SA) brings the tunnel back.
	if err := b.Charon(GwA).Clear(""); err != nil {
		t.Fatal(err)
	}
	if err := b.Charon(GwA).Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitPing(Client, ServerIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestDPDClear drops IKE/ESP between the gateways and checks that IKEv2
// liveness checks with a short retransmit schedule clear the SA on gwA.
func TestDPDClear(t *testing.T) {
	b := New(t, Options{Charon: []string{GwB}})
	a := b.StartCharon(GwA, SwanConn{DPDDelay: time.Second, DPDAction: "clear",
		RetransmitTries: 2, RetransmitTimeout: 1, RetransmitBase: 1.4})
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.DropBetweenGateways(true); err != nil {
		t.Fatal(err)
	}
	if b.PingOnce(Client, ServerIP) {
		t.Error("ping passes while UDP 4500 is dropped")
	}
	t0 := time.Now()
	for {
		sas, err := a.ListSAs()
		if err != nil {
			t.Fatal(err)
		}
		if len(sas) == 0 {
			break
		}
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("SA not cleared after 30s: %+v", sas)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("gwA cleared the dead peer after %v", time.Since(t0).Round(100*time.Millisecond))
	if err := b.DropBetweenGateways(false); err != nil {
		t.Fatal(err)
	}
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(Client, ServerIP, 1); err != nil {
		t.Fatal(err)
	}
}

// TestChildRekeyPFS uses a short child lifetime and checks that the rekeyed
// CHILD_SA of IKEv2 carries the PFS group (the first one does not).
func TestChildRekeyPFS(t *testing.T) {
	b := New(t, Options{Charon: []string{GwB}})
	a := b.StartCharon(GwA, SwanConn{ChildRekeyTime: 3 * time.Second, ChildLifeTime: 6 * time.Second, NoJitter: true})
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sa, err := a.WaitEstablished(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sa.InstalledChild()
	if first.DHGroup != "" {
		t.Errorf("first IKEv2 child has a DH group %q", first.DHGroup)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		sas, err := a.ListSAs()
		if err != nil {
			t.Fatal(err)
		}
		if ch, ok := sas[0].InstalledChild(); ok && ch.SPIIn != first.SPIIn {
			if ch.DHGroup != "MODP_1024" {
				t.Errorf("rekeyed child DH group %q", ch.DHGroup)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rekey within 15s: %+v", sas)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := b.Ping(Client, ServerIP, 2); err != nil {
		t.Fatal(err)
	}
}

// TestReloadInitiateFailure loads a wrong PSK on gwB and checks that the
// initiate fails with charon's log in the error.
func TestReloadInitiateFailure(t *testing.T) {
	b := New(t, Options{})
	if err := b.Charon(GwB).Reload(SwanConn{PSK: "wrong"}); err != nil {
		t.Fatal(err)
	}
	err := b.Charon(GwA).Initiate("", 10*time.Second)
	if err == nil {
		t.Fatal("initiate succeeded with mismatched PSKs")
	}
	if !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Errorf("error lacks charon's reason: %v", err)
	}
}

// TestDoIperf checks Do (a socket bound to the client's address can only
// exist inside the client namespace) and Iperf through the tunnel.
func TestDoIperf(t *testing.T) {
	b := New(t, Options{Initiate: true})
	err := b.Do(Client, func() error {
		c, err := net.ListenPacket("udp4", ClientIP+":0")
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("Do in client: %v", err)
	}
	if err := b.Do(Server, func() error {
		c, err := net.ListenPacket("udp4", ClientIP+":0")
		if err == nil {
			c.Close()
		}
		return err
	}); err == nil {
		t.Error("client address bindable in server namespace")
	}
	cpu0, err := b.Charon(GwA).CPU()
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Iperf(Client, ServerIP, 2*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	cpu1, err := b.Charon(GwA).CPU()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("strongSwan<->strongSwan iperf3: %v; gwA charon CPU %v", r, cpu1-cpu0)
	if cpu1-cpu0 < 100*time.Millisecond {
		t.Errorf("gwA charon used %v CPU for 2 s of iperf3", cpu1-cpu0)
	}
	if r.BitsPerSecond < 1e6 {
		t.Errorf("throughput %v", r)
	}
	u, err := b.IperfUDP(Client, ServerIP, time.Second, 20e6, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("UDP 20 Mbit/s: received %.1f Mbit/s, lost %.2f%% of %d, jitter %.3f ms",
		u.BitsPerSecond/1e6, u.LostPercent, u.Packets, u.JitterMs)
	if u.Packets < 1000 || u.LostPercent > 50 {
		t.Errorf("UDP result %+v", u)
	}
}

// TestRouteBased runs 0.0.0.0/0 selectors with the fwmark trick: table 220
// must stay inert, and the main-table routes via ipsec0 carry the LANs and
// the /30 tunnel addresses.
func TestRouteBased(t *testing.T) {
	b := New(t, Options{Charon: []string{}})
	a := b.StartCharon(GwA, b.RouteBasedConn(GwA))
	b.StartCharon(GwB, b.RouteBasedConn(GwB))
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sa, err := a.WaitEstablished(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := sa.InstalledChild()
	if strings.Join(ch.LocalTS, ",") != "0.0.0.0/0" || strings.Join(ch.RemoteTS, ",") != "0.0.0.0/0" {
		t.Errorf("selectors %v === %v", ch.LocalTS, ch.RemoteTS)
	}
	if out, _ := b.Exec(GwA, "ip", "rule"); !strings.Contains(out, "fwmark 0x7e57 lookup 220") {
		t.Errorf("rule 220 not limited to the fwmark: %s", out)
	}
	if err := b.Ping(Client, ServerIP, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(GwA, TunBIP, 2); err != nil {
		t.Fatal(err)
	}
	// A charon restart re-creates ipsec0; the address and routes come back.
	if err := b.Charon(GwB).Restart(); err != nil {
		t.Fatal(err)
	}
	if err := a.Clear(""); err != nil {
		t.Fatal(err)
	}
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitPing(Client, ServerIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestCaptureESPinUDP captures gwA's wan during a ping and finds the
// outbound CHILD_SA's SPI in UDP-encapsulated ESP on port 4500: libipsec
// never sends raw ESP.
func TestCaptureESPinUDP(t *testing.T) {
	b := New(t, Options{Initiate: true})
	p, path, err := b.Capture(GwA, "wan", "wan", "udp")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(Client, ServerIP, 3); err != nil {
		t.Fatal(err)
	}
	text, err := StopCapture(p, path)
	if err != nil {
		t.Fatal(err)
	}
	sas, err := b.Charon(GwA).ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := sas[0].InstalledChild()
	want := "UDP-encap: ESP(spi=0x" + ch.SPIOut
	if !strings.Contains(text, want) || !strings.Contains(text, GwAWanIP+".4500 > "+GwBWanIP+".4500") {
		t.Errorf("capture lacks %q from 4500 to 4500:\n%s", want, text)
	}
}

// TestTwoConnections loads a second connection on both charons (a second
// gwB address, as in dual-tunnel mode) and brings both up side by side.
func TestTwoConnections(t *testing.T) {
	b := New(t, Options{})
	const gwB2 = "192.0.2.3"
	if _, err := b.Exec(GwB, "ip", "addr", "add", gwB2+"/24", "dev", "wan"); err != nil {
		t.Fatal(err)
	}
	// libipsec's routes take their source from the local selector: gwB
	// needs an address inside 10.2.1.0/24.
	if _, err := b.Exec(GwB, "ip", "addr", "add", "10.2.1.1/24", "dev", "lan"); err != nil {
		t.Fatal(err)
	}
	a, bb := b.Charon(GwA), b.Charon(GwB)
	if err := a.Load(SwanConn{Name: "tun2", Child: "net2", RemoteAddr: gwB2, RemoteID: gwB2,
		RemoteTS: []string{"10.2.1.0/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := bb.Load(SwanConn{Name: "tun2", Child: "net2", LocalAddr: gwB2, LocalID: gwB2,
		LocalTS: []string{"10.2.1.0/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.InitiateIKE("tun2", "net2", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sas, err := bb.WaitSAs(5*time.Second, func(sas []IKESA) bool { return len(sas) == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if sas[1].Name != "tun2" || sas[1].LocalHost != gwB2 {
		t.Errorf("second SA: %s", summary(sas))
	}
	if err := b.Ping(Client, ServerIP, 2); err != nil {
		t.Fatal(err)
	}
}

// TestIKERekey uses a 3 s IKE rekey time: the IKE SA gets new SPIs, its
// CHILD_SA moves over, and traffic keeps flowing.
func TestIKERekey(t *testing.T) {
	b := New(t, Options{Charon: []string{GwB}})
	a := b.StartCharon(GwA, SwanConn{IKERekeyTime: 3 * time.Second, IKELifeTime: 10 * time.Second, NoJitter: true,
		LogLevels: map[string]int{"enc": 2}})
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	first, err := a.WaitEstablished(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if first.RekeyTime <= 0 || first.RekeyTime > 3*time.Second {
		t.Errorf("rekey-time %v, want ≤ 3s", first.RekeyTime)
	}
	sas, err := a.WaitSAs(15*time.Second, func(sas []IKESA) bool {
		sa, ok := Established(sas)
		_, child := sa.InstalledChild()
		return ok && child && sa.SPIInit != first.SPIInit
	})
	if err != nil {
		t.Fatal(err)
	}
	if sa, _ := Established(sas); sa.UniqueID == first.UniqueID {
		t.Errorf("same unique id after rekey: %s", summary(sas))
	}
	if err := b.Ping(Client, ServerIP, 2); err != nil {
		t.Fatal(err)
	}
	// LogLevels: enc at level 2 logs each payload added to a message.
	if !strings.Contains(a.Log(), "added payload of type KEY_EXCHANGE") {
		t.Error("enc level 2 not in effect")
	}
}

// TestCharonDiesOnItsOwn kills charon behind the Charon's back: VICI calls
// must fail promptly instead of hanging, and Restart must recover.
func TestCharonDiesOnItsOwn(t *testing.T) {
	b := New(t, Options{Charon: []string{GwA}})
	a := b.Charon(GwA)
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := a.ListSAs()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ListSAs on a dead charon succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ListSAs on a dead charon hangs")
	}
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ListSAs(); err != nil {
		t.Fatal(err)
	}
	if out, _ := b.Exec(GwA, "ip", "rule"); strings.Count(out, "lookup 220") != 1 {
		t.Errorf("want one rule 220 after restart: %s", out)
	}
}
