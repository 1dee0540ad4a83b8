// Package crash is ipsecgwd's durability test: it runs the real daemon
// binary, has concurrent API clients write to it, SIGKILLs the daemon
// mid-stream, restarts it and checks that every write the API acknowledged
// survived with exactly the acknowledged content, that writes in flight at
// the kill are either fully applied or absent, and that the bbolt file is
// consistent. It needs no root and no namespaces.
package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/api/client"
	"github.com/ipsecgw/ipsecgw/config"
	"github.com/ipsecgw/ipsecgw/store"
)

const (
	workers = 8
	rounds  = 4
)

// daemon is one run of the ipsecgwd binary.
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	err    error         // Wait's result, valid after exited
}

func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ipsecgwd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ipsecgw/ipsecgw/cmd/ipsecgwd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ipsecgwd: %v\n%s", err, out)
	}
	return bin
}

func startDaemon(t *testing.T, bin, cfgPath, logPath string, c *client.Client) *daemon {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// -no-gateway: the store and API are under test, not the tunnels (no
	// TUN device, no root, no sockets on the gateway address).
	cmd := exec.Command(bin, "-config", cfgPath, "-no-gateway")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	d := &daemon{cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx)
		cancel()
		if err == nil {
			if info.SchemaVersion != store.SchemaVersion {
				t.Fatalf("schema version %d after restart", info.SchemaVersion)
			}
			return d
		}
		select {
		case <-d.exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("ipsecgwd exited during start-up: %v\n%s", d.err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipsecgwd did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.exited
}

// want is the acknowledged content of one connection.
type want struct {
	name    string
	psk     string
	enc     config.Encryption
	deleted bool
}

// pending is the operation a worker had in flight when the daemon died:
// its effect may or may not be in the store.
type pending struct {
	op   string // "create", "update", "delete"
	id   string // update, delete
	name string // create
	next want
}

// model is what the workers were told by the API.
type model struct {
	mu      sync.Mutex
	acked   map[string]want // by connection id
	pending []pending
	writes  int
}

func (m *model) ack(id string, w want) {
	m.mu.Lock()
	m.acked[id] = w
	m.writes++
	m.mu.Unlock()
}

func (m *model) inFlight(p pending) {
	m.mu.Lock()
	m.pending = append(m.pending, p)
	m.mu.Unlock()
}

func (m *model) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

func isAPIError(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae)
}

// worker creates a connection, modifies it a few times, sometimes deletes
// it, and repeats, until a request fails (the daemon died).
func worker(ctx context.Context, t *testing.T, c *client.Client, m *model, round, w int) {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
	encs := []config.Encryption{config.EncAES, config.EncAES192, config.EncAES256}
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return
		}
		name := fmt.Sprintf("r%d-w%d-%d", round, w, i)
		cur := want{name: name, psk: fmt.Sprintf("psk-%s-0", name), enc: config.EncAES}
		conn := config.Connection{Name: name, CustomerGateway: "192.0.2.1", PSK: cur.psk}
		got, err := c.CreateConnection(ctx, &conn)
		if err != nil {
			if isAPIError(err) {
				t.Errorf("create %s rejected: %v", name, err)
			}
			m.inFlight(pending{op: "create", name: name, next: cur})
			return
		}
		id := got.ID
		m.ack(id, cur)
		for k := 1; k <= 1+rng.IntN(4); k++ {
			next := want{name: name, psk: fmt.Sprintf("psk-%s-%d", name, k), enc: encs[rng.IntN(len(encs))]}
			conn := config.Connection{Name: name, CustomerGateway: "192.0.2.1", PSK: next.psk}
			conn.IKE.Encryption = next.enc
			if _, err := c.ReplaceConnection(ctx, id, &conn); err != nil {
				if isAPIError(err) {
					t.Errorf("update %s rejected: %v", id, err)
				}
				m.inFlight(pending{op: "update", id: id, next: next})
				return
			}
			cur = next
			m.ack(id, cur)
		}
		if rng.IntN(3) == 0 {
			if err := c.DeleteConnection(ctx, id); err != nil {
				if isAPIError(err) {
					t.Errorf("delete %s rejected: %v", id, err)
				}
				m.inFlight(pending{op: "delete", id: id, next: want{name: name, deleted: true}})
				return
			}
			m.ack(id, want{name: name, deleted: true})
		}
	}
}

func matches(c *store.Connection, w want) bool {
	return !w.deleted && c.Name == w.name && c.PSK == w.psk && c.IKE.Encryption == w.enc
}

// outcome reports whether stored record x (nil: absent) is state w.
func outcome(x *store.Connection, w want) bool {
	if w.deleted {
		return x == nil
	}
	return x != nil && matches(x, w)
}

