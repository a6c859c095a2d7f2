package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testNode struct {
	*Cluster
	name   string
	events chan Event
	logs   *syncBuffer
}

// testConfig returns a config for a node on 127.0.0.1 with an OS-chosen
// port and timings that detect a failure in about a second.
func testConfig(name string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Meta = NodeMeta{
		Name:       name,
		Roles:      []string{RoleWorker},
		RemoteAddr: "127.0.0.1:1" + name,
		APIAddr:    "127.0.0.1:2" + name,
		Capacity:   100,
		Tags:       []string{"dc1", "node-" + name},
		Version:    1,
	}
	cfg.JoinTimeout = 3 * time.Second
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.ProbeTimeout = 100 * time.Millisecond
	cfg.SuspicionMult = 3
	cfg.GossipInterval = 50 * time.Millisecond
	cfg.PushPullInterval = 2 * time.Second
	cfg.TCPTimeout = 2 * time.Second
	cfg.BroadcastTimeout = 3 * time.Second
	return cfg
}

// startNode starts a node; mod may change its config. The node is shut
// down at the end of the test, and its logs are printed if the test failed.
func startNode(t *testing.T, name string, mod func(*Config)) (*testNode, error) {
	t.Helper()
	cfg := testConfig(name)
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if mod != nil {
		mod(&cfg)
	}
	events := make(chan Event, 256)
	c, err := Start(cfg, events)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, logs.String())
		}
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", name, err)
		}
	})
	return &testNode{Cluster: c, name: name, events: events, logs: logs}, nil
}

func mustStart(t *testing.T, name string, mod func(*Config)) *testNode {
	t.Helper()
	n, err := startNode(t, name, mod)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return n
}

func joining(addrs ...string) func(*Config) {
	return func(c *Config) { c.Join = addrs }
}

func (n *testNode) addr() string { return n.LocalMember().Addr }

// waitEvent reads n's events until one for member has a type in types,
// and returns it. Other events are discarded.
func (n *testNode) waitEvent(t *testing.T, member string, timeout time.Duration, types ...EventType) Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-n.events:
			if ev.Member.Meta.Name == member && slices.Contains(types, ev.Type) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("%s: no %v event for %s within %s", n.name, types, member, timeout)
			return Event{}
		}
	}
}

