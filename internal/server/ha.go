package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/cluster"
	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/raftgroup"
	"github.com/salvo-sh/salvo/scaling"
	"github.com/salvo-sh/salvo/schedule"
	"github.com/salvo-sh/salvo/store"
)

// RaftDir is the directory of the data dir that holds a master's Raft log
// and snapshots.
const RaftDir = "raft"

// haPart is an HA master's place in its Raft group (docs/ha.md): the
// group, and the loop that bootstraps it, runs the master while this
// member leads and stops it when it no longer does.
type haPart struct {
	s       *Server
	p       *part
	group   *raftgroup.Group
	stop    chan struct{}
	done    chan struct{}
	started bool // start was called (by the part's starter, before any stop)

	mu      sync.Mutex
	engine  *actors.Engine // while leading
	watch   *watcher
	prune   *pruner         // while leading, with --retention
	scale   *scaling.Scaler // while leading, with scaling policies
	led     bool            // led once in this part: the config's definitions are stored
	removed map[string]bool // voters the operator removed: not added back
	// sched runs the schedules while leading (schedules.go).
	sched *schedule.Scheduler
}

// haTick is how often the loop looks at the group besides its leadership
// changes: bootstrap, voters to add, a leadership change missed.
const haTick = time.Second

// startRaft starts the member of the Raft group and the loop around it.
func (s *Server) startRaft(p *part) (*haPart, error) {
	cfg := s.cfg
	rc := raftgroup.DefaultConfig()
	rc.Name, rc.BindAddr, rc.Dir, rc.FSMPersists = cfg.Name, cfg.RaftAddress(), filepath.Join(cfg.DataDir, RaftDir), true
	rc.Logger = s.logger
	rc.SnapshotThreshold, rc.TrailingLogs = uint64(cfg.RaftSnapshotThreshold), uint64(cfg.RaftTrailingLogs)
	if adv := cfg.RaftAdvertise(); adv != rc.BindAddr {
		rc.Advertise = adv
	}
	if cfg.TLSCert != "" {
		var err error
		if rc.ServerTLS, rc.ClientTLS, err = remoteTLS(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.AdvertiseRaft == "" && rc.Advertise != "" && strings.HasPrefix(rc.Advertise, "127.") {
		s.logger.Warn("the raft address binds every interface and is advertised on loopback: give --advertise-raft an address the other masters can dial",
			"raftAddr", rc.BindAddr, "advertised", rc.Advertise)
	}
	if err := s.checkRaftState(rc.Dir); err != nil {
		return nil, err
	}
	g, err := raftgroup.Start(rc, s.rs.FSM())
	if err != nil {
		return nil, err
	}
	s.rs.SetApplier(g)
	return &haPart{s: s, p: p, group: g, stop: make(chan struct{}), done: make(chan struct{}), removed: map[string]bool{}}, nil
}

// checkRaftState refuses a store that applied another group's log: with no
// Raft state in dir, the entries of the new group's log would be skipped
// up to the store's applied index. A store with jobs but no applied index
// (a master before HA) is accepted, with a warning, when they are all
// finished: they stay on it; unfinished ones would be resumed by the group
// that never stored them.
func (s *Server) checkRaftState(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err == nil {
		return nil
	}
	if n := s.rs.AppliedIndex(); n > 0 {
		return fmt.Errorf("the store in %s applied a Raft log up to index %d, but %s holds no Raft state: start a new group from empty data dirs, or keep each master's data dir whole (docs/ha.md)",
			s.cfg.DataDir, n, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if jobs, err := s.local.Unfinished(ctx); err == nil && len(jobs) > 0 {
		return fmt.Errorf("the store in %s holds %d unfinished jobs from before its Raft group, which only this master knows: finish them without --bootstrap-expect, or start the group from an empty data dir (docs/ha.md)",
			s.cfg.DataDir, len(jobs))
	}
	if jobs, _, err := s.local.ListJobs(ctx, store.JobQuery{Limit: 1}); err == nil && len(jobs) > 0 {
		s.logger.Warn("this master's store holds jobs from before its Raft group: they stay in its store only",
			"dataDir", s.cfg.DataDir)
	}
	return nil
}

// start starts the loop, once the node has joined the cluster; stopHA
// ends it.
func (h *haPart) start() {
	h.started = true
	go h.run()
}

func (h *haPart) run() {
	defer close(h.done)
	t := time.NewTicker(haTick)
	defer t.Stop()
	h.step()
	for {
		select {
		case <-h.stop:
			return
		case <-h.group.LeaderCh():
		case <-t.C:
		}
		h.step()
	}
}

// step brings the node in line with the group: bootstrap it when enough
// masters are seen, run the master while leading, stop it otherwise.
func (h *haPart) step() {
	if !h.group.Bootstrapped() {
		h.tryBootstrap()
		return
	}
	leads := h.group.IsLeader()
	h.mu.Lock()
	running := h.engine != nil
	h.mu.Unlock()
	switch {
	case leads && !running:
		h.lead()
	case !leads && running:
		h.unlead()
	case leads:
		h.addVoters()
	}
	h.mu.Lock()
	running = h.engine != nil
	h.mu.Unlock()
	if err := h.p.cn.setLeader(running && h.group.IsLeader(), h.group.Term()); err != nil {
		h.s.logger.Warn("cannot publish the raft leadership in the node's metadata", "err", err)
	}
}

// masters lists the alive master-capable members that run Raft.
func (h *haPart) masters() []cluster.Member {
	var out []cluster.Member
	for _, m := range h.p.cn.cl.Members() {
		if m.State == cluster.StateAlive && m.Meta.HasRole(cluster.RoleMaster) && m.Meta.RaftAddr != "" {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// tryBootstrap forms the group once --bootstrap-expect masters are seen,
// as Consul and Nomad do, unless one of them already leads a group (this
// member is then a newcomer, which the leader adds).
func (h *haPart) tryBootstrap() {
	ms := h.masters()
	var peers []raftgroup.Peer
	for _, m := range ms {
		if m.Meta.Leader || m.Meta.Term > 0 {
			return
		}
		peers = append(peers, raftgroup.Peer{Name: m.Name(), Addr: m.Meta.RaftAddr})
	}
	if len(peers) < h.s.cfg.BootstrapExpect {
		return
	}
	// More masters than expected: the first ones by name form the group,
	// the same on every master that sees them all; the others wait to be
	// added by its leader.
	peers = peers[:h.s.cfg.BootstrapExpect]
	if !slices.ContainsFunc(peers, func(p raftgroup.Peer) bool { return p.Name == h.s.cfg.Name }) {
		return
	}
	h.s.logger.Info("bootstrapping the raft group", "members", len(peers), "expect", h.s.cfg.BootstrapExpect)
	if err := h.group.Bootstrap(peers); err != nil {
		h.s.logger.Warn("raft bootstrap failed", "err", err)
	}
}

// addVoters adds the masters that run Raft outside the group (a new or
// replaced master), unless the operator removed them, and gives a member
// that came back with another Raft address (a pod with a new IP) its new
// one: AddVoter with the member's ID updates its address (docs/ha.md).
// Only alive members count, and the next pass sees the address equal.
func (h *haPart) addVoters() {
	servers, err := h.group.Servers()
	if err != nil {
		return
	}
	for _, m := range h.masters() {
		if h.isRemoved(m.Name()) {
			continue
		}
		i := slices.IndexFunc(servers, func(p raftgroup.Peer) bool { return p.Name == m.Name() })
		peer := raftgroup.Peer{Name: m.Name(), Addr: m.Meta.RaftAddr}
		switch {
		case i < 0:
			h.s.logger.Info("adding a master to the raft group", "name", m.Name(), "raftAddr", m.Meta.RaftAddr)
		case servers[i].Addr != m.Meta.RaftAddr:
			h.s.logger.Info("a master of the raft group has another raft address: updating it", "name", m.Name(),
				"oldRaftAddr", servers[i].Addr, "raftAddr", m.Meta.RaftAddr)
		default:
			continue
		}
		// Asked again just before the change: an operator's remove may
		// have come in since Servers was read.
		if h.isRemoved(m.Name()) {
			continue
		}
		if err := h.group.AddVoter(peer); err != nil {
			h.s.logger.Warn("cannot add or update a master in the raft group", "name", m.Name(), "err", err)
		}
	}
}

// isRemoved says whether the operator removed the member name.
func (h *haPart) isRemoved(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.removed[name]
}

// lead starts the master on the new leader: once the log is applied here
// it stores the config's definitions (the first time), makes its node
// token, and resumes every unfinished job from the store, as a restarted
// master does.
func (h *haPart) lead() {
	s := h.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.group.Barrier(ctx); err != nil {
		s.logger.Warn("raft leader: the log is not applied yet; trying again", "err", err)
		return
	}
	term := h.group.Term()
	s.logger.Info("raft leader: starting the master", "term", term)
	if !h.led {
		if err := loadDefinitions(ctx, s.cfg, s.st, s.logger); err != nil {
			s.logger.Warn("raft leader: cannot store the config's definitions", "err", err)
		}
		h.led = true
	}
	if s.cfg.AuthEnabled() {
		if err := s.bootstrapTokens(ctx, s.rs); err != nil {
			s.logger.Warn("raft leader: cannot prepare the tokens", "err", err)
		}
	}
	if names, err := s.creds.ListCredentials(ctx); err == nil && len(names) > 0 {
		if _, err := s.creds.GetCredential(ctx, names[0]); err != nil {
			s.logger.Error("raft leader: the stored SSH credentials cannot be unsealed here: every master of the group needs the same DATA_DIR/"+SecretKeyFile+" (docs/ha.md)",
				"credential", names[0], "err", err)
		}
	}
	// Workers learn the leader from its metadata: published first, so
	// that it has spread by the time the master's job starts reach them.
	if err := h.p.cn.setLeader(true, term); err != nil {
		s.logger.Warn("cannot publish the raft leadership in the node's metadata", "err", err)
	}
	e, err := s.newEngine(ctx, h.p.cn, true, term)
	if err != nil {
		s.logger.Error("raft leader: cannot start the master", "err", err)
		_ = h.p.cn.setLeader(false, term)
		return
	}
	var w *watcher
	if s.cfg.ClusterWatch > 0 {
		w = startWatcher(e, s.apiURL(s.apiAddr()), s.nodeToken, s.client(5*time.Second), s.apiURL, s.cfg.ClusterWatch, s.logger)
	}
	h.mu.Lock()
	h.engine, h.watch, h.prune = e, w, s.startPruner()
	h.sched = s.startScheduler(e)
	h.scale = s.startScaler(e)
	h.mu.Unlock()
	h.p.cn.engine.set(e)
	if s.current() == h.p {
		s.engines.set(e)
	}
	// The workers already seen: the engine registers them (they also
	// register themselves once they see this master lead).
	for _, m := range h.p.cn.cl.Members() {
		if m.State == cluster.StateAlive {
			h.p.cn.handle(cluster.Event{Type: cluster.Joined, Member: m})
		}
	}
}

// unlead stops the master of a member that no longer leads: its writes
// already fail (store.ErrNotLeader), and its workers go to the new leader.
func (h *haPart) unlead() {
	h.mu.Lock()
	e, w, pr, sc := h.engine, h.watch, h.prune, h.sched
	h.engine, h.watch, h.prune, h.sched = nil, nil, nil, nil
	scale := h.scale
	h.scale = nil
	h.mu.Unlock()
	pr.stop()
	sc.Stop()
	scale.Stop() // before the engine: a drained worker is enabled again
	if e == nil {
		return
	}
	h.s.logger.Info("no longer the raft leader: stopping the master")
	if h.s.current() == h.p {
		h.s.engines.set(nil)
	}
	h.p.cn.engine.set(nil)
	if w != nil {
		w.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		h.s.logger.Warn("the deposed master stopped with errors", "err", err)
	}
}

// stopHA ends the loop, stops the master, hands the leadership to
// another member when it leads, and leaves the group's state on disk.
func (h *haPart) stopHA() error {
	close(h.stop)
	if h.started {
		<-h.done
	}
	leads := h.group.IsLeader()
	h.unlead()
	if leads {
		if err := h.group.TransferLeadership(raftgroup.Peer{}); err != nil {
			h.s.logger.Info("no leadership transfer before the stop", "err", err)
		}
	}
	_ = h.p.cn.setLeader(false, 0)
	h.s.rs.SetApplier(nil)
	if err := h.group.Shutdown(); err != nil {
		return fmt.Errorf("raft shutdown: %w", err)
	}
	return nil
}

// follower says whether the node follows its group's leader, and the
// leader's API address (httpapi.Config.Follower).
func (s *Server) follower() (string, bool) {
	p := s.current()
	if p == nil || p.ha == nil {
		return "", false
	}
	h := p.ha
	h.mu.Lock()
	running := h.engine != nil
	h.mu.Unlock()
	if running && h.group.IsLeader() {
		return "", false
	}
	leader := h.group.Leader()
	if leader.Name == "" || leader.Name == s.cfg.Name {
		return "", true // no leader, or this one before its master runs
	}
	for _, m := range p.cn.cl.Members() {
		if m.Name() == leader.Name && m.State == cluster.StateAlive {
			return m.Meta.APIAddr, true
		}
	}
	return "", true
}

// raftOps serves the operator's Raft calls (httpapi.Raft).
type raftOps struct{ s *Server }

var _ httpapi.Raft = raftOps{}

// errNoPart answers the Raft calls while the cluster part is stopped.
var errNoPart = &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "this node's cluster part is shut down (shutdownNode): createNode starts it again"}

func (o raftOps) ha() (*haPart, error) {
	p := o.s.current()
	if p == nil || p.ha == nil {
		return nil, errNoPart
	}
	return p.ha, nil
}

// RaftMember is one member in the group's status.
type RaftMember struct {
	raftgroup.Status
	Voter bool   `json:"voter"`
	Alive bool   `json:"alive"`
	API   string `json:"api,omitempty"`
	Error string `json:"error,omitempty"`
}

// RaftStatus is GET /api/v1/cluster/raft's answer.
type RaftStatus struct {
	Leader  string       `json:"leader"`
	Term    uint64       `json:"term"`
	Voters  []string     `json:"voters"`
	Members []RaftMember `json:"members"`
	// Quorum is how many voters must agree; FailureTolerance how many may
	// be lost with the group still working.
	Quorum           int `json:"quorum"`
	FailureTolerance int `json:"failureTolerance"`
}

// Status implements httpapi.Raft: this member's state, and the others'
// as their own APIs report it (scope=local).
func (o raftOps) Status(ctx context.Context, local bool, authorization string) (any, error) {
	h, err := o.ha()
	if err != nil {
		return nil, err
	}
	self, err := h.group.Status()
	if err != nil {
		return nil, err
	}
	if local {
		return self, nil
	}
	out := RaftStatus{Leader: self.Leader, Term: self.Term}
	for _, v := range self.Voters {
		out.Voters = append(out.Voters, v.Name)
	}
	out.Quorum = len(self.Voters)/2 + 1
	out.FailureTolerance = len(self.Voters) - out.Quorum
	alive := map[string]cluster.Member{}
	for _, m := range h.p.cn.cl.Members() {
		if m.Meta.HasRole(cluster.RoleMaster) && m.Meta.RaftAddr != "" {
			alive[m.Name()] = m
		}
	}
	names := map[string]bool{}
	for _, v := range self.Voters {
		names[v.Name] = true
	}
	for n := range alive {
		names[n] = true
	}
	members := make([]RaftMember, len(names))
	var wg sync.WaitGroup
	i := 0
	for _, name := range slices.Sorted(maps.Keys(names)) {
		rm := &members[i]
		i++
		m, seen := alive[name]
		rm.Name, rm.Voter = name, slices.ContainsFunc(self.Voters, func(p raftgroup.Peer) bool { return p.Name == name })
		rm.Alive = seen && m.State == cluster.StateAlive
		rm.API = m.Meta.APIAddr
		if name == o.s.cfg.Name {
			rm.Status, rm.Alive = self, true
			continue
		}
		if !rm.Alive || rm.API == "" {
			rm.State, rm.Error = "unreachable", "not an alive member"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := o.fetch(ctx, rm.API, authorization)
			if err != nil {
				rm.State, rm.Error = "unreachable", err.Error()
				return
			}
			name := rm.Name
			rm.Status = st
			rm.Name = name
		}()
	}
	wg.Wait()
	out.Members = members
	return out, nil
}

// fetch reads another member's own status.
func (o raftOps) fetch(ctx context.Context, api, authorization string) (raftgroup.Status, error) {
	var st raftgroup.Status
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.s.apiURL(api)+"/api/v1/cluster/raft?scope=local", nil)
	if err != nil {
		return st, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	} else if o.s.nodeToken != "" {
		req.Header.Set("Authorization", "Bearer "+o.s.nodeToken)
	}
	resp, err := o.s.client(3 * time.Second).Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return st, json.Unmarshal(body, &st)
}

// peer finds a member of the group by name.
func (h *haPart) peer(name string) (raftgroup.Peer, bool) {
	servers, err := h.group.Servers()
	if err != nil {
		return raftgroup.Peer{}, false
	}
	for _, p := range servers {
		if p.Name == name {
			return p, true
		}
	}
	return raftgroup.Peer{}, false
}

// Transfer implements httpapi.Raft.
func (o raftOps) Transfer(ctx context.Context, to string) (any, error) {
	h, err := o.ha()
	if err != nil {
		return nil, err
	}
	if !h.group.IsLeader() {
		return nil, &httpapi.Error{Status: http.StatusConflict, Msg: "this master does not lead the raft group now: call the leader " + h.group.Leader().Name}
	}
	p, ok := h.peer(to)
	if !ok {
		return nil, &httpapi.Error{Status: http.StatusBadRequest, Field: "to", Msg: fmt.Sprintf("to: %q is not a member of the raft group", to)}
	}
	if to == o.s.cfg.Name {
		return map[string]string{"leader": to, "message": "already the leader"}, nil
	}
	if err := h.group.TransferLeadership(p); err != nil {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "leadership transfer: " + err.Error()}
	}
	o.s.logger.Info("raft leadership transferred", "to", to)
	return map[string]string{"leader": to, "message": "leadership transferred to " + to}, nil
}

// Snapshot implements httpapi.Raft.
func (o raftOps) Snapshot(ctx context.Context) (any, error) {
	h, err := o.ha()
	if err != nil {
		return nil, err
	}
	if err := h.group.Snapshot(); err != nil {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "snapshot: " + err.Error()}
	}
	st, err := h.group.Status()
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": o.s.cfg.Name, "appliedIndex": st.AppliedIndex, "message": "snapshot taken; the log is compacted behind it"}, nil
}

// Remove implements httpapi.Raft.
func (o raftOps) Remove(ctx context.Context, name string) (any, error) {
	h, err := o.ha()
	if err != nil {
		return nil, err
	}
	if !h.group.IsLeader() {
		return nil, &httpapi.Error{Status: http.StatusConflict, Msg: "this master does not lead the raft group now: call the leader " + h.group.Leader().Name}
	}
	if _, ok := h.peer(name); !ok {
		return nil, &httpapi.Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("%q is not a member of the raft group", name)}
	}
	h.mu.Lock()
	h.removed[name] = true
	h.mu.Unlock()
	if err := h.group.RemoveServer(name); err != nil {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "remove from the raft group: " + err.Error()}
	}
	o.s.logger.Info("removed a member from the raft group", "name", name)
	return map[string]string{"removed": name}, nil
}

// errNotHA is createNode's answer on an HA master asked to move the
// leadership somewhere unknown.
var errNotHA = errors.New("not an HA master")

// transferTo serves createNode with a masterURL on an HA master: REST
// Commander's "assign a new master" is a leadership transfer to the
// member whose API masterURL names.
func (s *Server) transferTo(ctx context.Context, masterAPI string) (string, error) {
	p := s.current()
	if p == nil || p.ha == nil {
		return "", errNotHA
	}
	for _, m := range p.cn.cl.Members() {
		if m.Meta.APIAddr != masterAPI || !m.Meta.HasRole(conf.RoleMaster) {
			continue
		}
		if p.ha.group.IsLeader() {
			if _, err := (raftOps{s}).Transfer(ctx, m.Name()); err != nil {
				return "", err
			}
			return "leadership transferred to " + m.Name(), nil
		}
		leader, _ := s.follower()
		if leader == "" {
			return "", &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "the raft group has no leader now: try again in a few seconds"}
		}
		if err := s.callNode(ctx, http.MethodPost, leader, "/api/v1/cluster/raft/transfer?to="+url.QueryEscape(m.Name())); err != nil {
			return "", &httpapi.Error{Status: http.StatusBadGateway, Msg: "ask the leader to transfer the leadership: " + err.Error()}
		}
		return "leadership transferred to " + m.Name(), nil
	}
	return "", &httpapi.Error{Status: http.StatusBadRequest, Field: "masterUrl", Msg: "masterUrl: no master of the raft group serves " + masterAPI}
}

// callNode calls another node's API with the node's credential and
// reads the answer, failing on a status other than 200.
func (s *Server) callNode(ctx context.Context, method, api, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.apiURL(api)+path, nil)
	if err != nil {
		return err
	}
	authorize(req, s.credential(ctx))
	resp, err := s.client(30 * time.Second).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// strayOf names the leader of a Raft group that a master outside any
// group sees in its cluster ("" when it sees none): two masters would
// otherwise lease the same workers (engineSwitch.stray).
func (s *Server) strayOf() string {
	p := s.current()
	if p == nil || p.cn == nil || p.cn.cl == nil {
		return ""
	}
	for _, m := range p.cn.cl.Members() {
		if m.Name() != s.cfg.Name && m.State == cluster.StateAlive && m.Meta.Leader && m.Meta.RaftAddr != "" {
			return m.Name()
		}
	}
	return ""
}