// verify checks the restarted daemon against the model and folds the
// pending operations' actual outcome into the acknowledged state.
func verify(t *testing.T, c *client.Client, m *model) {
	t.Helper()
	ctx := context.Background()
	conns, err := c.ListConnections(ctx, true)
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	byID := map[string]*store.Connection{}
	byName := map[string]*store.Connection{}
	for _, x := range conns {
		byID[x.ID] = x
		byName[x.Name] = x
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pend := map[string]pending{}
	for _, p := range m.pending {
		if p.op == "create" {
			x := byName[p.name]
			switch {
			case x == nil:
			case matches(x, p.next):
				m.acked[x.ID] = p.next // it committed; from now on it is known
			default:
				t.Errorf("in-flight create %s half applied: %+v", p.name, x.Connection)
			}
			continue
		}
		pend[p.id] = p
	}
	m.pending = nil
	for id, w := range m.acked {
		x := byID[id]
		p, inflight := pend[id]
		ok := outcome(x, w)
		if inflight {
			// Either the acknowledged state or the in-flight operation's
			// complete result; learn which one it was.
			next := outcome(x, p.next)
			if !ok && !next {
				t.Errorf("connection %s: neither acknowledged %+v nor in-flight %+v: %+v", id, w, p.next, x)
			}
			if next {
				m.acked[id] = p.next
			}
			continue
		}
		if !ok {
			if x == nil {
				t.Errorf("acknowledged connection %s (%s) lost", id, w.name)
			} else {
				t.Errorf("connection %s: acknowledged %+v, stored name=%s psk=%s enc=%s", id, w, x.Name, x.PSK, x.IKE.Encryption)
			}
		}
	}
	for id, x := range byID {
		if _, known := m.acked[id]; !known {
			t.Errorf("unexpected connection %s (%s) after restart", id, x.Name)
		}
	}
}

// checkFile runs bbolt's consistency check on the database file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSIGKILLKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the daemon; skipped with -short")
	}
	bin := buildDaemon(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	sock := filepath.Join(dir, "run", "api.sock")
	cfgPath := filepath.Join(dir, "ipsecgwd.yaml")
	logPath := filepath.Join(dir, "ipsecgwd.log")
	cfg := fmt.Sprintf("address: 192.0.2.2\nstate_dir: %s\napi: unix://%s\nmetrics: \"\"\nlog_level: warn\n", stateDir, sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{acked: map[string]want{}}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		d := startDaemon(t, bin, cfgPath, logPath, c)
		if round > 0 {
			verify(t, c, m)
			if t.Failed() {
				log, _ := os.ReadFile(logPath)
				t.Fatalf("round %d failed; daemon log:\n%s", round, log)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		before := m.count()
		for w := range workers {
			wg.Go(func() { worker(ctx, t, c, m, round, w) })
		}
		// Let a random number of writes through, then kill mid-stream.
		target := before + 40 + rng.IntN(120)
		deadline := time.Now().Add(60 * time.Second)
		for m.count() < target && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		d.kill(t)
		wg.Wait()
		cancel()
		if m.count() == before {
			t.Fatalf("round %d: no write acknowledged before the kill", round)
		}
		m.mu.Lock()
		t.Logf("round %d: %d writes acknowledged so far, %d in flight at SIGKILL", round, m.writes, len(m.pending))
		m.mu.Unlock()
		checkFile(t, filepath.Join(stateDir, store.FileName))
	}
	startDaemon(t, bin, cfgPath, logPath, c)
	verify(t, c, m)
	m.mu.Lock()
	live := 0
	for _, w := range m.acked {
		if !w.deleted {
			live++
		}
	}
	m.mu.Unlock()
	t.Logf("final: %d connections verified", live)
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon; skipped with -short")
	}
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "api.sock")
	cfgPath := filepath.Join(dir, "ipsecgwd.yaml")
	logPath := filepath.Join(dir, "ipsecgwd.log")
	cfg := fmt.Sprintf("address: 192.0.2.2\nstate_dir: %s\napi: unix://%s\nmetrics: \"\"\n", filepath.Join(dir, "state"), sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, cfgPath, logPath, c)
	created, err := c.CreateConnection(context.Background(), &config.Connection{Name: "hq", CustomerGateway: "192.0.2.1", PSK: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("ipsecgwd ignored SIGTERM")
	}
	if d.err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("exit after SIGTERM: %v\n%s", d.err, log)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after SIGTERM: %v", err)
	}
	startDaemon(t, bin, cfgPath, logPath, c)
	if got, err := c.GetConnection(context.Background(), created.ID, false); err != nil || got.Name != "hq" {
		t.Errorf("after restart: %v %+v", err, got)
	}
}
