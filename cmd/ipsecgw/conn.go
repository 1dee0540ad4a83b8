package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

const exitStatusText = `

Exit status: 0 success, 1 rejected by the daemon (errors printed as
"field: message (rule)"), 2 usage error, 3 daemon unreachable.`

// resolve maps a connection argument (ID or name) to its ID.
func resolve(ctx context.Context, c *client.Client, arg string) (string, error) {
	conns, err := c.ListConnections(ctx, false)
	if err != nil {
		return "", err
	}
	for _, x := range conns {
		if x.ID == arg {
			return x.ID, nil
		}
	}
	var ids []string
	for _, x := range conns {
		if x.Name == arg {
			ids = append(ids, x.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", &exitError{code: exitInvalid, msg: fmt.Sprintf("no connection with id or name %q", arg)}
	case 1:
		return ids[0], nil
	}
	return "", &exitError{code: exitInvalid, msg: fmt.Sprintf("%q names %d connections (%s); use the id", arg, len(ids), strings.Join(ids, ", "))}
}

// withConn runs fn with a client and the resolved connection ID of args[0].
func (a *app) withConn(cmd *cobra.Command, args []string, fn func(ctx context.Context, c *client.Client, id string) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	id, err := resolve(cmd.Context(), c, args[0])
	if err != nil {
		return err
	}
	return fn(cmd.Context(), c, id)
}

func (a *app) connCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "conn",
		Aliases: []string{"connection", "connections"},
		Short:   "List, show, create, modify and delete IPsec connections",
		Long: `conn manages individual IPsec connections. CONN is a connection id
(vco-…) or its name. To manage a whole set declaratively use 'ipsecgw apply'.` + exitStatusText,
	}
	var secrets bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List connections",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			conns, err := c.ListConnections(cmd.Context(), secrets)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(api.ConnectionList{Connections: conns})
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tNAME\tCUSTOMER GATEWAY\tMODE\tIKE\tBGP\tTRANSIT ROUTER\tZONE")
			for _, x := range conns {
				tr, zone := "-", "-"
				if x.Attachment != nil {
					tr, zone = x.Attachment.TransitRouterID, x.Attachment.Zone
				}
				bgp := "-"
				if x.BGP.Enabled {
					bgp = "AS" + x.BGP.PeerASN.String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, dash(x.Name), x.CustomerGateway,
					x.Mode(), x.IKE.EffectiveVersion(), bgp, tr, zone)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&secrets, "show-secrets", false, "include pre-shared keys")

	var showSecrets bool
	show := &cobra.Command{
		Use:   "show CONN",
		Short: "Show one connection's effective configuration",
		Args:  exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				x, err := c.GetConnection(ctx, id, showSecrets)
				if err != nil {
					return err
				}
				return a.printConnection(x)
			})
		},
	}
	show.Flags().BoolVar(&showSecrets, "show-secrets", false, "include the pre-shared key")

	var createFile string
	create := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create the connections of a connections file",
		Long: `create validates FILE (a connections file) and creates each connection in it.
It does not compare with what exists; a name already in use is rejected.` + exitStatusText,
		Example: `  ipsecgw conn create -f hq.yaml`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.loadFile(createFile)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			for i := range f.Connections {
				x, err := c.CreateConnection(cmd.Context(), &f.Connections[i])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "created %s %s\n", x.ID, x.Name)
			}
			return nil
		},
	}
	create.Flags().StringVarP(&createFile, "file", "f", "", "connections file (required)")
	create.MarkFlagRequired("file")

	var modifyFile string
	modify := &cobra.Command{
		Use:   "modify CONN -f FILE",
		Short: "Replace one connection's configuration",
		Long: `modify replaces CONN's configuration with the single connection in FILE (a
connections file with exactly one entry). Omitted keys take their defaults,
as on create. Attachments and authorizations are kept. The gateway type
cannot change.` + exitStatusText,
		Example: `  ipsecgw conn modify hq -f hq.yaml`,
		Args:    exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.loadFile(modifyFile)
			if err != nil {
				return err
			}
			if len(f.Connections) != 1 {
				return usagef("%s holds %d connections; modify takes exactly one", modifyFile, len(f.Connections))
			}
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				want := f.Connections[0]
				want.ID = ""
				x, err := c.ReplaceConnection(ctx, id, &want)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "modified %s %s\n", x.ID, x.Name)
				return nil
			})
		},
	}
	modify.Flags().StringVarP(&modifyFile, "file", "f", "", "connections file with one connection (required)")
	modify.MarkFlagRequired("file")

	del := &cobra.Command{
		Use:     "delete CONN",
		Aliases: []string{"rm"},
		Short:   "Delete an unattached connection",
		Args:    exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				if err := c.DeleteConnection(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted %s\n", id)
				return nil
			})
		},
	}
	cmd.AddCommand(list, show, create, modify, del)
	return cmd
}

