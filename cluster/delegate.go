package cluster

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// User message types sent between nodes through memberlist.
const (
	// msgLeaveIntent is followed by the name of a node that is about to
	// leave gracefully, a zero byte and its gossip "ip:port" (for the ack). memberlist v0.7.0 does not tell a leave from a
	// failure in NotifyLeave (Node.State is never set), so a leaving node
	// says so first, as Serf does.
	msgLeaveIntent byte = 1
	// msgLeaveAck is followed by the name of the node that recorded a
	// leave notice; it goes back to the leaving node.
	msgLeaveAck byte = 2
)

// inputKind tells what an input of the event loop is.
type inputKind int

const (
	inJoin inputKind = iota
	inLeave
	inUpdate
	inLeaveIntent
)

// input is one thing memberlist told us, queued for the event loop.
type input struct {
	kind inputKind
	node memberlist.Node // copy; Meta is not shared with memberlist
	name string          // inLeaveIntent: the leaving node
	addr string          // inLeaveIntent: its gossip address
}

// inbox is an unbounded queue between memberlist's callbacks and the event
// loop: push never blocks memberlist, the loop drains it.
type inbox struct {
	mu     sync.Mutex
	items  []input
	signal chan struct{} // capacity 1: "items is not empty"
}

func newInbox() *inbox {
	return &inbox{signal: make(chan struct{}, 1)}
}

// push queues in and wakes the loop. It never blocks.
func (q *inbox) push(in input) {
	q.mu.Lock()
	q.items = append(q.items, in)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// drain takes every queued input.
func (q *inbox) drain() []input {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// delegate implements memberlist.Delegate (metadata and leave notices) and
// memberlist.EventDelegate (membership changes). Every method returns at
// once: nothing here waits for the event loop or the caller.
type delegate struct {
	in   *inbox
	acks atomic.Pointer[chan string] // set while Leave waits for msgLeaveAck

	mu   sync.RWMutex
	meta []byte // encoded NodeMeta, at most memberlist.MetaMaxSize bytes
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

func (d *delegate) setMeta(b []byte) {
	d.mu.Lock()
	d.meta = b
	d.mu.Unlock()
}

// NodeMeta returns the local node's encoded metadata.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if len(d.meta) > limit {
		return nil // Encode guarantees this does not happen; memberlist panics on oversize.
	}
	return d.meta
}

// NotifyMsg receives user messages; buf is only valid during the call.
func (d *delegate) NotifyMsg(buf []byte) {
	if len(buf) < 2 {
		return
	}
	switch buf[0] {
	case msgLeaveIntent:
		name, addr, _ := strings.Cut(string(buf[1:]), "\x00")
		d.in.push(input{kind: inLeaveIntent, name: name, addr: addr})
	case msgLeaveAck:
		if ch := d.acks.Load(); ch != nil {
			select {
			case *ch <- string(buf[1:]):
			default: // Leave stopped waiting, or a duplicate
			}
		}
	}
}

// GetBroadcasts returns nothing: this package gossips no user data.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState returns nothing: membership state is memberlist's own.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores remote user state (there is none).
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin queues a join.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.in.push(input{kind: inJoin, node: copyNode(n)}) }

// NotifyLeave queues a leave or failure.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	d.in.push(input{kind: inLeave, node: copyNode(n)})
}

// NotifyUpdate queues a metadata update.
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	d.in.push(input{kind: inUpdate, node: copyNode(n)})
}

// copyNode copies n so that memberlist may change its node afterwards.
func copyNode(n *memberlist.Node) memberlist.Node {
	c := *n
	c.Addr = append([]byte(nil), n.Addr...)
	c.Meta = append([]byte(nil), n.Meta...)
	return c
}
