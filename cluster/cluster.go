// Package cluster is salvo's node membership: hashicorp/memberlist set up
// from the node's flags, node metadata (roles, addresses, capacity, tags),
// join with retries, graceful leave, gossip encryption, and membership
// events delivered to the caller (the master actor).
//
// memberlist's failure detector is the source of truth for liveness; this
// package only translates what memberlist reports and remembers dead and
// departed members so that they can be listed.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Errors returned by this package.
var (
	// ErrShutdown is returned by calls made after Shutdown.
	ErrShutdown = errors.New("cluster: node is shut down")
	// ErrMetaTooLarge is returned when NodeMeta does not fit in
	// memberlist.MetaMaxSize bytes.
	ErrMetaTooLarge = errors.New("node metadata too large")
	// ErrKeyMismatch is returned by Join when the other side could not
	// decrypt our gossip or we could not decrypt its answer: the nodes use
	// different gossip keys, or only one side has a key.
	ErrKeyMismatch = errors.New(keyHint)
)

// Cluster is this node's membership in a salvo cluster. Its methods are
// safe for concurrent use.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	ml     *memberlist.Memberlist
	del    *delegate
	in     *inbox
	events chan<- Event

	metaMu sync.Mutex // serialises UpdateMeta

	mu      sync.Mutex
	meta    NodeMeta                // the local node's metadata
	members map[string]*memberState // written by the event loop
	intents map[string]time.Time    // leave notices for members not known yet

	leaving atomic.Bool // Leave was called

	lifeMu     sync.Mutex // serialises Leave and Shutdown
	shut       bool
	shutdownCh chan struct{}
	wg         sync.WaitGroup // goroutines started by goFunc
}

// memberState is the event loop's record of one member.
type memberState struct {
	Member
	changed time.Time // last state change
	leaving bool      // the member announced a graceful leave
}

