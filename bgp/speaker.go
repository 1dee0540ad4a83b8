// Package bgp runs the gateway's BGP speaker: one embedded GoBGP v3 server
// whose neighbors are the customer gateways' tunnel addresses (SPEC §1 BGP:
// the session runs through the tunnel between the two addresses of a /30 in
// 169.254.0.0/16). It advertises the cloud side's prefixes and reports the
// on-premises prefixes it learns, so the daemon can install them in the
// kernel through package route: GoBGP itself programs no kernel routes.
//
// GoBGP's API types (protobuf messages, its packet codec) never leave this
// package; callers see netip values and the small types in state.go. No gRPC
// listener is started.
//
// Defaults follow the lab measurements (shared/lab/README.md, "BGP over the
// tunnel"): keepalive 3 s / hold 9 s so a dead tunnel drops the session in
// 6–9 s; connect-retry 5 s instead of the 120 s everybody defaults to;
// graceful restart off, or the peer would keep our stale routes for minutes.
// GoBGP refuses connections for a fixed 5 s after a session drops (its idle
// hold time); that is not configurable.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Timer defaults for neighbors (see the package comment).
const (
	DefaultHoldTime     = 9 * time.Second
	DefaultKeepalive    = 3 * time.Second
	DefaultConnectRetry = 5 * time.Second
	// Port is the BGP TCP port (RFC 4271 §8.2.1).
	Port = 179
)

// Config configures a Speaker.
type Config struct {
	// ASN is the local AS number (SPEC default 45104); required.
	ASN uint32
	// RouterID is the BGP identifier, an IPv4 address; required.
	RouterID netip.Addr
	// ListenPort is the TCP port to accept sessions on: 0 means 179, -1
	// means no listener (every neighbor must then be active).
	ListenPort int
	// ListenAddresses restricts the listener. Empty means 0.0.0.0 and ::,
	// which also works for tunnel addresses that appear later: a listener
	// on an address that does not exist yet fails at Start.
	ListenAddresses []netip.Addr
	// Logger receives GoBGP's log and the speaker's own; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for route ages and uptimes; default time.Now.
	Now func() time.Time
}

// Neighbor configures one BGP peer.
type Neighbor struct {
	// Address is the peer's address (its tunnel address); required.
	Address netip.Addr
	// PeerASN is the peer's AS number; required.
	PeerASN uint32
	// LocalASN overrides Config.ASN towards this neighbor (SPEC §1: the
	// local ASN is a per-connection setting); 0 means Config.ASN.
	LocalASN uint32
	// LocalAddress is the source of the TCP connection (our tunnel
	// address); invalid means the kernel chooses.
	LocalAddress netip.Addr
	// Port is the peer's TCP port; 0 means 179.
	Port int
	// HoldTime, Keepalive and ConnectRetry default to 9 s, 3 s and 5 s.
	// They are sent in whole seconds; HoldTime must be 0 or at least 3 s
	// (RFC 4271 §4.2).
	HoldTime, Keepalive, ConnectRetry time.Duration
	// Passive waits for the peer to connect instead of dialling.
	Passive bool
}

// Speaker is an embedded BGP speaker. Its methods are safe for concurrent use.
type Speaker struct {
	cfg Config
	log *slog.Logger

	// mu guards the fields below.
	mu sync.Mutex
	// srv is the GoBGP server; nil before Start and after Close.
	srv *server.BgpServer
	// cancel stops the event watcher started by Start.
	cancel context.CancelFunc
	// announced holds the paths Announce added, keyed by prefix, so
	// Withdraw can delete exactly them.
	announced map[netip.Prefix]*api.Path

	// rib tracks learned best routes and runs the OnRoutes callback.
	rib learnedRIB
}

// ErrNotStarted is returned by methods that need a running speaker.
var ErrNotStarted = errors.New("bgp: speaker not started")

