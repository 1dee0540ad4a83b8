package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// startBird runs BIRD 2 on gwA as the on-premises BGP speaker (AS 65001):
// it announces the client LAN and installs what it learns into gwA's
// kernel table.
func startBird(t *testing.T, b *lab.Bed) *lab.Proc {
	t.Helper()
	dir := filepath.Join(b.Dir(), "bird")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`log "%[1]s/bird.log" all;
router id %[2]s;
protocol device { scan time 2; }
protocol direct { ipv4; interface "ipsec0"; }
protocol kernel { ipv4 { export where proto = "cloud"; }; }
protocol static onprem { ipv4; route %[3]s blackhole; }
protocol bgp cloud {
	local %[2]s as 65001;
	neighbor %[4]s as 45104;
	hold time 9; keepalive time 3;
	connect delay time 1; connect retry time 3; error wait time 1, 5;
	graceful restart off;
	ipv4 { import all; export where proto = "onprem"; };
}
`, dir, lab.TunAIP, lab.ClientNet, lab.TunBIP)
	path := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Start(lab.GwA, "bird", "bird", "-f", "-c", path, "-s", filepath.Join(dir, "bird.ctl"))
}

// TestBGPAndHealthCheck: route-based tunnel with eBGP through it against
// BIRD on the on-premises side. ipsecgwd announces the server LAN and
// installs the client LAN it learns; traffic flows on the learned routes.
// A health check through the tunnel withdraws the routes when its target
// stops answering (switch_route) and restores them when it answers again.
func TestBGPAndHealthCheck(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := b.DefaultConn(lab.GwA)
	sw.LocalTS, sw.RemoteTS = []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}
	sw.InertTable220, sw.TunAddr = true, lab.TunAIP+lab.TunPlen
	b.StartCharon(lab.GwA, sw)
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("bgp")
	c.Mode, c.Local, c.Remote = "destination", nil, nil
	c.BGPCIDR, c.BGPLocal, c.PeerASN, c.Announce = lab.TunNet, lab.TunBIP, 65001, []string{lab.ServerNet}
	c.HCDest, c.HCSource, c.HCInterval, c.HCRetries = lab.ClientIP, lab.GwBLanIP, 1, 2
	g.apply(yamlOf(c))
	g.waitState("bgp", api.StateEstablished, 30*time.Second)
	startBird(t, b)

	waitFor := func(what string, timeout time.Duration, ok func(api.ConnectionStatus, string) bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			st, err := g.status("bgp")
			routes, _ := b.Exec(lab.GwB, "ip", "route", "show")
			if err == nil && ok(st, routes) {
				t.Logf("%s (bgp %s, health %s)", what, st.BGP, st.Health)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v: status %+v\nroutes on gwB:\n%s", what, timeout, st, routes)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitFor("BGP session established", 30*time.Second, func(st api.ConnectionStatus, _ string) bool {
		return strings.EqualFold(st.BGP, "established")
	})
	waitFor("client LAN learned over BGP", 20*time.Second, func(_ api.ConnectionStatus, routes string) bool {
		return strings.Contains(routes, lab.ClientNet+" dev ipsecgw0")
	})
	if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
		out, _ := b.Exec(lab.GwA, "ip", "route", "show")
		t.Fatalf("ping over BGP-learned routes: %v\ngwA routes:\n%s", err, out)
	}
	waitFor("health check up", 20*time.Second, func(st api.ConnectionStatus, _ string) bool { return st.Health == "up" })

	// The client stops answering the probes (only those from the health
	// check's source): the published routes go, the probe's host route stays.
	if out, err := b.Exec(lab.Client, "nft", "add table ip hc; add chain ip hc in { type filter hook input priority 0; }; add rule ip hc in ip saddr "+lab.GwBLanIP+" icmp type echo-request drop"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	waitFor("routes withdrawn after the health check failed", 20*time.Second, func(st api.ConnectionStatus, routes string) bool {
		return st.Health == "down" && !strings.Contains(routes, lab.ClientNet+" dev ipsecgw0") &&
			strings.Contains(routes, lab.ClientIP+" dev ipsecgw0")
	})
	if out, err := b.Exec(lab.Client, "nft", "delete table ip hc"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	waitFor("routes back after recovery", 20*time.Second, func(st api.ConnectionStatus, routes string) bool {
		return st.Health == "up" && strings.Contains(routes, lab.ClientNet+" dev ipsecgw0")
	})
	if err := b.Ping(lab.Client, lab.ServerIP, 3); err != nil {
		t.Fatalf("ping after recovery: %v", err)
	}
}
