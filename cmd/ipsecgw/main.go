// Command ipsecgw is the command-line client of the ipsecgwd daemon: it
// validates and applies connections files, manages connections, transit
// routers, attachments and cross-account authorizations, and shows the
// tunnels' status.
//
// Exit status: 0 success; 1 invalid input or a request the daemon rejected;
// 2 usage error; 3 the daemon could not be reached.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
)

// Exit codes (documented in the root command's help).
const (
	exitOK          = 0
	exitInvalid     = 1
	exitUsage       = 2
	exitUnreachable = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code. Tests
// call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	app := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	root := app.rootCommand()
	root.SetArgs(normalizeArgs(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	return app.report(err)
}

// longFlags are the flags also accepted with one dash (-api URL), the
// spelling SPEC §4 uses; pflag alone would read -api as -a -p -i.
var longFlags = map[string]bool{
	"api": true, "token": true, "output": true, "file": true, "dry-run": true,
	"show-secrets": true, "help": true, "tr": true, "zone": true, "gateway-type": true,
	"account": true, "cen": true, "payer": true, "name": true, "route-table": true,
}

// normalizeArgs rewrites "-api" and "-api=URL" to their "--" form, up to a
// "--" terminator.
func normalizeArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if longFlags[name] {
			out[i] = "-" + a
		}
	}
	return out
}

// exitError carries an exit code chosen by a command, after it has printed
// its own diagnostics.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError marks a command-line mistake (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// report prints err and maps it to an exit code.
func (a *app) report(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(a.stderr, "ipsecgw:", ee.msg)
		}
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(a.stderr, "ipsecgw:", err)
		fmt.Fprintln(a.stderr, "Run 'ipsecgw --help' for usage.")
		return exitUsage
	}
	if client.IsUnreachable(err) {
		fmt.Fprintln(a.stderr, "ipsecgw:", err)
		fmt.Fprintf(a.stderr, "ipsecgw: is ipsecgwd running? (--api %s)\n", a.apiURL)
		return exitUnreachable
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		fmt.Fprintf(a.stderr, "ipsecgw: rejected (HTTP %d):\n", ae.Status)
		for _, d := range ae.Details {
			fmt.Fprintln(a.stderr, "  "+d.String())
		}
		return exitInvalid
	}
	fmt.Fprintln(a.stderr, "ipsecgw:", err)
	return exitInvalid
}
