package cluster

// Member states, as shown by the API (docs/design.md §10).
const (
	// StateAlive: memberlist considers the member alive.
	StateAlive = "alive"
	// StateSuspect: the member missed probes but is not declared dead yet.
	// memberlist v0.7.0 does not expose this state (Node.State is never
	// filled in), so Members reports suspect members as alive.
	StateSuspect = "suspect"
	// StateDead: memberlist's failure detector declared the member dead.
	StateDead = "dead"
	// StateLeft: the member left gracefully (Cluster.Leave).
	StateLeft = "left"
)

// Member is one node of the cluster as seen from this node.
type Member struct {
	// Meta is the member's metadata. When a member's metadata cannot be
	// decoded, only Meta.Name is set.
	Meta NodeMeta
	// Addr is the member's gossip "host:port".
	Addr string
	// State is StateAlive, StateSuspect, StateDead or StateLeft.
	State string
}

// Name returns the member's node name.
func (m Member) Name() string { return m.Meta.Name }

// EventType tells what happened to a member.
type EventType int

// Event types.
const (
	// Joined: a member appeared, or came back after being dead or left.
	Joined EventType = iota + 1
	// Left: a member left gracefully.
	Left
	// Failed: memberlist's failure detector declared a member dead.
	Failed
	// Updated: a member's metadata changed.
	Updated
)

// String returns the event type's name.
func (t EventType) String() string {
	switch t {
	case Joined:
		return "joined"
	case Left:
		return "left"
	case Failed:
		return "failed"
	case Updated:
		return "updated"
	default:
		return "unknown"
	}
}

// Event is a membership change, delivered in the order memberlist reported
// it. A member that left gracefully but whose leave notice arrived after
// memberlist's own leave message is first reported Failed, then Left.
type Event struct {
	Type   EventType
	Member Member
}