// waitJoined waits until n has seen every name join, in any order. Other
// events are discarded.
func (n *testNode) waitJoined(t *testing.T, names ...string) {
	t.Helper()
	missing := make(map[string]bool, len(names))
	for _, name := range names {
		missing[name] = true
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for len(missing) > 0 {
		select {
		case ev := <-n.events:
			if ev.Type == Joined {
				delete(missing, ev.Member.Meta.Name)
			}
		case <-timer.C:
			t.Fatalf("%s: no joined event for %v within 5s", n.name, slices.Sorted(maps.Keys(missing)))
		}
	}
}

func memberByName(ms []Member, name string) (Member, bool) {
	for _, m := range ms {
		if m.Meta.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// startThree starts a, b joining a, and c joining b, and waits until every
// node has seen the other two.
func startThree(t *testing.T) (a, b, c *testNode) {
	t.Helper()
	a = mustStart(t, "a", func(cfg *Config) { cfg.Meta.Roles = []string{RoleMaster, RoleWorker} })
	b = mustStart(t, "b", joining(a.addr()))
	c = mustStart(t, "c", joining(b.addr()))
	for _, n := range []*testNode{a, b, c} {
		var others []string
		for _, o := range []string{"a", "b", "c"} {
			if o != n.name {
				others = append(others, o)
			}
		}
		n.waitJoined(t, others...)
	}
	return a, b, c
}

func TestThreeNodesJoin(t *testing.T) {
	a, b, c := startThree(t)
	want := map[string]NodeMeta{}
	for _, n := range []*testNode{a, b, c} {
		want[n.name] = n.LocalMember().Meta
	}
	if !want["a"].HasRole(RoleMaster) || want["b"].HasRole(RoleMaster) {
		t.Fatalf("local roles wrong: %+v", want)
	}
	for _, n := range []*testNode{a, b, c} {
		if got := n.NumMembers(); got != 3 {
			t.Errorf("%s: NumMembers = %d, want 3", n.name, got)
		}
		ms := n.Members()
		if len(ms) != 3 {
			t.Fatalf("%s: %d members, want 3: %+v", n.name, len(ms), ms)
		}
		for i, m := range ms {
			name := []string{"a", "b", "c"}[i]
			if m.Meta.Name != name || m.State != StateAlive {
				t.Errorf("%s: member %d = %s %s, want %s alive", n.name, i, m.Meta.Name, m.State, name)
			}
			if !reflect.DeepEqual(m.Meta, want[name]) {
				t.Errorf("%s sees %s meta %+v, want %+v", n.name, name, m.Meta, want[name])
			}
			host, _, err := net.SplitHostPort(m.Addr)
			if err != nil || host != "127.0.0.1" {
				t.Errorf("%s sees %s at %q, want 127.0.0.1:port", n.name, name, m.Addr)
			}
		}
	}
}

func TestGracefulLeave(t *testing.T) {
	a, b, c := startThree(t)
	if err := c.Leave(3 * time.Second); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if got := c.LocalMember().State; got != StateLeft {
		t.Errorf("c's own state after Leave = %s, want left", got)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := c.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Leave after Shutdown: %v, want ErrShutdown", err)
	}
	for _, n := range []*testNode{a, b} {
		ev := n.waitEvent(t, "c", 5*time.Second, Left, Failed)
		if ev.Type != Left {
			t.Errorf("%s: c reported %v, want left", n.name, ev.Type)
		}
		m, ok := memberByName(n.Members(), "c")
		if !ok || m.State != StateLeft {
			t.Errorf("%s: c in Members = %+v (found %v), want left", n.name, m, ok)
		}
		if got := n.NumMembers(); got != 2 {
			t.Errorf("%s: NumMembers = %d, want 2", n.name, got)
		}
	}
}

func TestCrashIsFailed(t *testing.T) {
	a, b, c := startThree(t)
	// Shutdown without Leave stops gossip at once, as a crash would.
	killed := time.Now()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		ev := n.waitEvent(t, "c", 3*time.Second, Failed, Left)
		if ev.Type != Failed {
			t.Fatalf("%s: crashed c reported %v, want failed", n.name, ev.Type)
		}
		if ev.Member.State != StateDead || ev.Member.Meta.Capacity != 100 {
			t.Errorf("%s: event member = %+v, want dead with its meta", n.name, ev.Member)
		}
		m, ok := memberByName(n.Members(), "c")
		if !ok || m.State != StateDead {
			t.Errorf("%s: c in Members = %+v (found %v), want dead", n.name, m, ok)
		}
		if got := n.NumMembers(); got != 2 {
			t.Errorf("%s: NumMembers = %d, want 2", n.name, got)
		}
	}
	t.Logf("failure detected by both survivors in %s", time.Since(killed).Round(time.Millisecond))
}

func TestUpdateMetaPropagates(t *testing.T) {
	a, b, c := startThree(t)
	meta := b.LocalMember().Meta
	meta.Capacity = 42
	meta.Tags = []string{"dc2"}
	meta.Name = ""
	if err := b.UpdateMeta(meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	meta.Name = "b"
	if got := b.LocalMember().Meta; !reflect.DeepEqual(got, meta) {
		t.Errorf("b's local meta = %+v, want %+v", got, meta)
	}
	for _, n := range []*testNode{a, c} {
		ev := n.waitEvent(t, "b", 5*time.Second, Updated)
		if !reflect.DeepEqual(ev.Member.Meta, meta) {
			t.Errorf("%s: Updated event meta = %+v, want %+v", n.name, ev.Member.Meta, meta)
		}
		m, _ := memberByName(n.Members(), "b")
		if m.Meta.Capacity != 42 || !m.Meta.HasTag("dc2") || m.Meta.HasTag("dc1") {
			t.Errorf("%s: b in Members = %+v, want capacity 42 and tag dc2 only", n.name, m.Meta)
		}
	}

	big := meta
	for i := range 60 {
		big.Tags = append(big.Tags, fmt.Sprintf("some-long-tag-%d", i))
	}
	if err := b.UpdateMeta(big); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta with 61 tags: %v, want ErrMetaTooLarge", err)
	}
	if got := b.LocalMember().Meta; !reflect.DeepEqual(got, meta) {
		t.Errorf("a refused update changed the meta to %+v", got)
	}
	if err := b.UpdateMeta(NodeMeta{Name: "other"}); err == nil {
		t.Error("UpdateMeta renaming the node: no error")
	}
}

func writeKeyFile(t *testing.T, seed byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gossip.key")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, 32))
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGossipKeyMismatch(t *testing.T) {
	keyA := writeKeyFile(t, 1)
	withKey := func(path string, join ...string) func(*Config) {
		return func(c *Config) { c.KeyFile, c.Join = path, join }
	}
	a := mustStart(t, "a", withKey(keyA))
	b := mustStart(t, "b", withKey(keyA, a.addr()))
	a.waitJoined(t, "b")

	tests := []struct {
		name    string
		keyFile string
	}{
		{"other key", writeKeyFile(t, 2)},
		{"no key", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("x%d", i)
			start := time.Now()
			_, err := startNode(t, name, withKey(tt.keyFile, a.addr()))
			if err == nil {
				t.Fatal("node with a different key joined")
			}
			if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "gossip key mismatch") ||
				!strings.Contains(err.Error(), a.addr()) {
				t.Fatalf("join error = %v, want ErrKeyMismatch naming %s", err, a.addr())
			}
			t.Logf("joiner's error: %v", err)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("mismatch took %s to report: it should not be retried", d)
			}
			// The refusing side logs why, before it answers the joiner.
			if logs := a.logs.String(); !strings.Contains(logs, "hint=\"gossip key mismatch") {
				t.Errorf("a's log does not explain the refusal:\n%s", logs)
			}
			for _, n := range []*testNode{a, b} {
				if got := n.NumMembers(); got != 2 {
					t.Errorf("%s: NumMembers = %d after refused join, want 2", n.name, got)
				}
				if _, ok := memberByName(n.Members(), name); ok {
					t.Errorf("%s lists the refused node", n.name)
				}
			}
		})
	}
}

