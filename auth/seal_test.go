package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	s, err := LoadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	sealed, err := s.Seal("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "hunter2") || !strings.HasPrefix(sealed, sealPrefix) {
		t.Fatalf("sealed %q", sealed)
	}
	again, err := LoadSealer(path) // the same key, read back
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed); err != nil || got != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := LoadSealer(filepath.Join(t.TempDir(), "other.key"))
	if _, err := other.Open(sealed); err == nil {
		t.Error("another key opened the value")
	}
	for _, bad := range []string{"hunter2", sealPrefix + "!!", sealPrefix + "AAAA"} {
		if _, err := s.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if v, _ := s.Seal(""); v != "" {
		t.Errorf("Seal(\"\") = %q", v)
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{{"viewer", Viewer, true}, {"Operator", Operator, true}, {"admin", Admin, true}, {"public", 0, false}, {"root", 0, false}}
	for _, tt := range tests {
		r, err := ParseRole(tt.in)
		if (err == nil) != tt.ok || (tt.ok && r != tt.want) {
			t.Errorf("ParseRole(%q) = %v, %v", tt.in, r, err)
		}
	}
	if !Admin.Allows(Operator) || Viewer.Allows(Operator) || !Operator.Allows(Operator) {
		t.Error("role order")
	}
	secret, hash, err := NewSecret()
	if err != nil || !strings.HasPrefix(secret, "salvo_") || Hash(secret) != hash || len(secret) < 40 {
		t.Errorf("NewSecret = %q %q %v", secret, hash, err)
	}
	for _, n := range []string{"ops", "a.b-c_d", strings.Repeat("x", 64)} {
		if CheckName(n) != nil {
			t.Errorf("CheckName(%q) refused", n)
		}
	}
	for _, n := range []string{"", "-x", "a/b", strings.Repeat("x", 65), "a b"} {
		if CheckName(n) == nil {
			t.Errorf("CheckName(%q) accepted", n)
		}
	}
}
