package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/cluster"
	"github.com/salvo-sh/salvo/conf"
)

// Message size limits between nodes: a result batch is at most
// actors.WorkerConfig.BatchBytes of bodies, and remote writes up to
// remoteBatch messages in one gRPC message.
const (
	remoteBatch      = 8
	remoteMaxMsgSize = 64 << 20
)

// clusterNode is a node's membership (memberlist) and its proto.actor
// remote, and the goroutine that turns membership events into actor
// messages: a failed or departed worker is lost for the master, a master
// joining tells the worker where to register.
type clusterNode struct {
	cfg    *conf.Config
	logger *slog.Logger
	system *actor.ActorSystem
	remote *remote.Remote
	cl     *cluster.Cluster
	events chan cluster.Event

	// worker is set on a node with the worker role, engine on the master
	// that runs one (an HA master while it leads).
	worker *actors.WorkerHost
	// raftAddr is an HA master's Raft address, in its metadata.
	raftAddr string

	engine    engineRef
	mu        sync.Mutex
	masterAPI string     // the master's API address, from its metadata
	master    masterSeen // the master the worker follows

	stop chan struct{}
	done chan struct{}
}

// startRemote starts the actor system with proto.actor remote listening on
// the node's remote address (TLS when configured).
func startRemote(cfg *conf.Config, logger *slog.Logger) (*clusterNode, error) {
	addr := cfg.RemoteAddress()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("remote address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	opts := []remote.ConfigOption{
		remote.WithEndpointWriterBatchSize(remoteBatch),
		remote.WithServerOptions(grpc.MaxRecvMsgSize(remoteMaxMsgSize), grpc.MaxSendMsgSize(remoteMaxMsgSize)),
		remote.WithCallOptions(grpc.MaxCallSendMsgSize(remoteMaxMsgSize), grpc.MaxCallRecvMsgSize(remoteMaxMsgSize)),
	}
	if cfg.TLSCert != "" {
		server, client, err := remoteTLS(cfg)
		if err != nil {
			return nil, err
		}
		if cfg.TLSServerName != "" {
			logger.Info("cluster TLS checks the other nodes' certificates against a server name, not the address dialed",
				"tlsServerName", cfg.TLSServerName)
		}
		opts = append(opts,
			remote.WithServerOptions(grpc.Creds(credentials.NewTLS(server)), grpc.MaxRecvMsgSize(remoteMaxMsgSize), grpc.MaxSendMsgSize(remoteMaxMsgSize)),
			remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(client))))
	}
	if adv := cfg.RemoteAdvertise(); adv != addr {
		opts = append(opts, remote.WithAdvertisedHost(adv))
	}
	system := actors.NewSystem(logger)
	r := remote.NewRemote(system, remote.Configure(host, port, opts...))
	if err := startSafely(r); err != nil {
		return nil, fmt.Errorf("start remote on %s: %w", addr, err)
	}
	return &clusterNode{cfg: cfg, logger: logger, system: system, remote: r,
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// startSafely starts remote, turning its panic on a listen error into an error.
func startSafely(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

// remoteTLS builds mutual-TLS configurations from --tls-cert, --tls-key
// and --tls-ca, for proto.actor remote and the Raft transport alike. With
// --tls-server-name the client side checks the peer's certificate against
// that name instead of the host it dials (gRPC's credentials.NewTLS and
// tls.Dial both take a set ServerName over the address); the server side
// still requires a client certificate the CA signs (docs/security.md).
func remoteTLS(cfg *conf.Config) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--tls-ca %s: no certificate found", cfg.TLSCA)
		}
		server.ClientCAs, server.ClientAuth = pool, tls.RequireAndVerifyClientCert
		client.RootCAs = pool
	}
	return server, client, nil
}

// join starts memberlist with the node's metadata and joins the members
// at the gossip addresses of join.
func (n *clusterNode) join(apiAddr string, capacity int, join []string) error {
	cc := cluster.DefaultConfig()
	cc.Name, cc.Join, cc.KeyFile, cc.Logger = n.cfg.Name, join, n.cfg.GossipKeyFile, n.logger
	cc.BindAddr, cc.AdvertiseAddr = n.cfg.GossipBind(), n.cfg.GossipAdvertise()
	cc.Meta = cluster.NodeMeta{
		Name: n.cfg.Name, Roles: n.cfg.Roles, RemoteAddr: n.system.Address(), APIAddr: apiAddr,
		Capacity: capacity, Tags: n.cfg.Tags, RaftAddr: n.raftAddr,
	}
	n.events = make(chan cluster.Event, 64)
	cl, err := cluster.Start(cc, n.events)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.cl = cl
	n.logger.Info("cluster member", "name", n.cfg.Name, "gossip", cl.LocalMember().Addr, "remote", n.system.Address(),
		"roles", n.cfg.Roles, "members", cl.NumMembers())
	for _, m := range cl.Members() {
		if m.State == cluster.StateAlive {
			n.handle(cluster.Event{Type: cluster.Joined, Member: m})
		}
	}
	go n.run()
	return nil
}

