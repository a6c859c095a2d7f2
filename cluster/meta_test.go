package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestNodeMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta NodeMeta
	}{
		{"full", NodeMeta{Name: "node-a", Roles: []string{RoleMaster, RoleWorker}, RemoteAddr: "10.0.0.1:8090",
			APIAddr: "10.0.0.1:8080", Capacity: 2500, Tags: []string{"dc1", "rack-4"}, Version: 3}},
		{"name only", NodeMeta{Name: "n"}},
		{"unicode tags", NodeMeta{Name: "n", Tags: []string{"zone=été", "\"quoted\""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.meta.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := DecodeNodeMeta(b)
			if err != nil {
				t.Fatalf("DecodeNodeMeta(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.meta) {
				t.Fatalf("round trip: got %+v, want %+v", got, tt.meta)
			}
		})
	}
}

func TestNodeMetaCompact(t *testing.T) {
	m := NodeMeta{Name: "node-a", Roles: []string{RoleMaster, RoleWorker}, RemoteAddr: "10.0.0.1:8090",
		APIAddr: "10.0.0.1:8080", Capacity: 2500, Tags: []string{"dc1"}, Version: 1}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 140 {
		t.Fatalf("typical meta encodes to %d bytes (%s), want compact (<= 140)", len(b), b)
	}
}

func TestNodeMetaTooLarge(t *testing.T) {
	m := NodeMeta{Name: "node-a", Roles: []string{RoleWorker}}
	for i := range 100 {
		m.Tags = append(m.Tags, fmt.Sprintf("tag-number-%d", i))
	}
	_, err := m.Encode()
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Encode with 100 tags: err = %v, want ErrMetaTooLarge", err)
	}
	for _, want := range []string{"512", "100 tags", "node-a"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The largest meta that fits is accepted: the limit is memberlist's.
	m.Tags = nil
	m.Name = strings.Repeat("x", memberlist.MetaMaxSize-len(`{"n":"","r":["worker"]}`))
	if b, err := m.Encode(); err != nil || len(b) != memberlist.MetaMaxSize {
		t.Fatalf("meta of exactly %d bytes: len %d, err %v", memberlist.MetaMaxSize, len(b), err)
	}
	m.Name += "x"
	if _, err := m.Encode(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("meta of %d bytes: err = %v, want ErrMetaTooLarge", memberlist.MetaMaxSize+1, err)
	}
}

func TestDecodeNodeMetaErrors(t *testing.T) {
	for _, in := range []string{"", "{", "not json", `{"n": 3}`} {
		if _, err := DecodeNodeMeta([]byte(in)); err == nil {
			t.Errorf("DecodeNodeMeta(%q): no error", in)
		}
	}
}

func TestHasRoleAndTag(t *testing.T) {
	m := NodeMeta{Roles: []string{RoleWorker}, Tags: []string{"dc2"}}
	tests := []struct {
		got, want bool
		what      string
	}{
		{m.HasRole(RoleWorker), true, "HasRole(worker)"},
		{m.HasRole(RoleMaster), false, "HasRole(master)"},
		{m.HasRole(""), false, `HasRole("")`},
		{m.HasTag("dc2"), true, "HasTag(dc2)"},
		{m.HasTag("dc1"), false, "HasTag(dc1)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}
