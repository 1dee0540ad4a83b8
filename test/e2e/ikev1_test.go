package e2e

import (
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// TestIKEv1 runs ipsecgwd's IKEv1 against strongSwan: Main Mode with IP
// identities initiated by ipsecgwd, and Aggressive Mode with FQDN
// identities initiated by strongSwan, each with PFS in Quick Mode.
func TestIKEv1(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cases := []struct {
		name       string
		aggressive bool
		weInit     bool
		ikeEnc     string
		ikeAuth    string
		ikeDH      string
		swIKE      string
		swESP      string
	}{
		{name: "main-gateway-initiates", weInit: true, ikeEnc: "aes256", ikeAuth: "sha256", ikeDH: "group14",
			swIKE: "aes256-sha256-modp2048", swESP: "aes128-sha1-modp1024"},
		{name: "aggressive-fqdn-strongswan-initiates", aggressive: true, ikeEnc: "3des", ikeAuth: "md5", ikeDH: "group2",
			swIKE: "3des-md5-modp1024", swESP: "aes128-sha1-modp1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := lab.New(t, lab.Options{Charon: []string{}})
			sw := onPrem(t, b, func(s *lab.SwanConn) {
				s.Version, s.Aggressive = 1, tc.aggressive
				s.IKEProposal, s.ESPProposal = tc.swIKE, tc.swESP
				if tc.aggressive {
					s.LocalID, s.RemoteID = "fqdn:gwa.example.org", "fqdn:gwb.example.org"
				}
			})
			g := startGateway(t, b, lab.GwB, lab.GwBWanIP)
			c := defaultConn("v1")
			c.Version, c.Immediate = "ikev1", tc.weInit
			c.IKEEnc, c.IKEAuth, c.IKEDH = tc.ikeEnc, tc.ikeAuth, tc.ikeDH
			if tc.aggressive {
				c.IKEMode = "aggressive"
				c.LocalID, c.RemoteID = "gwb.example.org", "gwa.example.org"
			}
			g.apply(yamlOf(c))
			if !tc.weInit {
				if err := sw.Initiate("", 30*time.Second); err != nil {
					t.Fatalf("strongSwan initiate: %v", err)
				}
			}
			g.waitState("v1", api.StateEstablished, 30*time.Second)
			st := checkTraffic(t, b, g, "v1", sw)
			if st.IKESAs[0].Version != 1 || st.IKESAs[0].Initiator != tc.weInit {
				t.Fatalf("want an IKEv1 SA with initiator=%v: %+v", tc.weInit, st.IKESAs[0])
			}
		})
	}
}