func TestJoinTimeoutNamesAddresses(t *testing.T) {
	// A port that was just free: nobody answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	start := time.Now()
	_, err = startNode(t, "lonely", func(c *Config) {
		c.Join = []string{dead}
		c.JoinTimeout = 700 * time.Millisecond
	})
	if err == nil {
		t.Fatal("join of an address nobody serves succeeded")
	}
	if !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), "no member answered") {
		t.Errorf("error = %v, want it to name %s", err, dead)
	}
	if errors.Is(err, ErrKeyMismatch) {
		t.Errorf("unreachable address reported as key mismatch: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("join gave up after %s, want about the 700ms join timeout", d)
	}
}

func TestJoinLater(t *testing.T) {
	a := mustStart(t, "a", nil)
	b := mustStart(t, "b", nil) // started alone, as before createNode
	if got := b.NumMembers(); got != 1 {
		t.Fatalf("lonely b: NumMembers = %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	n, err := b.Join(ctx, []string{a.addr()})
	if err != nil || n != 1 {
		t.Fatalf("Join = %d, %v", n, err)
	}
	a.waitJoined(t, "b")
	b.waitJoined(t, "a")
}

// TestSlowReaderDoesNotBlockGossip: a caller that never reads its events
// must not stall memberlist, so the node keeps tracking the cluster.
func TestSlowReaderDoesNotBlockGossip(t *testing.T) {
	cfg := testConfig("slow")
	cfg.Logger = slog.New(slog.DiscardHandler)
	never := make(chan Event) // unbuffered, never read
	slow, err := Start(cfg, never)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Shutdown()
	addr := slow.LocalMember().Addr

	var peers []*testNode
	for _, name := range []string{"p1", "p2", "p3"} {
		peers = append(peers, mustStart(t, name, joining(addr)))
	}
	for _, p := range peers {
		var others []string
		for _, q := range peers {
			if p != q {
				others = append(others, q.name)
			}
		}
		p.waitJoined(t, others...)
	}
	if got := slow.NumMembers(); got != 4 {
		t.Fatalf("slow reader's node sees %d members, want 4", got)
	}
	// Its peers' meta updates still reach it.
	m := peers[0].LocalMember().Meta
	m.Capacity = 7
	if err := peers[0].UpdateMeta(m); err != nil {
		t.Fatal(err)
	}
	peers[1].waitEvent(t, "p1", 5*time.Second, Updated)
	if err := peers[2].Leave(2 * time.Second); err != nil {
		t.Fatalf("leave with a slow reader in the cluster: %v", err)
	}
	peers[1].waitEvent(t, "p3", 5*time.Second, Left)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"meta name differs", func(c *Config) { c.Meta.Name = "other" }, "differs"},
		{"host name bind", func(c *Config) { c.BindAddr = "localhost:7946" }, "not an IP address"},
		{"no port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "gossip address"},
		{"bad key file", func(c *Config) { c.KeyFile = filepath.Join(t.TempDir(), "nope") }, "gossip key file"},
		{"negative timeout", func(c *Config) { c.ProbeTimeout = -1 }, "negative"},
		{"meta too large", func(c *Config) { c.Meta.Tags = slices.Repeat([]string{strings.Repeat("t", 40)}, 20) }, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := startNode(t, "cfg", tt.mod)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestLeaveRightAfterJoin: c leaves at once after joining through a, when b
// may not have heard of c yet. a reports c left; b either never hears of c
// (memberlist's leave broadcast replaced the join's) or reports it left,
// never failed.
func TestLeaveRightAfterJoin(t *testing.T) {
	a := mustStart(t, "a", nil)
	b := mustStart(t, "b", joining(a.addr()))
	c := mustStart(t, "c", joining(a.addr()))
	a.waitJoined(t, "b", "c")
	// c tells the members it knows that it leaves: it must know b (and b
	// it) first, or b can only see c fail. Under load b's gossip reaches c
	// after a's answer to the join.
	c.waitJoined(t, "b")
	b.waitJoined(t, "c")
	start := time.Now()
	if err := c.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Leave took %s: a notice was not acknowledged", d)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if ev := a.waitEvent(t, "c", 5*time.Second, Left, Failed); ev.Type != Left {
		t.Errorf("a: c reported %v, want left", ev.Type)
	}

	// Watch b for longer than failure detection takes (about 1 s here).
	var seen []EventType
	window := time.NewTimer(2500 * time.Millisecond)
	defer window.Stop()
watch:
	for {
		select {
		case ev := <-b.events:
			if ev.Member.Meta.Name == "c" {
				seen = append(seen, ev.Type)
			}
		case <-window.C:
			break watch
		}
	}
	// b may learn of c only through gossip, and c's leave notice may reach b
	// after memberlist's own leave: b then reports Failed and corrects it
	// with Left. Whatever the order, c must end as left.
	if len(seen) > 0 && seen[len(seen)-1] != Left {
		t.Errorf("b: events for c = %v, want them to end with left", seen)
	}
	if m, ok := memberByName(b.Members(), "c"); ok && m.State != StateLeft {
		t.Errorf("b lists c as %s", m.State)
	}
}
