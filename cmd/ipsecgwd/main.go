// Command ipsecgwd is the ipsecgw gateway daemon: it keeps the IPsec
// connections in its persistent store, serves the management API and
// Prometheus metrics, and runs the tunnels (package gateway).
//
// main only parses flags; package daemon wires the components together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/daemon"
	"github.com/ipsecgw/ipsecgw/gateway"
)

// DefaultConfigPath is read when -config is not given; if it does not exist,
// built-in defaults are used.
const DefaultConfigPath = config.DefaultConfigPath

const usageText = `NAME
    ipsecgwd - IPsec/IKE gateway daemon

SYNOPSIS
    ipsecgwd [-config FILE] [-log-format text|json] [-no-gateway]
    ipsecgwd [-config FILE] -check

DESCRIPTION
    ipsecgwd is the cloud-side endpoint of site-to-site IPsec VPN connections.
    It keeps the connections, transit routers, attachments and cross-account
    authorizations in an embedded store under state_dir, serves the management
    API (used by the ipsecgw command) on a unix socket and optionally on TCP,
    and exports Prometheus metrics.

    Every change accepted by the API is committed and fsync'd to the store
    before it is acknowledged; a crash never loses an acknowledged change.

    SIGTERM and SIGINT stop the daemon cleanly: the listeners close, in-flight
    requests finish, and the store is closed.

OPTIONS
    -config FILE
        Daemon configuration (YAML). Default: /etc/ipsecgw/ipsecgwd.yaml; if
        that file does not exist, built-in defaults are used. A file named
        explicitly must exist.
    -check
        Validate the configuration, print every error as
        "field: message (rule)", and exit: 0 valid, 1 invalid.
    -log-format text|json
        Log record format on standard error (default text).
    -no-gateway
        Run the control plane only: the store, the API and metrics, but no
        TUN device, IKE or ESP sockets (no root needed). Connections are
        stored and validated; status reports them as "configured" and
        initiate/terminate answer 501. For staging configuration and tests.
    -help
        Show this text.

CONFIGURATION
    Every key is optional:

        address: 192.0.2.2            # own IPv4 address: IKE/ESP source, default LocalId
        state_dir: /var/lib/ipsecgw   # embedded persistent store (0700, file 0600)
        api: unix:///run/ipsecgw/api.sock
        api_tcp: 127.0.0.1:9811       # optional TCP API; requires api_token
        api_token: ...                # bearer token for api_tcp
        tun: ipsecgw0                 # TUN device carrying inner traffic
        metrics: 127.0.0.1:9810       # Prometheus /metrics; empty disables
        log_level: info               # debug | info | warn | error

EXIT STATUS
    0   clean shutdown, or -check found the configuration valid
    1   invalid configuration, or a fatal runtime error
    2   usage error

EXAMPLES
    ipsecgwd -config /etc/ipsecgw/ipsecgwd.yaml -check
    ipsecgwd -config ./dev.yaml -log-format json

SEE ALSO
    ipsecgw(1), docs/api.md
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ipsecgwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText) }
	configPath := fs.String("config", "", "daemon configuration file")
	check := fs.Bool("check", false, "validate the configuration and exit")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	noGateway := fs.Bool("no-gateway", false, "serve the store and API only: no TUN, no IKE/ESP sockets")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "ipsecgwd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *logFormat != "text" && *logFormat != "json" {
		fmt.Fprintf(stderr, "ipsecgwd: -log-format %q: want text or json\n", *logFormat)
		return 2
	}

	cfg, err := loadConfig(*configPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if *check {
		fmt.Fprintln(stderr, "ipsecgwd: configuration is valid")
		return 0
	}

	log, err := newLogger(stderr, *logFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "ipsecgwd:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	opts := daemon.Options{Logger: log, Gateway: gateway.Hook}
	if *noGateway {
		opts.Gateway = nil
		log.Info("gateway disabled (-no-gateway): connections are stored but no tunnels run")
	}
	if err := daemon.Run(ctx, cfg, opts); err != nil {
		log.Error("ipsecgwd: fatal", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads path; with no -config, the default path if it exists,
// else built-in defaults. The result is validated.
func loadConfig(path string) (*config.Daemon, error) {
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	var cfg *config.Daemon
	if path == "" {
		cfg = config.DefaultDaemon()
	} else {
		var err error
		if cfg, err = config.LoadDaemon(path); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate().Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// printConfigError prints each field error on its own line.
func printConfigError(w io.Writer, err error) {
	var list config.Errors
	if errors.As(err, &list) {
		for _, fe := range list {
			fmt.Fprintln(w, fe.Text())
		}
		return
	}
	fmt.Fprintln(w, "ipsecgwd:", err)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if level == "" {
		level = "info"
	}
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log_level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
