package main

import (
	"encoding/json"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
)

// app holds the global flags and the output streams of one invocation.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	apiURL string
	token  string
	output string
}

const rootLong = `ipsecgw talks to a running ipsecgwd, the IPsec/IKE gateway daemon, through
its HTTP+JSON management API. It validates and applies connections files,
manages IPsec connections, transit routers, attachments and cross-account
authorizations, and shows the state of the tunnels.

The daemon is reached at --api (also spelled -api), or $IPSECGW_API when --api is not given, or
unix:///run/ipsecgw/api.sock. A TCP address (http://127.0.0.1:9811) needs the
daemon's api_token, given with --token or $IPSECGW_TOKEN.

Every listing prints a table by default and JSON with -o json.

EXIT STATUS
  0  success
  1  invalid input, or the daemon rejected the request (every error is printed
     as "field.path: message (rule)")
  2  usage error (unknown command or flag, wrong number of arguments)
  3  the daemon could not be reached

ENVIRONMENT
  IPSECGW_API    default for --api
  IPSECGW_TOKEN  default for --token`

const rootExample = `  # Check a connections file without a daemon
  ipsecgw validate -f connections.yaml

  # Preview, then apply it
  ipsecgw apply -f connections.yaml --dry-run
  ipsecgw apply -f connections.yaml

  # Show tunnels like swanctl --list-sas
  ipsecgw status

  # Talk to a daemon over TCP
  IPSECGW_TOKEN=s3cret ipsecgw --api http://127.0.0.1:9811 conn list -o json`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ipsecgw [--api URL] COMMAND",
		Short:         "Command-line client of the ipsecgw IPsec gateway",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("api") {
				if v := a.getenv("IPSECGW_API"); v != "" {
					a.apiURL = v
				}
			}
			if !cmd.Flags().Changed("token") {
				a.token = a.getenv("IPSECGW_TOKEN")
			}
			switch a.output {
			case "table", "json":
			default:
				return usagef("-o %q: want table or json", a.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.apiURL, "api", api.DefaultAddress, "daemon API address: unix:///path or http://host:port (env IPSECGW_API)")
	pf.StringVar(&a.token, "token", "", "bearer token for a TCP API address (env IPSECGW_TOKEN)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format of listings: table or json")

	root.AddCommand(
		a.validateCommand(),
		a.applyCommand(),
		a.connCommand(),
		a.trCommand(),
		a.attachCommand(),
		a.detachCommand(),
		a.authorizeCommand(),
		a.revokeCommand(),
		a.statusCommand(),
		a.initiateCommand(),
		a.terminateCommand(),
	)
	return root
}

// client returns an API client for the global flags.
func (a *app) client() (*client.Client, error) {
	var opts []client.Option
	if a.token != "" {
		opts = append(opts, client.WithToken(a.token))
	}
	c, err := client.New(a.apiURL, opts...)
	if err != nil {
		return nil, usagef("--api: %v", err)
	}
	return c, nil
}

// isCobraUsage recognises cobra's own usage errors, which are plain errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag", "accepts ", "requires at least", "requires at most", "flag needs an argument", "invalid argument"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2).
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

// printJSON writes v indented.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tab-aligned writer on stdout; the caller flushes it.
func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
}

// dash returns s, or "-" for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// joinOrDash joins a list for a table cell.
func joinOrDash(l []string) string { return dash(strings.Join(l, ",")) }