// New validates cfg and returns a Speaker; nothing runs before Start.
func New(cfg Config) (*Speaker, error) {
	if cfg.ASN == 0 {
		return nil, errors.New("bgp: local ASN required")
	}
	if !cfg.RouterID.Is4() || cfg.RouterID.IsUnspecified() {
		return nil, fmt.Errorf("bgp: router ID %v must be a non-zero IPv4 address", cfg.RouterID)
	}
	if cfg.ListenPort < -1 || cfg.ListenPort > 65535 {
		return nil, fmt.Errorf("bgp: listen port %d out of range", cfg.ListenPort)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Speaker{cfg: cfg, log: cfg.Logger, announced: make(map[netip.Prefix]*api.Path)}
	s.rib.init(cfg.Logger)
	return s, nil
}

// Start runs the GoBGP server and opens the listener. ctx bounds only the
// start-up; the speaker runs until Close.
func (s *Speaker) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("bgp: already started")
	}
	srv := server.NewBgpServer(server.LoggerOption(slogAdapter{s.log}))
	go srv.Serve()
	global := &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: int32(s.cfg.ListenPort),
	}
	for _, a := range s.cfg.ListenAddresses {
		global.ListenAddresses = append(global.ListenAddresses, a.String())
	}
	if len(global.ListenAddresses) == 0 && s.cfg.ListenPort >= 0 && !ipv6Available() {
		// GoBGP's default is 0.0.0.0 and ::, and a failing :: listener
		// fails the whole start on hosts with IPv6 disabled.
		global.ListenAddresses = []string{"0.0.0.0"}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		srv.Stop()
		return fmt.Errorf("bgp: start: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	req := &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
		}},
	}
	if err := srv.WatchEvent(wctx, req, s.event); err != nil {
		cancel()
		srv.Stop()
		return fmt.Errorf("bgp: watch: %w", err)
	}
	s.srv, s.cancel = srv, cancel
	s.log.Info("bgp: speaker started", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID, "port", s.cfg.ListenPort)
	return nil
}

// Close stops the speaker: every session is closed with a Cease
// NOTIFICATION (RFC 4486 subcode 3, peer de-configured), the listener
// closes, and OnRoutes receives every learned route as withdrawn, then
// nothing more. GoBGP's main loop goroutine has no exit and stays parked.
// Close on a stopped speaker is a no-op.
func (s *Speaker) Close() error {
	s.mu.Lock()
	srv, cancel := s.srv, s.cancel
	s.srv, s.cancel = nil, nil
	clear(s.announced)
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	cancel()
	srv.Stop()
	s.rib.reset()
	return nil
}

// ipv6Available reports whether a TCP listener on :: can be opened.
func ipv6Available() bool {
	l, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func (s *Speaker) server() (*server.BgpServer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil, ErrNotStarted
	}
	return s.srv, nil
}

// AddNeighbor configures a peer for the IPv4 or IPv6 unicast family of its
// address and starts connecting (unless Passive).
func (s *Speaker) AddNeighbor(ctx context.Context, n Neighbor) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	p, err := s.peer(n)
	if err != nil {
		return err
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		return fmt.Errorf("bgp: add neighbor %v: %w", n.Address, err)
	}
	s.log.Info("bgp: neighbor added", "neighbor", n.Address, "peer_asn", n.PeerASN, "passive", n.Passive)
	return nil
}

// peer converts n to GoBGP's peer message, applying the defaults.
func (s *Speaker) peer(n Neighbor) (*api.Peer, error) {
	if !n.Address.IsValid() || n.Address.IsUnspecified() {
		return nil, fmt.Errorf("bgp: neighbor address %v invalid", n.Address)
	}
	if n.PeerASN == 0 {
		return nil, fmt.Errorf("bgp: neighbor %v: peer ASN required", n.Address)
	}
	if n.LocalAddress.IsValid() && n.LocalAddress.Is4() != n.Address.Is4() {
		return nil, fmt.Errorf("bgp: neighbor %v: local address %v of another family", n.Address, n.LocalAddress)
	}
	if n.Port < 0 || n.Port > 65535 {
		return nil, fmt.Errorf("bgp: neighbor %v: port %d out of range", n.Address, n.Port)
	}
	hold, keep, retry := n.HoldTime, n.Keepalive, n.ConnectRetry
	if hold == 0 {
		hold = DefaultHoldTime
	}
	if keep == 0 {
		keep = DefaultKeepalive
	}
	if retry == 0 {
		retry = DefaultConnectRetry
	}
	if hold < 3*time.Second || keep >= hold || retry < time.Second {
		return nil, fmt.Errorf("bgp: neighbor %v: timers hold %v keepalive %v connect-retry %v: need hold ≥ 3s > keepalive, retry ≥ 1s", n.Address, hold, keep, retry)
	}
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if n.Address.Is6() {
		family.Afi = api.Family_AFI_IP6
	}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.PeerASN, LocalAsn: n.LocalASN},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(hold / time.Second),
			KeepaliveInterval: uint64(keep / time.Second),
			ConnectRetry:      uint64(retry / time.Second),
		}},
		Transport: &api.Transport{
			PassiveMode: n.Passive,
			RemotePort:  uint32(n.Port),
		},
		// Graceful restart stays off (nil): with it the peer keeps our
		// routes as stale for the restart time after the tunnel dies.
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: family, Enabled: true}}},
	}
	if n.LocalAddress.IsValid() {
		p.Transport.LocalAddress = n.LocalAddress.String()
	}
	return p, nil
}