// printConnection prints one connection: JSON with -o json, else YAML in
// the connections-file shape followed by its attachment and authorizations.
func (a *app) printConnection(x *store.Connection) error {
	if a.output == "json" {
		return a.printJSON(x)
	}
	b, err := yaml.Marshal(x.Connection)
	if err != nil {
		return err
	}
	a.stdout.Write(b)
	if x.Attachment != nil {
		fmt.Fprintf(a.stdout, "attachment:\n  transit_router_id: %s\n  zone: %s\n  gateway_type: %s\n",
			x.Attachment.TransitRouterID, x.Attachment.Zone, x.Attachment.GatewayType)
		if x.Attachment.AccountID != "" {
			fmt.Fprintf(a.stdout, "  account_id: %s\n", x.Attachment.AccountID)
		}
	} else {
		fmt.Fprintln(a.stdout, "attachment: none")
	}
	if len(x.Authorizations) > 0 {
		fmt.Fprintln(a.stdout, "authorizations:")
		for _, au := range x.Authorizations {
			fmt.Fprintf(a.stdout, "  - account_id: %s\n    cen_id: %s\n    payer: %s\n", au.AccountID, au.CENID, au.EffectivePayer())
		}
	}
	fmt.Fprintf(a.stdout, "created_at: %s\nupdated_at: %s\n", x.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), x.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"))
	return nil
}

func (a *app) trCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tr",
		Aliases: []string{"transit-router", "transit-routers"},
		Short:   "List, create and delete transit routers",
		Long: `tr manages transit routers: routing domains (a kernel route table) into which
attached connections publish the routes they reach. A transit router of
another account (--account) can attach a connection only after that account
was authorized on it ('ipsecgw authorize').` + exitStatusText,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List transit routers",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			trs, err := c.ListTransitRouters(cmd.Context())
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(api.TransitRouterList{TransitRouters: trs})
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tNAME\tACCOUNT\tZONE\tTABLE\tATTACHED")
			for _, t := range trs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", t.ID, dash(t.Name), dash(t.AccountID), dash(t.Zone), t.RouteTable, joinOrDash(t.Attachments))
			}
			return tw.Flush()
		},
	}
	var tr config.TransitRouter
	create := &cobra.Command{
		Use:     "create --route-table N [--name NAME] [--account ID] [--zone ZONE]",
		Short:   "Create a transit router",
		Example: `  ipsecgw tr create --name prod --route-table 100 --zone zone-a`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			got, err := c.CreateTransitRouter(cmd.Context(), &tr)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created %s\n", got.ID)
			return nil
		},
	}
	create.Flags().StringVar(&tr.Name, "name", "", "name")
	create.Flags().StringVar(&tr.AccountID, "account", "", "owning account (empty: this gateway's own)")
	create.Flags().StringVar(&tr.Zone, "zone", "", "the only zone attachments may use (empty: any)")
	create.Flags().IntVar(&tr.RouteTable, "route-table", 0, "kernel route table id (required)")
	create.MarkFlagRequired("route-table")
	del := &cobra.Command{
		Use:   "delete TR",
		Short: "Delete a transit router no connection is attached to",
		Args:  exactArgs(1, "TR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteTransitRouter(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, create, del)
	return cmd
}

func (a *app) attachCommand() *cobra.Command {
	var req api.AttachRequest
	var gw string
	cmd := &cobra.Command{
		Use:   "attach CONN --tr TR --zone ZONE [--gateway-type public|private]",
		Short: "Attach a connection to a transit router",
		Long: `attach binds CONN to transit router TR in ZONE. A connection is attached to
at most one transit router; while attached, its transit router, zone and
gateway type cannot change and it cannot be deleted. The gateway type must be
the connection's own (fixed at creation; default public). A transit router
of another account needs that account's authorization first.` + exitStatusText,
		Example: `  ipsecgw attach hq --tr tr-1a2b3c4d5e6f --zone zone-a`,
		Args:    exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.GatewayType = config.GatewayType(gw)
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				x, err := c.Attach(ctx, id, req)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "attached %s to %s in %s\n", x.ID, x.Attachment.TransitRouterID, x.Attachment.Zone)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.TransitRouterID, "tr", "", "transit router id (required)")
	cmd.Flags().StringVar(&req.Zone, "zone", "", "zone (required)")
	cmd.Flags().StringVar(&gw, "gateway-type", "", "public or private (default: the connection's)")
	cmd.MarkFlagRequired("tr")
	cmd.MarkFlagRequired("zone")
	return cmd
}

