// Package raftgroup runs the Raft group of a cluster's master-capable nodes
// (hashicorp/raft over TCP, its log and stable store in BoltDB, snapshots
// in files): the leader decides, every member applies the committed log
// to its own state machine. It knows nothing of jobs: its owner gives it
// an FSM and decides when to bootstrap (docs/design.md).
package raftgroup

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// FSM is the state machine every member applies the committed log to.
type FSM interface {
	// Apply applies one committed entry and returns what Group.Apply
	// answers on the leader.
	Apply(index uint64, data []byte) any
	// Snapshot returns a consistent copy of the state, read by the
	// caller and closed.
	Snapshot() (io.ReadCloser, error)
	// Restore replaces the state with a copy Snapshot made.
	Restore(r io.Reader) error
}

// Config configures a member.
type Config struct {
	// Name is the member's unique name (its Raft server ID).
	Name string
	// BindAddr is the Raft transport's address ("host:port").
	BindAddr string
	// Advertise is the address the others dial; empty: BindAddr.
	Advertise string
	// Dir holds the log (raft.db) and the snapshots.
	Dir string
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are
	// Raft's timers, LAN-tuned by default.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// make a new one; TrailingLogs how many entries a snapshot leaves in
	// the log for slow followers.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// ApplyTimeout bounds an Apply waiting for the log.
	ApplyTimeout time.Duration
	// FSMPersists says the FSM keeps its state across restarts (and skips
	// the entries it applied before): a start does not restore the last
	// snapshot into it, Raft replays only the log after that snapshot.
	FSMPersists bool
	// ServerTLS and ClientTLS, when set, secure the transport (mutual TLS
	// between the members).
	ServerTLS, ClientTLS *tls.Config
	Logger               *slog.Logger
}

// DefaultConfig returns LAN-tuned defaults: a leader lost is replaced in
// a few seconds.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 1000 * time.Millisecond, // 0.5 s stepped down on a loaded 2-core machine
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		ApplyTimeout:       10 * time.Second,
		Logger:             slog.Default(),
	}
}

// Peer is a member of the group.
type Peer struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Errors of a Group.
var (
	// ErrNotLeader is returned by Apply on a member that is not the
	// leader; *NotLeaderError says which member is.
	ErrNotLeader = errors.New("not the raft leader")
)

// NotLeaderError names the leader ("" when there is none now).
type NotLeaderError struct{ Leader Peer }

func (e *NotLeaderError) Error() string {
	if e.Leader.Name == "" {
		return "not the raft leader, and no leader is known"
	}
	return fmt.Sprintf("not the raft leader: %s at %s is", e.Leader.Name, e.Leader.Addr)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// Group is a running member.
type Group struct {
	cfg       Config
	raft      *raft.Raft
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore
}

// Start starts a member with its stored state, if any.
func Start(cfg Config, fsm FSM) (*Group, error) {
	def := DefaultConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = def.ApplyTimeout
	}
	if cfg.Name == "" || cfg.BindAddr == "" || cfg.Dir == "" {
		return nil, errors.New("raftgroup: Name, BindAddr and Dir are needed")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft dir: %w", err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: &slogWriter{log: cfg.Logger.With("component", "raft")}, Level: hclog.Info})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Name)
	rc.Logger = hl
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	rc.HeartbeatTimeout = pick(cfg.HeartbeatTimeout, def.HeartbeatTimeout)
	rc.ElectionTimeout = pick(cfg.ElectionTimeout, def.ElectionTimeout)
	rc.LeaderLeaseTimeout = pick(cfg.LeaderLeaseTimeout, def.LeaderLeaseTimeout)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	rc.NoSnapshotRestoreOnStart = cfg.FSMPersists
	adv := cfg.Advertise
	if adv == "" {
		adv = cfg.BindAddr
	}
	advAddr, err := net.ResolveTCPAddr("tcp", adv)
	if err != nil {
		return nil, fmt.Errorf("raft advertise address %q: %w", adv, err)
	}
	if advAddr.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft advertise address %q: give an address the other members can dial", adv)
	}
	layer, err := listen(cfg.BindAddr, advAddr, cfg.ServerTLS, cfg.ClientTLS)
	if err != nil {
		return nil, fmt.Errorf("raft transport on %s: %w", cfg.BindAddr, err)
	}
	transport := raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, hl)
	store, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		transport.Close()
		return nil, fmt.Errorf("raft log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		store.Close()
		transport.Close()
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}
	r, err := raft.NewRaft(rc, &fsmAdapter{fsm: fsm}, store, store, snaps, transport)
	if err != nil {
		store.Close()
		transport.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	return &Group{cfg: cfg, raft: r, transport: transport, store: store}, nil
}

// Addr is the member's transport address, as the others dial it.
func (g *Group) Addr() string { return string(g.transport.LocalAddr()) }

// Bootstrap makes a new group of peers (this member among them). Every
// member may call it with the same peers; a member with stored state
// ignores it.
func (g *Group) Bootstrap(peers []Peer) error {
	var servers []raft.Server
	for _, p := range peers {
		servers = append(servers, raft.Server{ID: raft.ServerID(p.Name), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
	}
	err := g.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil // it has state: the group exists
	}
	return err
}

// Apply appends data to the log and waits until it is committed on a
// majority and applied here; it returns the FSM's answer. On a member
// that is not the leader it fails with *NotLeaderError.
func (g *Group) Apply(ctx context.Context, data []byte) (any, error) {
	timeout := g.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		// raft.Apply waits without a bound when given none.
		return nil, fmt.Errorf("raft apply: %w", context.Cause(ctx))
	}
	f := g.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return nil, &NotLeaderError{Leader: g.Leader()}
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	return f.Response(), nil
}