// RemoveNeighbor closes the session with a Cease NOTIFICATION and forgets the
// neighbor; the routes learned from it are reported withdrawn.
func (s *Speaker) RemoveNeighbor(ctx context.Context, addr netip.Addr) error {
	srv, err := s.server()
	if err != nil {
		return err
	}
	if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
		return fmt.Errorf("bgp: remove neighbor %v: %w", addr, err)
	}
	s.log.Info("bgp: neighbor removed", "neighbor", addr)
	return nil
}

// Neighbors returns the state of every configured neighbor, sorted by
// address. A stopped speaker has none.
func (s *Speaker) Neighbors() []NeighborState {
	srv, err := s.server()
	if err != nil {
		return nil
	}
	var out []NeighborState
	now := s.cfg.Now()
	_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		out = append(out, neighborState(p, now))
	})
	sortNeighbors(out)
	return out
}

func neighborState(p *api.Peer, now time.Time) NeighborState {
	var ns NeighborState
	if c := p.GetConf(); c != nil {
		ns.Address, _ = netip.ParseAddr(c.NeighborAddress)
		ns.PeerASN = c.PeerAsn
	}
	if st := p.GetState(); st != nil {
		ns.State = sessionState(st.SessionState)
	}
	if up := p.GetTimers().GetState().GetUptime(); up != nil && ns.State == StateEstablished {
		ns.Uptime = max(now.Sub(up.AsTime()), 0)
	}
	for _, af := range p.GetAfiSafis() {
		if st := af.GetState(); st != nil {
			ns.Received += st.Received
			ns.Accepted += st.Accepted
		}
	}
	return ns
}

func sessionState(s api.PeerState_SessionState) SessionState {
	switch s {
	case api.PeerState_IDLE:
		return StateIdle
	case api.PeerState_CONNECT:
		return StateConnect
	case api.PeerState_ACTIVE:
		return StateActive
	case api.PeerState_OPENSENT:
		return StateOpenSent
	case api.PeerState_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_ESTABLISHED:
		return StateEstablished
	}
	return StateUnknown
}

// event receives GoBGP's watch events (on GoBGP's watcher goroutine, one at
// a time): peer state changes are logged, best-path changes go to the RIB.
func (s *Speaker) event(ev *api.WatchEventResponse) {
	if pe := ev.GetPeer(); pe != nil {
		if pe.Type == api.WatchEventResponse_PeerEvent_STATE {
			st := pe.GetPeer().GetState()
			s.log.Info("bgp: neighbor state", "neighbor", st.GetNeighborAddress(), "state", sessionState(st.GetSessionState()).String())
		}
		return
	}
	if te := ev.GetTable(); te != nil {
		s.rib.update(te.Paths)
	}
}

// slogAdapter feeds GoBGP's logger interface into slog, so GoBGP's messages
// land in the daemon's log with the same handler and level.
type slogAdapter struct {
	l *slog.Logger
}

var _ gobgplog.Logger = slogAdapter{}

func (a slogAdapter) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, fields[k]))
	}
	a.l.LogAttrs(ctx, level, "gobgp: "+msg, attrs...)
}

// Panic logs at error level. GoBGP calls it for states it cannot handle; the
// daemon keeps running rather than dying with the whole gateway.
func (a slogAdapter) Panic(msg string, f gobgplog.Fields) { a.emit(slog.LevelError, msg, f) }

// Fatal logs at error level; see Panic. GoBGP uses it only for its gRPC
// listener (which we never start) and an impossible message type.
func (a slogAdapter) Fatal(msg string, f gobgplog.Fields) { a.emit(slog.LevelError, msg, f) }

func (a slogAdapter) Error(msg string, f gobgplog.Fields) { a.emit(slog.LevelError, msg, f) }
func (a slogAdapter) Warn(msg string, f gobgplog.Fields)  { a.emit(slog.LevelWarn, msg, f) }
func (a slogAdapter) Info(msg string, f gobgplog.Fields)  { a.emit(slog.LevelInfo, msg, f) }
func (a slogAdapter) Debug(msg string, f gobgplog.Fields) { a.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the slog handler decides.
func (a slogAdapter) SetLevel(gobgplog.LogLevel) {}

// GetLevel reports the most verbose level the handler accepts, which GoBGP
// consults before building expensive debug output.
func (a slogAdapter) GetLevel() gobgplog.LogLevel {
	if a.l.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
