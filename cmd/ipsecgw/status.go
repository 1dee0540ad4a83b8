package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ipsecgw/ipsecgw/api"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show connections, IKE SAs and child SAs (like swanctl --list-sas)",
		Long: `status prints every connection with its state, its IKE SA and the child
(IPsec) SAs under it, in the layout of strongSwan's 'swanctl --list-sas':

  hq: #1, ESTABLISHED, IKEv2, 5f1d2f5d8b0a4e2b_i* 8c0b3e9f7a6d5c4b_r
    local  '192.0.2.2' @ 192.0.2.2[4500]
    remote '192.0.2.1' @ 192.0.2.1[4500]
    AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024
    established 123s ago, rekeying in 86000s
    hq: #1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA1_96
      installed 123s ago, rekeying in 3000s
      in  c1d2e3f4,   1234 bytes,    12 packets,     5s ago
      out c5d6e7f8,   1234 bytes,    12 packets,     5s ago
      local  10.2.0.0/24
      remote 10.1.0.0/24

A connection without SAs prints one line with its state. -o json prints the
API's status document.` + exitStatusText,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(st)
			}
			printStatus(a.stdout, st, time.Now())
			return nil
		},
	}
}

// printStatus renders st like swanctl --list-sas.
func printStatus(w io.Writer, st *api.Status, now time.Time) {
	if len(st.Connections) == 0 {
		fmt.Fprintln(w, "no connections")
		return
	}
	for _, c := range st.Connections {
		label := c.Name
		if label == "" {
			label = c.ID
		}
		if len(c.IKESAs) == 0 {
			extra := []string{"remote " + c.CustomerGateway}
			if c.TransitRouterID != "" {
				extra = append(extra, "transit router "+c.TransitRouterID)
			}
			if c.BGP != "" {
				extra = append(extra, "BGP "+c.BGP)
			}
			if c.Health != "" {
				extra = append(extra, "health "+c.Health)
			}
			if c.Message != "" {
				extra = append(extra, c.Message)
			}
			fmt.Fprintf(w, "%s (%s): %s, %s, no IKE SA\n", label, c.ID, strings.ToUpper(c.State), strings.Join(extra, ", "))
			continue
		}
		for _, ike := range c.IKESAs {
			mark := func(init bool) string {
				if init {
					return "*"
				}
				return ""
			}
			fmt.Fprintf(w, "%s: #%d, %s, IKEv%d, %s_i%s %s_r%s\n", label, ike.UniqueID, strings.ToUpper(ike.State),
				ike.Version, ike.SPIInitiator, mark(ike.Initiator), ike.SPIResponder, mark(!ike.Initiator))
			fmt.Fprintf(w, "  local  '%s' @ %s[%d]%s\n", ike.LocalID, ike.LocalAddress, ike.LocalPort, natMark(ike.NATLocal))
			fmt.Fprintf(w, "  remote '%s' @ %s[%d]%s\n", ike.RemoteID, ike.RemoteAddress, ike.RemotePort, natMark(ike.NATRemote))
			fmt.Fprintf(w, "  %s\n", joinNonEmpty("/", ike.Encryption, ike.Integrity, ike.PRF, ike.DHGroup))
			line := []string{}
			if !ike.EstablishedAt.IsZero() {
				line = append(line, "established "+ago(now, ike.EstablishedAt))
			}
			if !ike.RekeyAt.IsZero() {
				line = append(line, "rekeying in "+until(now, ike.RekeyAt))
			}
			if len(line) > 0 {
				fmt.Fprintf(w, "  %s\n", strings.Join(line, ", "))
			}
			if c.TransitRouterID != "" || c.BGP != "" || c.Health != "" {
				fmt.Fprintf(w, "  transit router %s, BGP %s, health %s\n", dash(c.TransitRouterID), dash(c.BGP), dash(c.Health))
			}
			for _, ch := range ike.ChildSAs {
				mode := ch.Mode
				if ch.UDPEncap {
					mode += "-in-UDP"
				}
				fmt.Fprintf(w, "  %s: #%d, %s, %s, %s:%s\n", ch.Name, ch.UniqueID, strings.ToUpper(ch.State), mode, ch.Protocol,
					joinNonEmpty("/", ch.Encryption, ch.Integrity, ch.DHGroup))
				line := []string{}
				if !ch.InstalledAt.IsZero() {
					line = append(line, "installed "+ago(now, ch.InstalledAt))
				}
				if !ch.RekeyAt.IsZero() {
					line = append(line, "rekeying in "+until(now, ch.RekeyAt))
				}
				if len(line) > 0 {
					fmt.Fprintf(w, "    %s\n", strings.Join(line, ", "))
				}
				fmt.Fprintf(w, "    in  %s, %6d bytes, %5d packets%s\n", ch.SPIIn, ch.BytesIn, ch.PacketsIn, lastSeen(now, ch.LastIn))
				fmt.Fprintf(w, "    out %s, %6d bytes, %5d packets%s\n", ch.SPIOut, ch.BytesOut, ch.PacketsOut, lastSeen(now, ch.LastOut))
				fmt.Fprintf(w, "    local  %s\n", strings.Join(ch.LocalTS, " "))
				fmt.Fprintf(w, "    remote %s\n", strings.Join(ch.RemoteTS, " "))
			}
		}
	}
}

func natMark(nat bool) string {
	if nat {
		return " [NAT]"
	}
	return ""
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func ago(now, t time.Time) string { return fmt.Sprintf("%ds ago", int(now.Sub(t).Seconds())) }

func until(now, t time.Time) string {
	d := int(t.Sub(now).Seconds())
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%ds", d)
}

func lastSeen(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf(", %5ds ago", int(now.Sub(t).Seconds()))
}
