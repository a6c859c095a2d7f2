package store

import (
	"context"
	"errors"
	"testing"
)

func TestCheckDefinitionName(t *testing.T) {
	for name, ok := range map[string]bool{
		"web": true, "web-1.dc_2": true, "GET_VI": true, "a b": true,
		"": false, ".": false, "..": false, "a/b": false, `a\b`: false, "../etc": false, "a\nb": false,
	} {
		err := CheckDefinitionName(name)
		if (err == nil) != ok {
			t.Errorf("CheckDefinitionName(%q) = %v, want ok %v", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckDefinitionName(%q) = %v, not ErrBadName", name, err)
		}
	}
	s, err := OpenSQLite(DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutDefinition(context.Background(), KindNodeGroup, "..", []byte(`{}`)); !errors.Is(err, ErrBadName) {
		t.Fatalf("PutDefinition(\"..\") = %v, want ErrBadName", err)
	}
}