func (n *clusterNode) run() {
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case ev := <-n.events:
			n.handle(ev)
		}
	}
}

// handle turns one membership event into actor messages.
func (n *clusterNode) handle(ev cluster.Event) {
	m := ev.Member
	if m.Meta.HasRole(cluster.RoleMaster) {
		n.followMaster()
	}
	if m.Name() == n.cfg.Name {
		return
	}
	engine := n.engine.get()
	switch ev.Type {
	case cluster.Joined, cluster.Updated:
		if engine != nil && m.Meta.HasRole(cluster.RoleWorker) {
			// A worker alive again after a pause, a partition or a flap
			// (memberlist reports dead → alive as a join): the master
			// registers it if it had taken it for lost.
			engine.WorkerAlive(m.Name(), m.Meta.RemoteAddr, m.Meta.Capacity, m.Meta.Tags)
		}
	case cluster.Failed, cluster.Left:
		if engine != nil && m.Meta.HasRole(cluster.RoleWorker) {
			reason := "it failed"
			if ev.Type == cluster.Left {
				reason = "it left the cluster"
			}
			engine.WorkerLost(m.Name(), reason)
		}
	}
}

// masterSeen is the master a node follows.
type masterSeen struct {
	name, remote, api string
	term              uint64
}

// followMaster points the node's worker and API forwarder at the master
// of the cluster: the Raft leader of the highest term among the masters
// that say they lead, else a master outside any Raft group (a cluster
// without HA). A master that no longer leads, or a stray one, is not
// followed (docs/ha.md).
func (n *clusterNode) followMaster() {
	if n.cl == nil {
		return
	}
	var best, plain *cluster.Member
	for _, m := range n.cl.Members() {
		if m.State != cluster.StateAlive || !m.Meta.HasRole(cluster.RoleMaster) || m.Meta.RemoteAddr == "" {
			continue
		}
		switch {
		case m.Meta.Leader && (best == nil || m.Meta.Term > best.Meta.Term):
			best = &m
		case m.Meta.RaftAddr == "" && plain == nil:
			plain = &m
		}
	}
	if best == nil {
		best = plain
	}
	if best == nil {
		return
	}
	seen := masterSeen{name: best.Name(), remote: best.Meta.RemoteAddr, api: best.Meta.APIAddr, term: best.Meta.Term}
	n.mu.Lock()
	changed := seen != n.master
	if changed {
		if seen.term < n.master.term {
			n.mu.Unlock()
			return // a deposed leader's metadata, not yet updated
		}
		n.master = seen
		n.masterAPI = seen.api
	}
	n.mu.Unlock()
	if changed {
		n.logger.Info("following master", "master", seen.name, "term", seen.term, "api", seen.api)
		if n.worker != nil {
			n.worker.SetLeader(actor.NewPID(seen.remote, actors.MasterName), seen.term)
		}
	}
}

// setLeader publishes in the node's metadata whether it leads its Raft
// group, and in which term.
func (n *clusterNode) setLeader(leads bool, term uint64) error {
	if n.cl == nil {
		return nil
	}
	meta := n.cl.LocalMember().Meta
	if !leads {
		term = meta.Term // the term it led in, with Leader off
	}
	if meta.Leader == leads && meta.Term == term {
		return nil
	}
	meta.Leader, meta.Term = leads, term
	return n.cl.UpdateMeta(meta)
}

// MasterAPI is the master's API address as its metadata says ("" until known).
func (n *clusterNode) MasterAPI() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.masterAPI
}

// Nodes implements actors.Membership.
func (n *clusterNode) Nodes() []actors.NodeInfo {
	if n.cl == nil {
		return nil
	}
	ms := n.cl.Members()
	out := make([]actors.NodeInfo, 0, len(ms))
	for _, m := range ms {
		out = append(out, actors.NodeInfo{
			Name: m.Name(), Roles: m.Meta.Roles, GossipAddr: m.Addr, RemoteAddr: m.Meta.RemoteAddr,
			APIAddr: m.Meta.APIAddr, State: m.State, Capacity: m.Meta.Capacity, Tags: m.Meta.Tags,
			Leader: m.Meta.Leader, Term: m.Meta.Term,
		})
	}
	return out
}

// leave leaves the cluster gracefully and stops remote and the event loop.
func (n *clusterNode) leave(ctx context.Context) error {
	var err error
	if n.cl != nil {
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
			timeout = max(time.Until(d), 100*time.Millisecond)
		}
		if lerr := n.cl.Leave(timeout); lerr != nil {
			err = fmt.Errorf("leave cluster: %w", lerr)
		}
		close(n.stop)
		<-n.done
		_ = n.cl.Shutdown()
	}
	n.remote.Shutdown(false)
	n.system.Shutdown()
	return err
}
