package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is a long-running process the bed started in one of its namespaces.
// Its stdout and stderr go to a log file in the bed's state directory; the
// bed kills it at cleanup.
type Proc struct {
	role, name string
	logPath    string
	cmd        *exec.Cmd
	done       chan struct{}
	mu         sync.Mutex
	err        error // Wait's result, valid once done is closed
}

// Start starts argv in role's namespace and returns at once. name labels
// the log file (<state>/<name>.log, or <name>-2.log for a second one).
// Start calls t.Fatal if the process cannot be started.
func (b *Bed) Start(role, name string, argv ...string) *Proc {
	b.t.Helper()
	p, err := b.StartEnv(role, name, nil, argv...)
	if err != nil {
		b.t.Fatalf("lab: %v", err)
	}
	return p
}

// StartEnv is Start with extra environment variables ("K=V") and an error
// instead of t.Fatal.
func (b *Bed) StartEnv(role, name string, env []string, argv ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: start: empty command")
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("lab: start: bed already cleaned up")
	}
	n := b.logNames[name]
	b.logNames[name] = n + 1
	b.mu.Unlock()
	logName := name + ".log"
	if n > 0 {
		logName = fmt.Sprintf("%s-%d.log", name, n+1)
	}
	logPath := filepath.Join(b.dir, logName)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	defer f.Close()
	// `ip netns exec` execs the command, so cmd.Process is the command
	// itself and signals reach it directly.
	cmd := exec.Command("ip", append([]string{"netns", "exec", b.NS(role)}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Own process group: a ^C to `go test` must not reach it before the
	// bed's cleanup does; Setpgid also lets us kill its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start %s in %s: %w", name, role, err)
	}
	p := &Proc{role: role, name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Name is the label given to Start.
func (p *Proc) Name() string { return p.name }

// LogPath is the file that collects the process's stdout and stderr.
func (p *Proc) LogPath() string { return p.logPath }

// Log returns what the process wrote so far.
func (p *Proc) Log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

// Signal sends sig to the process (not its children).
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return p.cmd.Process.Signal(sig)
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to end and returns its exit
// error (nil for exit status 0); it returns an error if it is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("lab: %s still running after %v", p.name, timeout)
	}
}

// Kill SIGKILLs the process group and waits for the process to end.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (p *Proc) stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // stray children
	case <-time.After(grace):
		p.Kill()
	}
}

// Do runs fn on an OS thread switched into role's network namespace with
// setns(2), so sockets and TUN devices that fn creates belong to that
// namespace (they stay there after fn returns). Goroutines that fn starts run
// on other threads, in the host namespace: create every socket inside fn.
// The thread is never returned to the Go scheduler's pool: it stays locked
// and exits when fn returns, so no other goroutine ever runs in the wrong
// namespace. Do not call Bed.Start from fn: a child inherits the thread's
// parent-death signal and would be killed when the thread exits (Exec is
// fine, and runs in role's namespace anyway).
func (b *Bed) Do(role string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread dies with this goroutine
		f, err := os.Open(b.NSPath(role))
		if err != nil {
			errc <- fmt.Errorf("lab: do in %s: %w", role, err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("lab: setns %s: %w", role, err)
			return
		}
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("lab: do in %s: panic: %v", role, r)
			}
		}()
		errc <- fn()
	}()
	return <-errc
}

// CPU returns the CPU time (user + system) the process has used so far,
// from /proc/<pid>/stat: measure it before and after a load to get a
// gateway's CPU per packet or per byte.
func (p *Proc) CPU() (time.Duration, error) {
	return procCPU(p.Pid())
}

// clkTck is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clkTck = 100

func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("lab: cpu of %d: %w", pid, err)
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("lab: cpu of %d: short stat", pid)
	}
	// fields 14 and 15 (utime, stime) are f[11] and f[12] after comm
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("lab: cpu of %d: bad stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clkTck, nil
}