// Start creates this node's memberlist, starts its event loop and, when
// cfg.Join is not empty, joins the cluster (see Join); if that fails, the
// node is shut down and the error returned.
//
// Membership events, this node's own Joined (at start) and Left (after
// Leave) included, are sent to events, which may be nil. A slow reader
// never blocks memberlist: memberlist's callbacks only append to an
// unbounded queue (rather than a ChannelEventDelegate, whose full channel
// would stall memberlist's goroutines), and only the event loop waits for
// the reader. Events still queued at Shutdown are dropped; the channel is
// not closed.
func Start(cfg Config, events chan<- Event) (*Cluster, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mc, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	meta, err := cfg.Meta.Encode()
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	c := &Cluster{
		cfg:        cfg,
		log:        cfg.Logger.With(slog.String("node", cfg.Name)),
		in:         newInbox(),
		events:     events,
		meta:       cfg.Meta.clone(),
		members:    make(map[string]*memberState),
		intents:    make(map[string]time.Time),
		shutdownCh: make(chan struct{}),
	}
	c.del = &delegate{in: c.in, meta: meta}
	mc.Delegate = c.del
	mc.Events = c.del

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.BindAddr, err)
	}
	c.ml = ml
	c.goFunc(c.run)
	c.log.Info("gossip started", slog.String("addr", ml.LocalNode().Address()),
		slog.Bool("encrypted", mc.EncryptionEnabled()))

	if len(cfg.Join) > 0 {
		ctx, cancel := context.WithTimeoutCause(context.Background(), cfg.JoinTimeout,
			fmt.Errorf("join timeout (%s) reached", cfg.JoinTimeout))
		defer cancel()
		if _, err := c.Join(ctx, cfg.Join); err != nil {
			_ = c.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// goFunc runs f in a goroutine that Shutdown waits for.
func (c *Cluster) goFunc(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Join contacts the given gossip addresses ("host:port") and merges their
// view of the cluster. It retries with backoff until at least one answers
// or ctx ends, and returns the number of addresses that answered. A gossip
// key mismatch fails at once with an error wrapping ErrKeyMismatch.
func (c *Cluster) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("join: no address given")
	}
	list := strings.Join(addrs, ",")
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if c.isShutdown() {
			return 0, ErrShutdown
		}
		n, err := c.ml.Join(addrs)
		if n > 0 {
			c.log.Info("joined cluster", slog.String("via", list), slog.Int("answered", n))
			return n, nil
		}
		reason := "no address answered"
		if err != nil {
			reason = flatten(err)
		}
		if isKeyProblem(reason) {
			err := fmt.Errorf("join %s: %w: %s", list, ErrKeyMismatch, reason)
			c.log.Error("cannot join cluster", slog.String("via", list), slog.String("err", err.Error()))
			return 0, err
		}
		c.log.Debug("join attempt failed", slog.Int("attempt", attempt), slog.String("err", reason))

		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			err := fmt.Errorf("join %s: no member answered after %d attempts (%v): %s",
				list, attempt, context.Cause(ctx), reason)
			c.log.Error("cannot join cluster", slog.String("via", list), slog.String("err", err.Error()))
			return 0, err
		case <-c.shutdownCh:
			t.Stop()
			return 0, ErrShutdown
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// flatten renders memberlist's multi-line multierror on one line.
func flatten(err error) string {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		parts := make([]string, 0, len(multi.WrappedErrors()))
		for _, e := range multi.WrappedErrors() {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// UpdateMeta replaces this node's metadata and gossips it, waiting at most
// Config.BroadcastTimeout for the broadcast to go out. The name cannot
// change (an empty name keeps the current one).
func (c *Cluster) UpdateMeta(meta NodeMeta) error {
	if meta.Name == "" {
		meta.Name = c.cfg.Name
	}
	if meta.Name != c.cfg.Name {
		return fmt.Errorf("update meta: name %q differs from node name %q", meta.Name, c.cfg.Name)
	}
	b, err := meta.Encode()
	if err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	if c.isShutdown() {
		return ErrShutdown
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.mu.Lock()
	c.meta = meta.clone()
	c.mu.Unlock()
	c.del.setMeta(b)
	if err := c.ml.UpdateNode(c.cfg.BroadcastTimeout); err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	return nil
}

// Leave leaves the cluster gracefully: it tells every alive member that
// this node is leaving and waits for their acknowledgements (at most half
// of timeout), then broadcasts memberlist's leave, waiting at most
// timeout in all (zero means Config.BroadcastTimeout). Other members report
// this node Left rather than Failed. The node keeps gossiping until
// Shutdown. Calling Leave again does nothing.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.shut {
		return ErrShutdown
	}
	if !c.leaving.CompareAndSwap(false, true) {
		return nil
	}
	if timeout <= 0 {
		timeout = c.cfg.BroadcastTimeout
	}
	start := time.Now()
	c.sendLeaveIntent(start.Add(timeout / 2))
	if err := c.ml.Leave(max(timeout-time.Since(start), time.Millisecond)); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	c.log.Info("left cluster")
	return nil
}

// sendLeaveIntent tells every other alive member that this node is about
// to leave and waits until each has acknowledged (it has then recorded the
// notice, so memberlist's leave that follows is reported as Left) or until
// deadline.
func (c *Cluster) sendLeaveIntent(deadline time.Time) {
	var peers []*memberlist.Node
	for _, n := range c.ml.Members() {
		if n.Name != c.cfg.Name {
			peers = append(peers, n)
		}
	}
	if len(peers) == 0 {
		return
	}
	acks := make(chan string, len(peers))
	c.del.acks.Store(&acks)
	defer c.del.acks.Store(nil)

	msg := append([]byte{msgLeaveIntent}, c.cfg.Name+"\x00"+c.ml.LocalNode().Address()...)
	for _, p := range peers {
		c.goFunc(func() {
			if err := c.ml.SendReliable(p, msg); err != nil {
				c.log.Warn("leave notice not delivered", slog.String("member", p.Name), slog.String("err", err.Error()))
			}
		})
	}

	waiting := make(map[string]bool, len(peers))
	for _, p := range peers {
		waiting[p.Name] = true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for len(waiting) > 0 {
		select {
		case name := <-acks:
			delete(waiting, name)
		case <-t.C:
			c.log.Warn("leave notice not acknowledged; these members may report this node failed",
				slog.Any("members", slices.Sorted(maps.Keys(waiting))))
			return
		}
	}
}

// Shutdown stops gossip without leaving (others will see this node fail
// unless Leave was called first), stops the event loop and waits for this
// package's goroutines. It is idempotent.
func (c *Cluster) Shutdown() error {
	c.lifeMu.Lock()
	if c.shut {
		c.lifeMu.Unlock()
		return nil
	}
	c.shut = true
	c.lifeMu.Unlock()

	err := c.ml.Shutdown()
	close(c.shutdownCh)
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown gossip: %w", err)
	}
	c.log.Info("gossip stopped")
	return nil
}

func (c *Cluster) isShutdown() bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	return c.shut
}

// LocalMember returns this node as a member.
func (c *Cluster) LocalMember() Member {
	addr := c.ml.LocalNode().Address()
	state := StateAlive
	if c.leaving.Load() {
		state = StateLeft
	}
	c.mu.Lock()
	meta := c.meta.clone()
	c.mu.Unlock()
	return Member{Meta: meta, Addr: addr, State: state}
}

// NumMembers returns the number of alive members, this node included.
func (c *Cluster) NumMembers() int {
	return c.ml.NumMembers()
}

// Members returns every member sorted by name: the alive ones as memberlist
// knows them now, and the dead or departed ones remembered for
// Config.DeadMemberRetention (or until they come back).
func (c *Cluster) Members() []Member {
	live := c.ml.Members()
	out := make([]Member, 0, len(live)+1)
	seen := make(map[string]bool, len(live)+1)
	local := c.LocalMember()
	out = append(out, local)
	seen[local.Meta.Name] = true
	for _, n := range live {
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		m, _ := memberFromNode(n, StateAlive)
		out = append(out, m)
	}

	c.mu.Lock()
	c.pruneLocked(time.Now())
	for name, st := range c.members {
		if !seen[name] {
			out = append(out, st.Member.clone())
		}
	}
	c.mu.Unlock()

	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Meta.Name, b.Meta.Name) })
	return out
}

// memberFromNode builds a Member from memberlist's node. When the node's
// metadata cannot be decoded, only the name is set and the error returned.
func memberFromNode(n *memberlist.Node, state string) (Member, error) {
	meta, err := DecodeNodeMeta(n.Meta)
	if err != nil {
		meta = NodeMeta{}
	}
	meta.Name = n.Name
	return Member{Meta: meta, Addr: n.Address(), State: state}, err
}

// clone returns a copy of m that shares no slices.
func (m Member) clone() Member {
	m.Meta = m.Meta.clone()
	return m
}
