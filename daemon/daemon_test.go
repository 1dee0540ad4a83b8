package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

const token = "test-token-0123456789"

func testConfig(t *testing.T) *config.Daemon {
	dir := t.TempDir()
	cfg := config.DefaultDaemon()
	cfg.Address = "192.0.2.2"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.API = "unix://" + filepath.Join(dir, "run", "api.sock")
	cfg.APITCP = "127.0.0.1:0"
	cfg.APIToken = token
	cfg.Metrics = "127.0.0.1:0"
	// Port 0 (ephemeral) is not a valid configured port, but Run takes it:
	// Ready reports the bound addresses.
	return cfg
}

type fakeStatus struct{}

func (fakeStatus) Status(context.Context) (*api.Status, error) {
	return &api.Status{Connections: []api.ConnectionStatus{{ID: "vco-x", State: api.StateEstablished}}}, nil
}

func TestRunServesAndShutsDown(t *testing.T) {
	cfg := testConfig(t)
	ready := make(chan []net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var gotEnv *Env
	go func() {
		done <- Run(ctx, cfg, Options{
			Ready: func(a []net.Addr) { ready <- a },
			Gateway: func(_ context.Context, env *Env) (api.StatusProvider, api.Controller, func(), error) {
				gotEnv = env
				return fakeStatus{}, nil, nil, nil
			},
		})
	}()
	var addrs []net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	if len(addrs) != 3 {
		t.Fatalf("listeners = %v", addrs)
	}
	if gotEnv == nil || gotEnv.GatewayAddress != "192.0.2.2" || gotEnv.Store == nil {
		t.Errorf("gateway hook env = %+v", gotEnv)
	}
	bg := context.Background()

	unix, _ := client.New(cfg.API)
	st, err := unix.Status(bg)
	if err != nil || len(st.Connections) != 1 || st.Connections[0].State != api.StateEstablished {
		t.Fatalf("status through the gateway's provider: %+v %v", st, err)
	}
	if _, err := unix.CreateConnection(bg, &config.Connection{Name: "hq", CustomerGateway: "192.0.2.1", PSK: "x"}); err != nil {
		t.Fatal(err)
	}
	tcpURL := "http://" + addrs[1].String()
	if _, err := (mustClient(t, tcpURL)).ListConnections(bg, false); err == nil {
		t.Error("TCP API answered without a token")
	}
	if list, err := mustClient(t, tcpURL, client.WithToken(token)).ListConnections(bg, false); err != nil || len(list) != 1 {
		t.Errorf("TCP API with token: %v %v", list, err)
	}

	resp, err := http.Get("http://" + addrs[2].String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ipsecgw_api_requests_total{code="201",route="POST /v1/connections"} 1`, "go_goroutines", "process_open_fds"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not shut down")
	}
	if _, err := os.Stat(cfg.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	// The store was closed (its lock released) and kept the write.
	s, err := store.Open(cfg.StateDir, store.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("store after shutdown: %v", err)
	}
	defer s.Close()
	if list, _ := s.ListConnections(); len(list) != 1 {
		t.Errorf("connections after restart = %d", len(list))
	}
}

func mustClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTCPWithoutTokenRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.APIToken = ""
	if err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "api_token") {
		t.Errorf("Run = %v", err)
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.APITCP, cfg.APIToken, cfg.Metrics = "", "", ""
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Ready: func(a []net.Addr) { ready <- a }}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	// Same state dir: the store lock stops the second one within its timeout.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if err := Run(ctx2, cfg, Options{}); err == nil {
		t.Error("a second daemon on the same state_dir started")
	}
	cancel()
	<-done
}
