package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Roles: the logical names of the namespaces of a bed.
const (
	Client = "client"
	GwA    = "gwA"
	GwB    = "gwB"
	Server = "server"
	NATBox = "nat" // only with Options.NAT
)

// Addresses of the topology, exactly as in shared/lab/README.md.
const (
	ClientIP = "10.1.0.10" // client eth0
	GwALanIP = "10.1.0.1"  // gwA lan
	GwAWanIP = "192.0.2.1" // gwA wan without NAT; the NAT box's outside with NAT
	GwBWanIP = "192.0.2.2" // gwB wan
	GwBLanIP = "10.2.0.1"  // gwB lan
	ServerIP = "10.2.0.10" // server eth0

	GwAWanNATIP = "172.16.0.1"   // gwA wan with NAT
	NATInIP     = "172.16.0.254" // nat box, gwA side
	NATOutIP    = "192.0.2.1"    // nat box, gwB side (gwA's public address)

	ClientNet = "10.1.0.0/24" // LAN behind gwA
	ServerNet = "10.2.0.0/24" // LAN behind gwB
	WanNet    = "192.0.2.0/24"
	NATNet    = "172.16.0.0/24"
)

// StateRoot is the directory under which every bed keeps its state.
const StateRoot = "/run/ipsecgw-lab"

// DefaultExecTimeout bounds Bed.Exec.
const DefaultExecTimeout = 30 * time.Second

// Options select the shape of a bed.
type Options struct {
	// NAT inserts the masquerading "nat" namespace between the gateways.
	NAT bool
	// NATRandom makes the masquerade "random": source ports (500/4500
	// included) are translated too.
	NATRandom bool
	// Charon lists the gateways (GwA, GwB) that get a strongSwan charon at
	// New with Bed.DefaultConn; nil means both. Use []string{} for none
	// (then start charons yourself with StartCharon).
	Charon []string
	// Initiate makes New initiate the default child from gwA (when gwA has
	// a charon) and wait until it is established.
	Initiate bool
	// KeepOnFailure leaves namespaces, processes and state in place when
	// the test failed, for post-mortem debugging. They live until
	// scripts/clean-lab.sh, or until a New in a later test process finds
	// their owner gone and reaps them.
	KeepOnFailure bool
}

// Bed is one test bed. Its methods are safe for concurrent use.
type Bed struct {
	t     testing.TB
	opt   Options
	id    string // "ig" + 4 base36 chars
	dir   string // state directory
	roles []string

	mu       sync.Mutex
	procs    []*Proc
	charons  map[string]*Charon
	iperfs   map[string]*Proc // role -> iperf3 server
	dropOn   bool
	closed   bool
	logNames map[string]int
}

var bedCounter atomic.Uint32

// New builds a bed and registers its removal with t.Cleanup. It calls
// t.Fatal on any error, after removing what it already built. It skips the
// test under testing.Short() or when not running as root.
func New(t testing.TB, opt Options) *Bed {
	t.Helper()
	Require(t)
	reapOrphans(t)
	b := &Bed{
		t:        t,
		opt:      opt,
		charons:  map[string]*Charon{},
		iperfs:   map[string]*Proc{},
		logNames: map[string]int{},
	}
	if err := b.allocate(); err != nil {
		t.Fatalf("lab: %v", err)
	}
	b.roles = []string{Client, GwA, GwB, Server}
	if opt.NAT {
		b.roles = append(b.roles, NATBox)
	}
	t.Cleanup(b.cleanup)
	if err := b.topology(); err != nil {
		t.Fatalf("lab: topology: %v", err)
	}
	gws := opt.Charon
	if gws == nil {
		gws = []string{GwA, GwB}
	}
	for _, gw := range gws {
		b.StartCharon(gw, b.DefaultConn(gw))
	}
	if opt.Initiate {
		c := b.Charon(GwA)
		if c == nil {
			t.Fatalf("lab: Options.Initiate needs a charon on gwA")
		}
		if err := c.Initiate("", 30*time.Second); err != nil {
			t.Fatalf("lab: initiate: %v", err)
		}
	}
	return b
}

// Require skips the test under testing.Short() or when not running as root:
// the conditions under which New skips, for tests that must decide before
// building a bed.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab: network namespaces skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root for network namespaces")
	}
}

// allocate picks a free id: 4 base36 chars from the pid and a per-process
// counter; creating the state directory is the atomic claim, so parallel beds
// in different processes never share an id.
func (b *Bed) allocate() error {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return err
	}
	const space = 36 * 36 * 36 * 36
	seed := uint64(os.Getpid())*7919 + uint64(bedCounter.Add(1))*104729
	for i := uint64(0); i < 1000; i++ {
		n := (seed + i*7) % space
		id := "ig" + fmt.Sprintf("%04s", strconv.FormatUint(n, 36))
		dir := filepath.Join(StateRoot, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return err
		}
		if stale := func() bool {
			for _, r := range []string{Client, GwA, GwB, Server, NATBox} {
				if nsExists(id + "-" + r) {
					return true
				}
			}
			return false
		}(); stale {
			_ = os.Remove(dir) // a stale bed without state dir: leave it to clean-lab
			continue
		}
		b.id, b.dir = id, dir
		return os.WriteFile(filepath.Join(dir, "owner"), []byte(ownerStamp(os.Getpid())), 0o644)
	}
	return errors.New("lab: no free bed id")
}

// ID is the bed's unique id ("ig" + 4 chars), the prefix of its namespaces.
func (b *Bed) ID() string { return b.id }

// Dir is the bed's state directory (configs, logs, VICI sockets).
func (b *Bed) Dir() string { return b.dir }

// Options returns the options the bed was built with.
func (b *Bed) Options() Options { return b.opt }

// NS returns the real network namespace name of a role ("ig<id>-<role>").
func (b *Bed) NS(role string) string { return b.id + "-" + role }

// NSPath is the bind-mount path of role's namespace (/run/netns/<name>),
// for netns.GetFromPath / netlink.NewHandleAt and setns(2).
func (b *Bed) NSPath(role string) string { return filepath.Join("/run/netns", b.NS(role)) }

// Roles lists the roles (namespaces) of this bed.
func (b *Bed) Roles() []string { return append([]string(nil), b.roles...) }

// Logf logs through the bed's testing.TB.
func (b *Bed) Logf(format string, args ...any) {
	b.t.Helper()
	b.t.Logf(format, args...)
}

// Exec runs a command in the namespace of role and returns its combined
// output. It is killed after DefaultExecTimeout.
func (b *Bed) Exec(role string, args ...string) (string, error) {
	return b.ExecTimeout(role, DefaultExecTimeout, args...)
}

// ExecTimeout is Exec with an explicit timeout.
func (b *Bed) ExecTimeout(role string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return runCmd(ctx, nil, append([]string{"ip", "netns", "exec", b.NS(role)}, args...)...)
}

// runCmd runs argv with an optional stdin and returns combined output; the
// error carries the output so test failures are self-explaining.
func runCmd(ctx context.Context, stdin []byte, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return out.String(), fmt.Errorf("lab: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// host runs a command in the host namespace (used for `ip netns` and veth
// creation).
func host(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	_, err := runCmd(ctx, nil, argv...)
	return err
}

// must runs a list of commands in role's namespace, stopping at the first
// failure.
func (b *Bed) must(role string, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := b.Exec(role, c...); err != nil {
			return err
		}
	}
	return nil
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}
