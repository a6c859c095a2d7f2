package spool

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

func TestSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := []job.TargetSpec{
		{Host: "10.0.0.1"},
		{Host: "web-1:8080", Vars: map[string]string{"ID": "line\nbreak"}},
		{Host: "[::1]:22"},
	}
	if err := s.Write(in[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(in[2:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Rewind(); err != nil {
		t.Fatal(err)
	}
	var got []job.TargetSpec
	for {
		b, err := s.Read(2)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
		got = append(got, b...)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("read back %+v, want %+v", got, in)
	}
	s.Close()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Fatalf("Close left %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
