// Package daemon wires ipsecgwd's components together: the store, the
// management API (unix socket and optional TCP), the Prometheus metrics
// listener and, as the gateway grows, the tunnels. cmd/ipsecgwd only parses
// flags and calls Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

// Options carries what the daemon takes from its environment.
type Options struct {
	// Logger is the daemon's logger; nil discards.
	Logger *slog.Logger
	// Version is reported by GET /v1/info.
	Version string
	// Gateway, if set, is called once the store is open and before the API
	// starts serving; it returns the status provider and controller the API
	// uses (either may be nil) and a function that stops the gateway. This is
	// where the tunnel machinery hooks in.
	Gateway func(ctx context.Context, env *Env) (api.StatusProvider, api.Controller, func(), error)
	// Ready, if set, is called with the bound listener addresses once every
	// listener is up (tests use it to learn ephemeral ports).
	Ready func(addrs []net.Addr)
}

// Env is what a gateway hook receives from the daemon.
type Env struct {
	Config         *config.Daemon
	Store          *store.Store
	Registry       *prometheus.Registry
	Logger         *slog.Logger
	GatewayAddress string
}

// Run starts the daemon and blocks until ctx is cancelled (SIGTERM/SIGINT)
// or a listener fails; then it closes the listeners, lets in-flight requests
// finish, stops the gateway and closes the store.
func Run(ctx context.Context, cfg *config.Daemon, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.APITCP != "" && cfg.APIToken == "" {
		return errors.New("daemon: api_tcp requires api_token: the TCP API must not be open to every local user")
	}
	gwAddr := ""
	if a, err := cfg.GatewayAddress(); err != nil {
		log.Warn("no gateway address; set address in the configuration", "err", err)
	} else {
		gwAddr = a.String()
	}

	st, err := store.Open(cfg.StateDir, store.Options{Logger: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	reg := api.NewRegistry()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var status api.StatusProvider
	var ctl api.Controller
	if opts.Gateway != nil {
		var stop func()
		status, ctl, stop, err = opts.Gateway(ctx, &Env{Config: cfg, Store: st, Registry: reg, Logger: log, GatewayAddress: gwAddr})
		if err != nil {
			return fmt.Errorf("daemon: start gateway: %w", err)
		}
		if stop != nil {
			defer stop()
		}
	}

	srv, err := api.New(api.Options{
		Store:          st,
		Status:         status,
		Controller:     ctl,
		Logger:         log.With("component", "api"),
		Registerer:     reg,
		Token:          cfg.APIToken,
		GatewayAddress: gwAddr,
		Version:        opts.Version,
	})
	if err != nil {
		return err
	}

	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	if path := cfg.SocketPath(); path != "" {
		l, err := api.ListenUnix(path)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	if cfg.APITCP != "" {
		l, err := net.Listen("tcp", cfg.APITCP)
		if err != nil {
			closeAll()
			return fmt.Errorf("daemon: api_tcp: %w", err)
		}
		listeners = append(listeners, l)
	}
	var metricsL net.Listener
	if cfg.Metrics != "" {
		metricsL, err = net.Listen("tcp", cfg.Metrics)
		if err != nil {
			closeAll()
			return fmt.Errorf("daemon: metrics: %w", err)
		}
	}

	errc := make(chan error, len(listeners)+1)
	var wg sync.WaitGroup
	var addrs []net.Addr
	for _, l := range listeners {
		addrs = append(addrs, l.Addr())
		log.Info("api listening", "network", l.Addr().Network(), "address", l.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(ctx, l); err != nil {
				errc <- fmt.Errorf("daemon: api %s: %w", l.Addr(), err)
			}
		})
	}
	if metricsL != nil {
		addrs = append(addrs, metricsL.Addr())
		log.Info("metrics listening", "address", metricsL.Addr().String())
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := msrv.Serve(metricsL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("daemon: metrics: %w", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			msrv.Shutdown(sctx)
		})
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}
	log.Info("ipsecgwd started", "state_dir", cfg.StateDir, "gateway_address", gwAddr)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("listener failed; shutting down", "err", runErr)
	}
	cancel()
	wg.Wait()
	log.Info("ipsecgwd stopped")
	return runErr
}
