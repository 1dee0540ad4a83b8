package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkTunnel asserts the SAs of both charons agree and traffic flows.
func checkTunnel(t *testing.T, b *Bed, wantNAT bool) {
	t.Helper()
	a, bb := b.Charon(GwA), b.Charon(GwB)
	if err := a.Initiate("", 30*time.Second); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	saA, err := a.WaitEstablished(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	saB, err := bb.WaitEstablished(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if saA.Version != 2 || !saA.Initiator || saB.Initiator {
		t.Errorf("version/initiator: gwA %d %v, gwB %v", saA.Version, saA.Initiator, saB.Initiator)
	}
	if saA.SPIInit == "" || saA.SPIInit != saB.SPIInit || saA.SPIResp != saB.SPIResp {
		t.Errorf("IKE SPIs differ: gwA %s/%s gwB %s/%s", saA.SPIInit, saA.SPIResp, saB.SPIInit, saB.SPIResp)
	}
	if saA.EncrAlg != "AES_CBC" || saA.EncrKeysize != 128 || saA.IntegAlg != "HMAC_SHA1_96" ||
		saA.PRFAlg != "PRF_HMAC_SHA1" || saA.DHGroup != "MODP_1024" {
		t.Errorf("IKE algorithms: %s-%d %s %s %s", saA.EncrAlg, saA.EncrKeysize, saA.IntegAlg, saA.PRFAlg, saA.DHGroup)
	}
	if saA.RemoteHost != GwBWanIP || saA.RemotePort != 4500 {
		t.Errorf("gwA sees peer at %s:%d", saA.RemoteHost, saA.RemotePort)
	}
	if wantNAT {
		if !saA.NATLocal || !saB.NATRemote {
			t.Errorf("NAT flags: gwA local %v, gwB remote %v", saA.NATLocal, saB.NATRemote)
		}
		if saB.RemoteHost != NATOutIP {
			t.Errorf("gwB sees peer at %s", saB.RemoteHost)
		}
	}
	chA, ok := saA.InstalledChild()
	if !ok {
		t.Fatalf("gwA: no installed child: %+v", saA)
	}
	chB, ok := saB.InstalledChild()
	if !ok {
		t.Fatalf("gwB: no installed child: %+v", saB)
	}
	if chA.SPIIn == "" || chA.SPIIn != chB.SPIOut || chA.SPIOut != chB.SPIIn {
		t.Errorf("ESP SPIs: gwA in/out %s/%s, gwB in/out %s/%s", chA.SPIIn, chA.SPIOut, chB.SPIIn, chB.SPIOut)
	}
	if chA.Protocol != "ESP" || !chA.Encap || chA.EncrAlg != "AES_CBC" || chA.IntegAlg != "HMAC_SHA1_96" {
		t.Errorf("child: %s encap=%v %s %s", chA.Protocol, chA.Encap, chA.EncrAlg, chA.IntegAlg)
	}
	if strings.Join(chA.LocalTS, ",") != ClientNet || strings.Join(chA.RemoteTS, ",") != ServerNet {
		t.Errorf("gwA selectors %v === %v", chA.LocalTS, chA.RemoteTS)
	}
	if err := b.Ping(Client, ServerIP, 3); err != nil {
		t.Fatal(err)
	}
	sas, err := a.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := sas[0].InstalledChild()
	if ch.PacketsOut < 3 || ch.PacketsIn < 3 {
		t.Errorf("gwA child counters after 3 pings: out %d in %d", ch.PacketsOut, ch.PacketsIn)
	}
}

func TestStrongSwanToStrongSwan(t *testing.T) {
	var id string
	t.Run("tunnel", func(t *testing.T) {
		b := New(t, Options{})
		id = b.ID()
		// Without a tunnel there is no way between the LANs.
		if b.PingOnce(Client, ServerIP) {
			t.Fatal("client reaches server without a tunnel")
		}
		if out, _ := b.Exec(GwA, "ip", "link", "show", "ipsec0"); !strings.Contains(out, "qlen 10000") {
			t.Errorf("ipsec0 txqueuelen not raised: %s", out)
		}
		checkTunnel(t, b, false)
	})
	assertGone(t, id)
}

func TestStrongSwanNATRandom(t *testing.T) {
	var id string
	t.Run("tunnel", func(t *testing.T) {
		b := New(t, Options{NAT: true, NATRandom: true})
		id = b.ID()
		checkTunnel(t, b, true)
		sas, err := b.Charon(GwB).ListSAs()
		if err != nil {
			t.Fatal(err)
		}
		if p := sas[0].RemotePort; p == 4500 || p == 500 {
			t.Errorf("masquerade random kept port %d", p)
		}
	})
	assertGone(t, id)
}

// assertGone checks that no namespace or state of bed id remains.
func assertGone(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		return // the subtest skipped or failed before building
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, id+"-") {
			t.Errorf("namespace left after cleanup: %s", l)
		}
	}
	if _, err := os.Stat(filepath.Join(StateRoot, id)); err == nil {
		t.Errorf("state dir %s left after cleanup", id)
	}
}

const panicEnv = "IPSECGW_LAB_PANIC_CHILD"

// TestCleanupOnPanic runs a bed with a charon in a child `go test` process
// whose test body panics, then checks that nothing of it remains.
func TestCleanupOnPanic(t *testing.T) {
	if os.Getenv(panicEnv) == "1" {
		b := New(t, Options{Charon: []string{GwA}})
		p := b.Start(Client, "sleeper", "sleep", "600")
		fmt.Printf("BED %s %d %d\n", b.ID(), p.Pid(), b.Charon(GwA).Pid())
		panic("lab: deliberate panic to test cleanup")
	}
	Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanupOnPanic$", "-test.v")
	cmd.Env = append(os.Environ(), panicEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child did not fail:\n%s", out)
	}
	if !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("child did not panic:\n%s", out)
	}
	if !strings.Contains(string(out), "gwA charon log (tail)") || !strings.Contains(string(out), "loaded plugins") {
		t.Errorf("child dumped no charon log:\n%s", out)
	}
	var id string
	var sleeper, charon int
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "BED ") {
			if _, err := fmt.Sscanf(l, "BED %s %d %d", &id, &sleeper, &charon); err != nil {
				t.Fatalf("bad BED line %q: %v", l, err)
			}
		}
	}
	if id == "" || sleeper == 0 || charon == 0 {
		t.Fatalf("child printed no bed id and pids:\n%s", out)
	}
	assertGone(t, id)
	for _, pid := range []int{sleeper, charon} {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d of the panicked bed still runs", pid)
		}
	}
}

// TestParallelBeds runs two beds at once: same addresses, separate
// namespaces, separate charons; each tunnel works and their SPIs differ.
func TestParallelBeds(t *testing.T) {
	Require(t)
	spis := make([]string, 2)
	ids := make([]string, 2)
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				b := New(t, Options{Initiate: true})
				ids[i] = b.ID()
				if err := b.Ping(Client, ServerIP, 3); err != nil {
					t.Fatal(err)
				}
				sa, err := b.Charon(GwB).WaitEstablished(5 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				spis[i] = sa.SPIInit
			})
		}
	})
	if ids[0] == ids[1] {
		t.Errorf("two beds share id %q", ids[0])
	}
	if spis[0] == spis[1] {
		t.Errorf("two beds share the IKE SA %q", spis[0])
	}
	assertGone(t, ids[0])
	assertGone(t, ids[1])
}
