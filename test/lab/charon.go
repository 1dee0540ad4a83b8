package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strongswan/govici/vici"
)

// CharonBinary is the strongSwan daemon the lab runs. charon-systemd is
// used (not the classic charon) because it writes no global pid file, so
// several instances can run at once, one per namespace.
var CharonBinary = "/usr/sbin/charon-systemd"

// TunTxQueueLen is set on charon's ipsec0 TUN device: at the default 500
// the ring overflows when libipsec's reader wakes up late and drops up to a
// third of the packets (shared/lab/README.md).
const TunTxQueueLen = 10000

// Charon is one strongSwan charon-systemd running in a gateway namespace,
// driven over its own VICI socket.
type Charon struct {
	b    *Bed
	role string
	dir  string // <bed state>/<role>

	mu     sync.Mutex // guards everything below and serialises VICI calls
	conn   SwanConn
	proc   *Proc
	sess   *vici.Session
	events chan vici.Event // streamEvents of sess
}

// streamEvents are the events of the streaming commands the lab uses.
var streamEvents = []string{"list-sa", "control-log"}

// StartCharon writes a strongswan.conf for role, starts charon-systemd in
// the namespace, waits for its VICI socket, and loads c (zero fields take
// DefaultConn's values). It calls t.Fatal on failure.
func (b *Bed) StartCharon(role string, c SwanConn) *Charon {
	b.t.Helper()
	ch := &Charon{b: b, role: role, dir: filepath.Join(b.dir, role)}
	ch.conn = c.fill(b.DefaultConn(role))
	if err := os.MkdirAll(ch.dir, 0o755); err != nil {
		b.t.Fatalf("lab: %v", err)
	}
	b.mu.Lock()
	if old := b.charons[role]; old != nil {
		b.mu.Unlock()
		b.t.Fatalf("lab: a charon already runs in %s", role)
	}
	b.charons[role] = ch
	b.mu.Unlock()
	if err := ch.start(); err != nil {
		b.t.Fatalf("lab: start charon in %s: %v\n%s", role, err, tail(ch.Log(), 40))
	}
	return ch
}

// Charon returns the charon running in role, or nil.
func (b *Bed) Charon(role string) *Charon {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.charons[role]
}

// Role is the gateway the charon runs on.
func (c *Charon) Role() string { return c.role }

// Conn returns the connection currently loaded.
func (c *Charon) Conn() SwanConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// SocketPath is the charon's VICI socket (for swanctl --uri unix://...).
func (c *Charon) SocketPath() string { return filepath.Join(c.dir, "charon.vici") }

// ConfPath is the charon's strongswan.conf (STRONGSWAN_CONF).
func (c *Charon) ConfPath() string { return filepath.Join(c.dir, "strongswan.conf") }

// LogPath is charon's filelog.
func (c *Charon) LogPath() string { return filepath.Join(c.dir, "charon.log") }

// Log returns charon's log so far (all restarts appended).
func (c *Charon) Log() string {
	data, _ := os.ReadFile(c.LogPath())
	return string(data)
}

// Pid is the pid of the running charon, 0 if none.
func (c *Charon) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil || c.proc.Exited() {
		return 0
	}
	return c.proc.Pid()
}

