package config

import (
	"slices"
	"testing"
)

func TestTransformIDs(t *testing.T) {
	enc := map[Encryption]Transform{
		EncAES:              {TransformENCR, 12, 128},
		EncAES192:           {TransformENCR, 12, 192},
		EncAES256:           {TransformENCR, 12, 256},
		EncDES:              {TransformENCR, 2, 0},
		Enc3DES:             {TransformENCR, 3, 0},
		EncAES128GCM16:      {TransformENCR, 20, 128},
		EncAES256GCM16:      {TransformENCR, 20, 256},
		EncChaCha20Poly1305: {TransformENCR, 28, 0},
	}
	for _, e := range Encryptions() {
		got, ok := e.Transform()
		if !ok || got != enc[e] {
			t.Errorf("%s: %+v %v, want %+v", e, got, ok, enc[e])
		}
	}
	integ := map[Authentication][2]uint16{ // INTEG, PRF
		AuthMD5: {1, 1}, AuthSHA1: {2, 2}, AuthSHA256: {12, 5}, AuthSHA384: {13, 6}, AuthSHA512: {14, 7},
	}
	for _, a := range Authentications() {
		i, ok1 := a.Integrity()
		p, ok2 := a.PRF()
		if !ok1 || !ok2 || i.ID != integ[a][0] || p.ID != integ[a][1] || i.Type != TransformINTEG || p.Type != TransformPRF {
			t.Errorf("%s: integ %+v prf %+v", a, i, p)
		}
	}
	dh := map[DHGroup]uint16{Group1: 1, Group2: 2, Group5: 5, Group14: 14, Group19: 19, Group20: 20, Group21: 21, Group31: 31}
	for _, g := range DHGroups() {
		got, ok := g.Transform()
		if !ok || got.ID != dh[g] || got.Type != TransformDH {
			t.Errorf("%s: %+v", g, got)
		}
	}
	if _, ok := GroupDisabled.Transform(); ok {
		t.Error("disabled has a DH transform")
	}
	if _, ok := Encryption("rc4").Transform(); ok {
		t.Error("rc4 accepted")
	}
	if TransformDH.String() != "DH" || TransformType(9).String() != "TRANSFORM(9)" {
		t.Error("TransformType.String")
	}
}

func TestProposals(t *testing.T) {
	cases := []struct {
		ike, esp     string
		ikeTs, espTs []uint16 // transform IDs in order
		ikeCfg       IKEConfig
		espCfg       IPsecConfig
	}{
		{"aes128-sha1-modp1024", "aes128-sha1-modp1024", []uint16{12, 2, 2, 2}, []uint16{12, 2, 2},
			IKEConfig{}, IPsecConfig{}},
		{"aes256gcm16-prfsha256-ecp256", "aes128gcm16", []uint16{20, 5, 19}, []uint16{20},
			IKEConfig{Encryption: EncAES256GCM16, DHGroup: Group19},
			IPsecConfig{Encryption: EncAES128GCM16, DHGroup: GroupDisabled}},
		{"3des-md5-modp768", "chacha20poly1305-curve25519", []uint16{3, 1, 1, 1}, []uint16{28, 31},
			IKEConfig{Encryption: Enc3DES, Authentication: AuthMD5, DHGroup: Group1},
			IPsecConfig{Encryption: EncChaCha20Poly1305, DHGroup: Group31}},
		{"aes192-sha512-modp2048", "aes256-sha384", []uint16{12, 7, 14, 14}, []uint16{12, 13},
			IKEConfig{Encryption: EncAES192, Authentication: AuthSHA512, DHGroup: Group14},
			IPsecConfig{Encryption: EncAES256, Authentication: AuthSHA384, DHGroup: GroupDisabled}},
	}
	ids := func(ts []Transform) []uint16 {
		var out []uint16
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	for _, tc := range cases {
		if got := tc.ikeCfg.StrongSwanProposal(); got != tc.ike {
			t.Errorf("IKE proposal %q, want %q", got, tc.ike)
		}
		if got := tc.espCfg.StrongSwanProposal(); got != tc.esp {
			t.Errorf("ESP proposal %q, want %q", got, tc.esp)
		}
		ts, ok := tc.ikeCfg.Transforms()
		if !ok || !slices.Equal(ids(ts), tc.ikeTs) {
			t.Errorf("%s transforms %v", tc.ike, ts)
		}
		ts, ok = tc.espCfg.Transforms()
		if !ok || !slices.Equal(ids(ts), tc.espTs) {
			t.Errorf("%s transforms %v", tc.esp, ts)
		}
	}
	bad := IKEConfig{Encryption: "rc4"}
	if _, ok := bad.Transforms(); ok || bad.StrongSwanProposal() != "" {
		t.Error("unknown cipher produced a proposal")
	}
}