func (a *app) detachCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "detach CONN",
		Short: "Detach a connection from its transit router",
		Args:  exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				if _, err := c.Detach(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "detached %s\n", id)
				return nil
			})
		},
	}
}

func (a *app) authorizeCommand() *cobra.Command {
	var req api.AuthorizeRequest
	var payer string
	cmd := &cobra.Command{
		Use:   "authorize CONN --account ID --cen ID [--payer cen-owner|vpn-owner]",
		Short: "Allow another account's transit router to attach a connection",
		Long: `authorize grants the transit routers of account --account (in CEN instance
--cen) the right to attach CONN. --payer says who pays the transit router's
attachment and traffic-processing fees: cen-owner (default) or vpn-owner; the
connection's own fees stay with its owner. Only while CONN is unattached.` + exitStatusText,
		Example: `  ipsecgw authorize hq --account 1234567890 --cen cen-abc --payer vpn-owner`,
		Args:    exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Payer = config.Payer(payer)
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				if _, err := c.Authorize(ctx, id, req); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "authorized account %s on %s\n", req.AccountID, id)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.AccountID, "account", "", "the other account's id (required)")
	cmd.Flags().StringVar(&req.CENID, "cen", "", "the other account's CEN instance id (required)")
	cmd.Flags().StringVar(&payer, "payer", "", "cen-owner (default) or vpn-owner")
	cmd.MarkFlagRequired("account")
	cmd.MarkFlagRequired("cen")
	return cmd
}

func (a *app) revokeCommand() *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "revoke CONN --account ID",
		Short: "Withdraw another account's authorization",
		Long: `revoke withdraws account --account's authorization on CONN. It is refused
while a transit router of that account still has CONN attached: that account
must detach it first.` + exitStatusText,
		Args: exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				if _, err := c.Revoke(ctx, id, account); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "revoked account %s on %s\n", account, id)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "the account whose authorization to revoke (required)")
	cmd.MarkFlagRequired("account")
	return cmd
}

func (a *app) initiateCommand() *cobra.Command {
	return a.actionCommand("initiate", "Start IKE negotiation for a connection",
		func(ctx context.Context, c *client.Client, id string) error { return c.Initiate(ctx, id) })
}

func (a *app) terminateCommand() *cobra.Command {
	return a.actionCommand("terminate", "Tear down a connection's IKE and child SAs",
		func(ctx context.Context, c *client.Client, id string) error { return c.Terminate(ctx, id) })
}

func (a *app) actionCommand(name, short string, fn func(context.Context, *client.Client, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   name + " CONN",
		Short: short,
		Args:  exactArgs(1, "CONN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withConn(cmd, args, func(ctx context.Context, c *client.Client, id string) error {
				if err := fn(ctx, c, id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s %s: requested\n", name, id)
				return nil
			})
		},
	}
}
