package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// algCase is one row of the algorithm matrix: our connection settings and
// the matching strongSwan proposals.
type algCase struct {
	name                   string
	ikeEnc, ikeAuth, ikeDH string
	espEnc, espAuth, espDH string
	swIKE, swESP           string
	// wantESP is strongSwan's name of the negotiated ESP cipher.
	wantESP string
	// pfsGroup, when set, is the PFS group strongSwan must report after a
	// CREATE_CHILD_SA rekey (IKEv2 runs the PFS DH only on rekeys).
	pfsGroup string
}

// Together the rows cover every value of SPEC §1's encryption,
// authentication and DH lists on the IKE side and on the ESP side, PFS
// enabled and disabled, and the AEAD extras.
var algCases = []algCase{
	{name: "3des-md5-group1/des-md5-pfs1",
		ikeEnc: "3des", ikeAuth: "md5", ikeDH: "group1", espEnc: "des", espAuth: "md5", espDH: "group1",
		swIKE: "3des-md5-modp768", swESP: "des-md5-modp768", wantESP: "DES", pfsGroup: "MODP_768"},
	{name: "aes256-sha512-group14/aes256-sha512-pfs14",
		ikeEnc: "aes256", ikeAuth: "sha512", ikeDH: "group14", espEnc: "aes256", espAuth: "sha512", espDH: "group14",
		swIKE: "aes256-sha512-modp2048", swESP: "aes256-sha512-modp2048", wantESP: "AES_CBC", pfsGroup: "MODP_2048"},
	{name: "aes192-sha256-group5/aes192-sha384-pfs5",
		ikeEnc: "aes192", ikeAuth: "sha256", ikeDH: "group5", espEnc: "aes192", espAuth: "sha384", espDH: "group5",
		swIKE: "aes192-sha256-modp1536", swESP: "aes192-sha384-modp1536", wantESP: "AES_CBC", pfsGroup: "MODP_1536"},
	{name: "des-sha384-group2/3des-sha256-nopfs",
		ikeEnc: "des", ikeAuth: "sha384", ikeDH: "group2", espEnc: "3des", espAuth: "sha256", espDH: "disabled",
		swIKE: "des-sha384-modp1024", swESP: "3des-sha256", wantESP: "3DES"},
	{name: "aes-sha1-group14/aes128gcm16-nopfs",
		ikeEnc: "aes", ikeAuth: "sha1", ikeDH: "group14", espEnc: "aes128gcm16", espDH: "disabled",
		swIKE: "aes128-sha1-modp2048", swESP: "aes128gcm16", wantESP: "AES_GCM_16"},
	{name: "aes256gcm16-group14/aes256gcm16-pfs2",
		ikeEnc: "aes256gcm16", ikeDH: "group14", espEnc: "aes256gcm16", espDH: "group2",
		swIKE: "aes256gcm16-prfsha256-modp2048", swESP: "aes256gcm16-modp1024", wantESP: "AES_GCM_16", pfsGroup: "MODP_1024"},
}

// TestAlgorithms negotiates each row with strongSwan initiating, checks
// traffic and the algorithms on both sides, and where PFS is on, rekeys
// the CHILD_SA so the PFS exchange runs and traffic still flows.
func TestAlgorithms(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for _, tc := range algCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, lab.Options{Charon: []string{}})
			g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
			c := defaultConn("alg")
			c.Immediate = false
			c.IKEEnc, c.IKEAuth, c.IKEDH = tc.ikeEnc, tc.ikeAuth, tc.ikeDH
			c.ESPEnc, c.ESPAuth, c.ESPDH = tc.espEnc, tc.espAuth, tc.espDH
			g.apply(yamlOf(c))
			sw := onPrem(t, b, func(s *lab.SwanConn) { s.IKEProposal, s.ESPProposal = tc.swIKE, tc.swESP })
			if err := sw.Initiate("", 30*time.Second); err != nil {
				t.Fatalf("strongSwan initiate: %v", err)
			}
			st := checkTraffic(t, b, g, "alg", sw)
			ch := installedChild(st)
			if !strings.HasPrefix(strings.ReplaceAll(strings.ToUpper(ch.Encryption), "-", "_"), tc.wantESP) {
				t.Fatalf("ESP cipher %s, want %s", ch.Encryption, tc.wantESP)
			}
			if tc.pfsGroup == "" {
				return
			}
			before := ch.SPIIn
			if err := sw.Rekey(true); err != nil {
				t.Fatalf("strongSwan child rekey: %v", err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				sas, err := sw.ListSAs()
				if err == nil {
					if ike, ok := lab.Established(sas); ok {
						if theirs, ok := ike.InstalledChild(); ok && !strings.EqualFold(theirs.SPIOut, before) && theirs.DHGroup == tc.pfsGroup {
							break
						}
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no rekeyed CHILD_SA with PFS group %s: %+v (err %v)", tc.pfsGroup, sas, err)
				}
				time.Sleep(250 * time.Millisecond)
			}
			if err := b.Ping(lab.Client, lab.ServerIP, 3); err != nil {
				t.Fatalf("ping after PFS rekey: %v", err)
			}
			st = g.waitState("alg", api.StateEstablished, 5*time.Second)
			if ch := installedChild(st); ch == nil || ch.SPIIn == before {
				t.Fatalf("ipsecgw still shows the old CHILD_SA after the rekey: %+v", st)
			}
		})
	}
}

