package cluster

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func testNodeInfo(t *testing.T, name string, port uint16, meta NodeMeta) memberlist.Node {
	t.Helper()
	b, err := meta.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: port, Meta: b}
}

// TestApplyStateMachine drives the event loop's member table with the
// inputs memberlist and peers produce, without a network.
func TestApplyStateMachine(t *testing.T) {
	c := &Cluster{
		cfg:     Config{Name: "self", DeadMemberRetention: time.Hour},
		log:     slog.New(slog.DiscardHandler),
		members: make(map[string]*memberState),
		intents: make(map[string]time.Time),
	}
	metaB := NodeMeta{Name: "b", Roles: []string{RoleWorker}, Capacity: 10}
	metaB2 := NodeMeta{Name: "b", Roles: []string{RoleWorker}, Capacity: 20, Tags: []string{"dc2"}}
	b := testNodeInfo(t, "b", 7001, metaB)
	b2 := testNodeInfo(t, "b", 7001, metaB2)
	garbled := memberlist.Node{Name: "g", Addr: net.IPv4(127, 0, 0, 2), Port: 7002, Meta: []byte("\x00junk")}
	self := testNodeInfo(t, "self", 7000, NodeMeta{Name: "self"})
	early := testNodeInfo(t, "early", 7003, NodeMeta{Name: "early"})
	unseen := testNodeInfo(t, "unseen", 7004, NodeMeta{Name: "unseen"})

	t0 := time.Unix(1000, 0)
	steps := []struct {
		name      string
		in        input
		leaving   bool // local Leave called
		at        time.Time
		wantEvent EventType // 0: none
		member    string
		wantState string // "" : member forgotten
		wantCap   int
	}{
		{name: "join", in: input{kind: inJoin, node: b}, wantEvent: Joined, member: "b", wantState: StateAlive, wantCap: 10},
		{name: "meta update", in: input{kind: inUpdate, node: b2}, wantEvent: Updated, member: "b", wantState: StateAlive, wantCap: 20},
		{name: "leave without notice is a failure", in: input{kind: inLeave, node: b2}, wantEvent: Failed, member: "b", wantState: StateDead, wantCap: 20},
		{name: "late notice corrects to left", in: input{kind: inLeaveIntent, name: "b"}, wantEvent: Left, member: "b", wantState: StateLeft},
		{name: "second notice changes nothing", in: input{kind: inLeaveIntent, name: "b"}, member: "b", wantState: StateLeft},
		{name: "rejoin", in: input{kind: inJoin, node: b}, wantEvent: Joined, member: "b", wantState: StateAlive, wantCap: 10},
		{name: "notice before leave", in: input{kind: inLeaveIntent, name: "b"}, member: "b", wantState: StateAlive},
		{name: "leave after notice is left", in: input{kind: inLeave, node: b}, wantEvent: Left, member: "b", wantState: StateLeft},
		{name: "repeated leave ignored", in: input{kind: inLeave, node: b}, member: "b", wantState: StateLeft},
		{name: "notice for unknown node", in: input{kind: inLeaveIntent, name: "early"}, member: "early"},
		{name: "node joins after its notice", in: input{kind: inJoin, node: early}, wantEvent: Joined, member: "early", wantState: StateAlive},
		{name: "and leaves", in: input{kind: inLeave, node: early}, wantEvent: Left, member: "early", wantState: StateLeft},
		{name: "notice, then leave of a never seen node", in: input{kind: inLeaveIntent, name: "unseen"}, member: "unseen"},
		{name: "is left", in: input{kind: inLeave, node: unseen}, wantEvent: Left, member: "unseen", wantState: StateLeft},
		{name: "rejoin clears notice", in: input{kind: inJoin, node: b}, wantEvent: Joined, member: "b", wantState: StateAlive},
		{name: "failure after rejoin", in: input{kind: inLeave, node: b}, wantEvent: Failed, member: "b", wantState: StateDead},
		{name: "unreadable meta keeps the name", in: input{kind: inJoin, node: garbled}, wantEvent: Joined, member: "g", wantState: StateAlive},
		{name: "local leave", in: input{kind: inLeave, node: self}, leaving: true, wantEvent: Left, member: "self", wantState: StateLeft},
		{name: "dead member pruned after retention", in: input{kind: inLeave, node: garbled}, at: t0.Add(2 * time.Hour),
			wantEvent: Failed, member: "b"},
	}
	for _, st := range steps {
		at := st.at
		if at.IsZero() {
			at = t0
		}
		c.leaving.Store(st.leaving)
		ev, ok := c.apply(st.in, at)
		switch {
		case st.wantEvent == 0 && ok:
			t.Errorf("%s: got event %v, want none", st.name, ev.Type)
		case st.wantEvent != 0 && !ok:
			t.Errorf("%s: no event, want %v", st.name, st.wantEvent)
		case ok && ev.Type != st.wantEvent:
			t.Errorf("%s: event %v, want %v", st.name, ev.Type, st.wantEvent)
		}
		m, known := c.members[st.member]
		switch {
		case st.wantState == "" && known:
			t.Errorf("%s: member %s still known (%s)", st.name, st.member, m.State)
		case st.wantState != "" && !known:
			t.Errorf("%s: member %s unknown", st.name, st.member)
		case known && m.State != st.wantState:
			t.Errorf("%s: member %s state %s, want %s", st.name, st.member, m.State, st.wantState)
		}
		if known && st.wantCap != 0 && m.Meta.Capacity != st.wantCap {
			t.Errorf("%s: capacity %d, want %d", st.name, m.Meta.Capacity, st.wantCap)
		}
		if ok && ev.Member.Meta.Name != st.in.node.Name && ev.Member.Meta.Name != st.in.name {
			t.Errorf("%s: event for %q", st.name, ev.Member.Meta.Name)
		}
	}
	if g := c.members["g"]; g == nil || g.Addr != "127.0.0.2:7002" {
		t.Errorf("garbled member = %+v, want it kept with its address", g)
	}
}