// Barrier waits until every entry committed before it is applied here: a
// new leader calls it before it serves from its state.
func (g *Group) Barrier(ctx context.Context) error {
	timeout := g.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return fmt.Errorf("raft barrier: %w", context.Cause(ctx))
	}
	if err := g.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return &NotLeaderError{Leader: g.Leader()}
		}
		return fmt.Errorf("raft barrier: %w", err)
	}
	return nil
}

// Term is the member's current Raft term.
func (g *Group) Term() uint64 { return g.raft.CurrentTerm() }

// Bootstrapped reports whether the member has a group: stored state, or
// a configuration it knows.
func (g *Group) Bootstrapped() bool {
	f := g.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// IsLeader reports whether this member leads now.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// LeaderCh tells of this member's leadership changes (true: it leads).
func (g *Group) LeaderCh() <-chan bool { return g.raft.LeaderCh() }

// Leader is the member that leads now (zero when none is known).
func (g *Group) Leader() Peer {
	addr, id := g.raft.LeaderWithID()
	return Peer{Name: string(id), Addr: string(addr)}
}

// Status is what the operator API shows of a member.
type Status struct {
	Name         string `json:"name"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LastIndex    uint64 `json:"lastIndex"`
	Voters       []Peer `json:"voters"`
}

// Servers lists the group's members and whether each votes.
func (g *Group) Servers() ([]Peer, error) {
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{Name: string(s.ID), Addr: string(s.Address)})
	}
	return out, nil
}

// Status reads the member's Raft state.
func (g *Group) Status() (Status, error) {
	st := Status{Name: g.cfg.Name, State: g.raft.State().String(), Leader: g.Leader().Name,
		Term: g.raft.CurrentTerm(), AppliedIndex: g.raft.AppliedIndex(), LastIndex: g.raft.LastIndex()}
	if v, ok := g.raft.Stats()["commit_index"]; ok {
		fmt.Sscan(v, &st.CommitIndex)
	}
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, fmt.Errorf("raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, Peer{Name: string(s.ID), Addr: string(s.Address)})
		}
	}
	return st, nil
}

// AddVoter adds a member (on the leader); for a member already in the
// group it updates the member's address.
func (g *Group) AddVoter(p Peer) error {
	return g.raft.AddVoter(raft.ServerID(p.Name), raft.ServerAddress(p.Addr), 0, g.cfg.ApplyTimeout).Error()
}

// RemoveServer removes a member, a dead one say (on the leader).
func (g *Group) RemoveServer(name string) error {
	return g.raft.RemoveServer(raft.ServerID(name), 0, g.cfg.ApplyTimeout).Error()
}

// TransferLeadership hands the leadership to another member (on the
// leader): REST Commander's "assign a new master".
func (g *Group) TransferLeadership(to Peer) error {
	return g.raft.LeadershipTransferToServer(raft.ServerID(to.Name), raft.ServerAddress(to.Addr)).Error()
}

// Snapshot takes a snapshot now and compacts the log behind it.
func (g *Group) Snapshot() error { return g.raft.Snapshot().Error() }

// Shutdown stops the member; its state stays in Dir for the next start.
func (g *Group) Shutdown() error {
	err := g.raft.Shutdown().Error()
	if cerr := g.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsmAdapter turns an FSM into raft.FSM.
type fsmAdapter struct{ fsm FSM }

func (a *fsmAdapter) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return a.fsm.Apply(l.Index, l.Data)
}

func (a *fsmAdapter) Snapshot() (raft.FSMSnapshot, error) {
	rc, err := a.fsm.Snapshot()
	if err != nil {
		return nil, err
	}
	return &snapshot{rc: rc}, nil
}

func (a *fsmAdapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return a.fsm.Restore(rc)
}

// snapshot streams an FSM's copy into Raft's sink.
type snapshot struct{ rc io.ReadCloser }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.Copy(sink, s.rc); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.rc.Close() }

// slogWriter carries hclog's lines into slog.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "[ERROR]"):
			w.log.Error(line)
		case strings.Contains(line, "[WARN]"):
			w.log.Warn(line)
		default:
			w.log.Info(line)
		}
	}
	return len(p), nil
}

// streamLayer is the transport's raft.StreamLayer: TCP, or mutual TLS
// when configured. Its connections leave from the bound host when it is
// not a wildcard, so that the others see them come from the address they
// know this member by.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	dialer    *net.Dialer
	client    *tls.Config // nil: plain TCP
}

func listen(bind string, advertise net.Addr, server, client *tls.Config) (*streamLayer, error) {
	var ln net.Listener
	var err error
	if server != nil {
		ln, err = tls.Listen("tcp", bind, server)
	} else {
		ln, err = net.Listen("tcp", bind)
	}
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{}
	if host, _, err := net.SplitHostPort(bind); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	return &streamLayer{Listener: ln, advertise: advertise, dialer: d, client: client}, nil
}

// Dial implements raft.StreamLayer.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := *l.dialer
	d.Timeout = timeout
	if l.client != nil {
		return tls.DialWithDialer(&d, "tcp", string(address), l.client)
	}
	return d.Dial("tcp", string(address))
}

// Addr implements net.Listener with the advertised address.
func (l *streamLayer) Addr() net.Addr { return l.advertise }