// TestFQDNBehindNAT: FQDN identities, strongSwan behind a masquerading NAT
// that also rewrites ports 500/4500 (masquerade random).
func TestFQDNBehindNAT(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{NAT: true, NATRandom: true, Charon: []string{}})
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("nat")
	c.Immediate = false
	c.LocalID, c.RemoteID = "gwb.example.org", "gwa.example.org"
	g.apply(yamlOf(c))
	sw := onPrem(t, b, func(s *lab.SwanConn) {
		s.LocalID, s.RemoteID = "fqdn:gwa.example.org", "fqdn:gwb.example.org"
	})
	if err := sw.Initiate("", 30*time.Second); err != nil {
		t.Fatalf("strongSwan initiate: %v", err)
	}
	st := checkTraffic(t, b, g, "nat", sw)
	ike := st.IKESAs[0]
	if ike.RemoteID != "gwa.example.org" || ike.RemotePort == 500 || ike.RemotePort == 4500 {
		t.Fatalf("expected the peer's FQDN and a NAT-mapped port, got id %q port %d", ike.RemoteID, ike.RemotePort)
	}
	if !ike.NATRemote || !installedChild(st).UDPEncap {
		t.Fatalf("NAT not detected or ESP not UDP-encapsulated: %+v", ike)
	}
}

// TestMultipleSubnets: two local and two remote subnets in one IKEv2
// CHILD_SA; traffic crosses for both pairs. (strongSwan's kernel-libipsec
// installs a policy only for local subnets it has an address in, so each
// gateway gets one in its second subnet.)
func TestMultipleSubnets(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	for _, cmd := range [][]string{
		{lab.GwA, "ip", "addr", "add", "10.1.5.1/24", "dev", "lan"},
		{lab.GwB, "ip", "addr", "add", "10.2.5.1/24", "dev", "lan"},
	} {
		if out, err := b.Exec(cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	sw := onPrem(t, b, func(s *lab.SwanConn) {
		s.LocalTS = []string{"10.1.0.0/24", "10.1.5.0/24"}
		s.RemoteTS = []string{"10.2.0.0/24", "10.2.5.0/24"}
	})
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("multi")
	c.Local = []string{"10.2.0.0/24", "10.2.5.0/24"}
	c.Remote = []string{"10.1.0.0/24", "10.1.5.0/24"}
	g.apply(yamlOf(c))
	g.waitState("multi", api.StateEstablished, 30*time.Second)
	st := checkTraffic(t, b, g, "multi", sw)
	ch := installedChild(st)
	if len(ch.LocalTS) != 2 || len(ch.RemoteTS) != 2 {
		t.Fatalf("want 2+2 traffic selectors, got %v / %v", ch.LocalTS, ch.RemoteTS)
	}
	if out, err := b.Exec(lab.GwA, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "-I", "10.1.5.1", "10.2.5.1"); err != nil {
		t.Fatalf("ping between the second subnets: %v\n%s", err, out)
	}
}

// TestRouteBased: destination (route-based) mode, 0.0.0.0/0 selectors, the
// connection's route table decides what enters the tunnel.
func TestRouteBased(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	sw := b.StartCharon(lab.GwA, b.RouteBasedConn(lab.GwA))
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("route")
	c.Mode, c.Local, c.Remote = "destination", nil, nil
	c.Routes = []string{lab.ClientNet}
	g.apply(yamlOf(c))
	g.waitState("route", api.StateEstablished, 30*time.Second)
	st := checkTraffic(t, b, g, "route", sw)
	if ch := installedChild(st); ch.LocalTS[0] != "0.0.0.0/0" || ch.RemoteTS[0] != "0.0.0.0/0" {
		t.Fatalf("route-based selectors should be 0.0.0.0/0: %v / %v", ch.LocalTS, ch.RemoteTS)
	}
}

// TestNATRebinding: behind a NAT that translates ports, the NAT forgets
// its mappings (conntrack flushed) so the peer's packets arrive from a
// new port; ipsecgwd follows the peer (RFC 7296 §2.23, RFC 3948) and the
// tunnel keeps carrying traffic in both directions.
func TestNATRebinding(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{NAT: true, NATRandom: true, Charon: []string{}})
	g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
	c := defaultConn("rebind")
	c.Immediate = false
	c.RemoteID = lab.GwAWanNATIP
	g.apply(yamlOf(c))
	sw := onPrem(t, b, nil)
	if err := sw.Initiate("", 30*time.Second); err != nil {
		t.Fatalf("strongSwan initiate: %v", err)
	}
	st := checkTraffic(t, b, g, "rebind", sw)
	before := st.IKESAs[0].RemotePort
	if out, err := b.Exec(lab.NATBox, "conntrack", "-F"); err != nil {
		t.Fatalf("conntrack -F: %v %s", err, out)
	}
	// Traffic from the on-premises side creates the new mapping.
	if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
		t.Fatalf("ping after the NAT rebinding: %v", err)
	}
	if err := b.Ping(lab.Server, lab.ClientIP, 3); err != nil {
		t.Fatalf("ping server→client after the NAT rebinding: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := g.status("rebind")
		if err == nil && len(st.IKESAs) > 0 && st.IKESAs[0].RemotePort != before {
			t.Logf("peer port %d → %d", before, st.IKESAs[0].RemotePort)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IKE SA still at the old port %d: %+v", before, st)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
