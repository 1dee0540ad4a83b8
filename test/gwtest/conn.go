package gwtest

import (
	"strings"
	"text/template"

	"github.com/ipsecgw/ipsecgw/test/lab"
)

// Conn is the subset of a connections-file entry (SPEC §4) the tests vary.
type Conn struct {
	Name, CustomerGateway, PSK string
	Mode                       string // routing mode
	Local, Remote, Routes      []string
	Immediate                  bool
	Version, IKEMode           string
	IKEEnc, IKEAuth, IKEDH     string
	IKELife                    int
	LocalID, RemoteID          string
	ESPEnc, ESPAuth, ESPDH     string
	ESPLife                    int
	DPD, NATT                  bool
	// BGP (when PeerASN is set) and health check (when HCDest is set).
	BGPCIDR, BGPLocal string
	PeerASN           uint32
	Announce          []string
	HCDest, HCSource  string
	HCInterval        int
	HCRetries         int
}

// DefaultConn is the product's defaults (IKEv2, aes/sha1/group2 for IKE
// and ESP, DPD and NAT traversal on) in protected-subnets mode, as the
// cloud side (gwB) of the lab against gwA.
func DefaultConn(name string) Conn {
	return Conn{
		Name: name, CustomerGateway: lab.GwAWanIP, PSK: lab.DefaultPSK,
		Mode: "protected-subnets", Local: []string{lab.ServerNet}, Remote: []string{lab.ClientNet},
		Immediate: true, Version: "ikev2", IKEMode: "main",
		IKEEnc: "aes", IKEAuth: "sha1", IKEDH: "group2", IKELife: 86400,
		ESPEnc: "aes", ESPAuth: "sha1", ESPDH: "group2", ESPLife: 86400,
		DPD: true, NATT: true,
	}
}

// Mirror returns the on-premises gateway's view of c: an ipsecgwd on gwA
// whose customer gateway is gwB.
func Mirror(c Conn) Conn {
	m := c
	m.CustomerGateway = lab.GwBWanIP
	m.Local, m.Remote = c.Remote, c.Local
	m.LocalID, m.RemoteID = c.RemoteID, c.LocalID
	if c.Mode == "destination" {
		m.Routes = []string{lab.ServerNet}
	}
	return m
}

var connTmpl = template.Must(template.New("c").Funcs(template.FuncMap{"list": func(ss []string) string {
	return "[" + strings.Join(ss, ", ") + "]"
}}).Parse(`connections:
{{- range .}}
  - name: {{.Name}}
    customer_gateway: {{.CustomerGateway}}
    routing_mode: {{.Mode}}
{{- if .Local}}
    local_subnets: {{list .Local}}
    remote_subnets: {{list .Remote}}
{{- end}}
{{- if .Routes}}
    routes: {{list .Routes}}
{{- end}}
    effective_immediately: {{.Immediate}}
    psk: "{{.PSK}}"
    ike:
      version: {{.Version}}
      mode: {{.IKEMode}}
      encryption: {{.IKEEnc}}
{{- if .IKEAuth}}
      authentication: {{.IKEAuth}}
{{- end}}
      dh_group: {{.IKEDH}}
      lifetime: {{.IKELife}}
{{- if .LocalID}}
      local_id: {{.LocalID}}
{{- end}}
{{- if .RemoteID}}
      remote_id: {{.RemoteID}}
{{- end}}
    ipsec:
      encryption: {{.ESPEnc}}
{{- if .ESPAuth}}
      authentication: {{.ESPAuth}}
{{- end}}
      dh_group: {{.ESPDH}}
      lifetime: {{.ESPLife}}
    dpd: {{.DPD}}
    nat_traversal: {{.NATT}}
{{- if .PeerASN}}
    bgp:
      enabled: true
      tunnel_cidr: {{.BGPCIDR}}
      local_address: {{.BGPLocal}}
      peer_asn: {{.PeerASN}}
      announce: {{list .Announce}}
{{- end}}
{{- if .HCDest}}
    health_check:
      enabled: true
      destination_ip: {{.HCDest}}
      source_ip: {{.HCSource}}
      interval: {{.HCInterval}}
      retries: {{.HCRetries}}
{{- end}}
{{- end}}
`))

// YAML renders connections as a connections file.
func YAML(cs ...Conn) string {
	var b strings.Builder
	if err := connTmpl.Execute(&b, cs); err != nil {
		panic(err)
	}
	return b.String()
}