// start runs charon and loads the connection; callers hold no lock.
func (c *Charon) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	conf := c.conn.strongswanConf(c.dir)
	if err := os.WriteFile(c.ConfPath(), []byte(conf), 0o644); err != nil {
		return err
	}
	_ = os.Remove(c.SocketPath())
	p, err := c.b.StartEnv(c.role, "charon-"+c.role, []string{"STRONGSWAN_CONF=" + c.ConfPath()}, CharonBinary)
	if err != nil {
		return err
	}
	c.proc = p
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.Exited() {
			return fmt.Errorf("lab: charon in %s exited: %v\n%s", c.role, p.Wait(0), p.Log())
		}
		if _, err := os.Stat(c.SocketPath()); err == nil {
			s, err := vici.NewSession(vici.WithSocketPath(c.SocketPath()))
			if err == nil {
				if err := s.Subscribe(streamEvents...); err != nil {
					s.Close()
					return fmt.Errorf("lab: %s vici subscribe: %w", c.role, err)
				}
				c.events = make(chan vici.Event, 4096)
				s.NotifyEvents(c.events)
				c.sess = s
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: no VICI socket from charon in %s after 15s", c.role)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// kernel-libipsec creates ipsec0 when the plugin loads, before vici
	// listens; retry briefly in case it lags.
	for i := 0; ; i++ {
		_, err := c.b.Exec(c.role, "ip", "link", "set", "ipsec0", "txqueuelen", fmt.Sprint(TunTxQueueLen))
		if err == nil {
			break
		}
		if i == 20 {
			return fmt.Errorf("lab: ipsec0 in %s: %w", c.role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.conn.TunAddr != "" {
		if _, err := c.b.Exec(c.role, "ip", "addr", "replace", c.conn.TunAddr, "dev", "ipsec0"); err != nil {
			return err
		}
	}
	for _, r := range c.conn.TunRoutes {
		if _, err := c.b.Exec(c.role, "ip", "route", "replace", r, "dev", "ipsec0"); err != nil {
			return err
		}
	}
	return c.loadLocked(c.conn)
}

// loadLocked loads the PSK and the connection over VICI.
func (c *Charon) loadLocked(conn SwanConn) error {
	shared, err := conn.sharedMessage()
	if err != nil {
		return err
	}
	if _, err := c.callLocked("load-shared", shared, 10*time.Second); err != nil {
		return err
	}
	msg, err := conn.connMessage()
	if err != nil {
		return err
	}
	if _, err := c.callLocked("load-conn", msg, 10*time.Second); err != nil {
		return err
	}
	return nil
}

func (c *Charon) callLocked(cmd string, in *vici.Message, timeout time.Duration) (*vici.Message, error) {
	if c.sess == nil {
		return nil, fmt.Errorf("lab: %s charon: not running", c.role)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := c.sess.Call(ctx, cmd, in)
	if err != nil {
		return m, fmt.Errorf("lab: %s vici %s: %w", c.role, cmd, err)
	}
	return m, nil
}

// Call sends one VICI command and returns the response (for commands the
// lab does not wrap).
func (c *Charon) Call(cmd string, in *vici.Message) (*vici.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callLocked(cmd, in, 30*time.Second)
}

// streamLocked runs a VICI command that streams events (list-sas,
// initiate, terminate...) and returns the events named event that arrived
// with it.
//
// govici's own CallStreaming is not used: it selects between its event and
// response channels at random, so it can return before the last events and
// leave them to break the next call ("unexpected response type: 7").
// Instead the session is subscribed to the events once and they arrive on
// c.events; govici's reader dispatches every event before it reads the
// command's response, so all of them are queued when Call returns.
func (c *Charon) streamLocked(cmd, event string, in *vici.Message, timeout time.Duration) ([]*vici.Message, error) {
	if c.sess == nil {
		return nil, fmt.Errorf("lab: %s charon: not running", c.role)
	}
	// govici closes the channel when the connection ends (charon died):
	// a closed channel must end both loops.
	for drained := false; !drained; {
		select {
		case _, ok := <-c.events:
			drained = !ok
		default:
			drained = true
		}
	}
	_, err := c.callLocked(cmd, in, timeout)
	var out []*vici.Message
	for more := true; more; {
		select {
		case ev, ok := <-c.events:
			if !ok {
				more = false
			} else if ev.Name == event {
				out = append(out, ev.Message)
			}
		default:
			more = false
		}
	}
	return out, err
}

// Initiate initiates child (the loaded child when empty) and waits up to
// timeout for it to be established. The error includes charon's control log.
func (c *Charon) Initiate(child string, timeout time.Duration) error {
	return c.InitiateIKE("", child, timeout)
}

// InitiateIKE initiates child of connection ike (for a charon with several
// connections, see Load); empty names mean the first loaded connection and
// its child.
func (c *Charon) InitiateIKE(ike, child string, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ike == "" && child == "" {
		ike = c.conn.Name
	}
	if child == "" {
		child = c.conn.Child
	}
	in := vici.NewMessage()
	if ike != "" {
		_ = in.Set("ike", ike)
	}
	_ = in.Set("child", child)
	_ = in.Set("timeout", fmt.Sprint(timeout.Milliseconds()))
	logs, err := c.streamLocked("initiate", "control-log", in, timeout+5*time.Second)
	if err != nil {
		var sb strings.Builder
		for _, m := range logs {
			if s, ok := m.Get("msg").(string); ok {
				sb.WriteString("\n  " + s)
			}
		}
		return fmt.Errorf("%w%s", err, sb.String())
	}
	return nil
}

// Terminate deletes the IKE SA named ike (the loaded connection when
// empty), with its children, sending DELETE to the peer.
func (c *Charon) Terminate(ike string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ike == "" {
		ike = c.conn.Name
	}
	in := vici.NewMessage()
	_ = in.Set("ike", ike)
	_ = in.Set("timeout", "10000")
	_, err := c.streamLocked("terminate", "control-log", in, 15*time.Second)
	return err
}

// Clear deletes the IKE SA named ike (the loaded connection when empty)
// locally without waiting for the peer's answer to the DELETE: for a
// peer that is known to be dead. An absent SA is not an error.
func (c *Charon) Clear(ike string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ike == "" {
		ike = c.conn.Name
	}
	in := vici.NewMessage()
	_ = in.Set("ike", ike)
	_ = in.Set("force", "yes")
	_ = in.Set("timeout", "-1")
	// Not streamed: with timeout -1 charon answers at once, and late
	// control-log events would race with the event unregistration.
	_, err := c.callLocked("terminate", in, 15*time.Second)
	if err != nil && strings.Contains(err.Error(), "no matching SAs") {
		return nil // already gone: Clear is idempotent
	}
	return err
}

// TerminateChild deletes the CHILD_SA(s) named child.
func (c *Charon) TerminateChild(child string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := vici.NewMessage()
	_ = in.Set("child", child)
	_ = in.Set("timeout", "10000")
	_, err := c.streamLocked("terminate", "control-log", in, 15*time.Second)
	return err
}

// Rekey rekeys the IKE SA (child == false) or the CHILD_SA (child == true)
// of the loaded connection.
func (c *Charon) Rekey(child bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := vici.NewMessage()
	if child {
		_ = in.Set("child", c.conn.Child)
	} else {
		_ = in.Set("ike", c.conn.Name)
	}
	_, err := c.callLocked("rekey", in, 10*time.Second)
	return err
}

// Reload replaces the connection with conn (zero fields from DefaultConn):
// unload the old connection if its name changes, then load-shared (which
// replaces the secret of the same id) and load-conn. Existing SAs are kept.
// Daemon-wide knobs need RestartWith.
func (c *Charon) Reload(conn SwanConn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn = conn.fill(c.b.DefaultConn(c.role))
	if conn.Name != c.conn.Name {
		in := vici.NewMessage()
		_ = in.Set("name", c.conn.Name)
		if _, err := c.callLocked("unload-conn", in, 10*time.Second); err != nil {
			return err
		}
	}
	if err := c.loadLocked(conn); err != nil {
		return err
	}
	c.conn = conn
	return nil
}

// Load adds (or replaces) one more connection, keyed by its Name, next to
// the first one: e.g. the second tunnel of a dual-tunnel setup. Zero fields
// take DefaultConn's values, so give it a Name, a Child name and what
// differs. Daemon-wide knobs of conn are ignored. Load does not survive
// Restart; call it again after one.
func (c *Charon) Load(conn SwanConn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn = conn.fill(c.b.DefaultConn(c.role))
	if conn.Name == c.conn.Name {
		return fmt.Errorf("lab: %s: connection %q is the primary one; use Reload", c.role, conn.Name)
	}
	return c.loadLocked(conn)
}

// Kill SIGKILLs charon (a crash: no DELETE is sent) and removes what it
// leaves behind: its "lookup 220" ip rule, table 220 and the VICI socket.
func (c *Charon) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeSessionLocked()
	if c.proc != nil {
		c.proc.Kill()
	}
	c.scrubLocked()
}

// Stop stops charon gracefully (SIGTERM; it sends DELETEs and removes its
// routes), SIGKILL after 5 s.
func (c *Charon) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeSessionLocked()
	if c.proc != nil {
		c.proc.stop(5 * time.Second)
	}
	c.scrubLocked()
}

// Restart stops charon (gracefully if still running) and starts it again
// with the current connection.
func (c *Charon) Restart() error {
	c.Stop()
	return c.start()
}

// RestartWith restarts charon with a new connection and daemon knobs.
func (c *Charon) RestartWith(conn SwanConn) error {
	c.Stop()
	c.mu.Lock()
	c.conn = conn.fill(c.b.DefaultConn(c.role))
	c.mu.Unlock()
	return c.start()
}

func (c *Charon) closeSessionLocked() {
	if c.sess != nil {
		_ = c.sess.Close()
		c.sess = nil
	}
}

func (c *Charon) closeSession() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeSessionLocked()
}

// scrubLocked removes the ip rule and routes a dead charon leaves.
func (c *Charon) scrubLocked() {
	for range 10 {
		if _, err := c.b.Exec(c.role, "ip", "rule", "del", "table", "220"); err != nil {
			break
		}
	}
	_, _ = c.b.Exec(c.role, "ip", "route", "flush", "table", "220")
	_ = os.Remove(c.SocketPath())
}

// CPU returns the CPU time the running charon has used (see Proc.CPU).
func (c *Charon) CPU() (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0, errors.New("lab: charon not started")
	}
	return c.proc.CPU()
}

// Running reports whether the charon process is alive.
func (c *Charon) Running() bool { return c.Pid() != 0 }

// Signal sends sig to the charon process.
func (c *Charon) Signal(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return errors.New("lab: charon not started")
	}
	return c.proc.Signal(sig)
}

// WaitEstablished waits until an IKE SA of the loaded connection is
// ESTABLISHED with an INSTALLED child, and returns it.
func (c *Charon) WaitEstablished(timeout time.Duration) (IKESA, error) {
	name := c.Conn().Name
	var found IKESA
	_, err := c.WaitSAs(timeout, func(sas []IKESA) bool {
		for _, sa := range sas {
			if _, ok := sa.InstalledChild(); ok && sa.Name == name && sa.State == "ESTABLISHED" {
				found = sa
				return true
			}
		}
		return false
	})
	return found, err
}

// Swanctl runs swanctl against this charon inside its namespace, e.g.
// Swanctl("--list-sas") or Swanctl("--stats"), for debugging and for
// commands the lab does not wrap. (swanctl wants its command before --uri.)
func (c *Charon) Swanctl(cmd string, args ...string) (string, error) {
	argv := append([]string{"env", "STRONGSWAN_CONF=" + c.ConfPath(), "swanctl", cmd, "--uri", "unix://" + c.SocketPath()}, args...)
	return c.b.Exec(c.role, argv...)
}
