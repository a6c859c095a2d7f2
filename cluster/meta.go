package cluster

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// Node roles.
const (
	// RoleMaster marks a node that queues jobs and leases their targets.
	RoleMaster = "master"
	// RoleWorker marks a node that runs leased targets.
	RoleWorker = "worker"
)

// NodeMeta is what a node tells the others about itself. It travels in
// memberlist's node metadata and must encode to at most
// memberlist.MetaMaxSize (512) bytes.
type NodeMeta struct {
	// Name is the node's unique name (also its memberlist name).
	Name string
	// Roles holds RoleMaster and/or RoleWorker.
	Roles []string
	// RemoteAddr is the proto.actor remote address ("host:port").
	RemoteAddr string
	// APIAddr is the HTTP API address ("host:port").
	APIAddr string
	// Capacity is the number of concurrent connections the node accepts.
	Capacity int
	// Tags restrict which jobs may run on the node.
	Tags []string
	// Version is the node's protocol version, so that mixed versions can be
	// told apart during an upgrade.
	Version int
	// RaftAddr is a master's Raft transport address, empty on a master
	// outside a Raft group (docs/ha.md).
	RaftAddr string
	// Leader is set while the master leads its Raft group, in Term.
	Leader bool
	Term   uint64
}

// wireMeta is NodeMeta's compact JSON form: short keys, empty fields omitted.
type wireMeta struct {
	Name       string   `json:"n"`
	Roles      []string `json:"r,omitempty"`
	RemoteAddr string   `json:"ra,omitempty"`
	APIAddr    string   `json:"aa,omitempty"`
	Capacity   int      `json:"c,omitempty"`
	Tags       []string `json:"t,omitempty"`
	Version    int      `json:"v,omitempty"`
	RaftAddr   string   `json:"rf,omitempty"`
	Leader     bool     `json:"l,omitempty"`
	Term       uint64   `json:"tm,omitempty"`
}

// Encode returns the compact form of m. It fails with ErrMetaTooLarge when
// the result exceeds memberlist.MetaMaxSize.
func (m NodeMeta) Encode() ([]byte, error) {
	b, err := json.Marshal(wireMeta(m))
	if err != nil {
		return nil, fmt.Errorf("encode node meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, limit %d (node %q, %d tags, %d roles): use fewer or shorter tags",
			ErrMetaTooLarge, len(b), memberlist.MetaMaxSize, m.Name, len(m.Tags), len(m.Roles))
	}
	return b, nil
}

// DecodeNodeMeta parses the output of NodeMeta.Encode.
func DecodeNodeMeta(b []byte) (NodeMeta, error) {
	if len(b) == 0 {
		return NodeMeta{}, fmt.Errorf("decode node meta: empty")
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return NodeMeta{}, fmt.Errorf("decode node meta: %w", err)
	}
	return NodeMeta(w), nil
}

// HasRole reports whether the node has the given role.
func (m NodeMeta) HasRole(role string) bool {
	return slices.Contains(m.Roles, role)
}

// HasTag reports whether the node carries the given tag.
func (m NodeMeta) HasTag(tag string) bool {
	return slices.Contains(m.Tags, tag)
}

// clone returns a deep copy of m, so that callers cannot alias its slices.
func (m NodeMeta) clone() NodeMeta {
	m.Roles = slices.Clone(m.Roles)
	m.Tags = slices.Clone(m.Tags)
	return m
}
