package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

func TestIsFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		full bool
	}{
		{nil, false},
		{ErrFull, true},
		{fmt.Errorf("put results: %w", ErrFull), true},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("commit: %w", syscall.ENOSPC), true},
		{syscall.EIO, false},
		{ErrNotFound, false},
	} {
		if got := IsFull(tc.err); got != tc.full {
			t.Errorf("IsFull(%v) = %v, want %v", tc.err, got, tc.full)
		}
	}
}

// A store held to its size refuses writes with an error IsFull knows, and
// takes them again once the bound is lifted.
func TestSetMaxBytesFillsTheStore(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := &Job{ID: "j", Spec: &job.Spec{}, State: JobProcessing, Total: 100000, CreatedAt: time.Now()}
	if err := s.CreateJob(ctx, j, []job.TargetSpec{{Host: "h"}}, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxBytes(ctx, 1); err != nil { // the current size: no room to grow
		t.Fatal(err)
	}
	body := strings.Repeat("b", 16<<10)
	batch := func(from int) []job.Result {
		rs := make([]job.Result, 64)
		for i := range rs {
			rs[i] = job.Result{Index: from + i, Host: "h", State: job.StateOK, Body: body}
		}
		return rs
	}
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = s.PutResults(ctx, "j", batch(i*64))
	}
	if !IsFull(werr) {
		t.Fatalf("writes to a store at its bound: %v, want a full-disk error", werr)
	}
	stored, err := s.CountResults(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxBytes(ctx, 0); err != nil {
		t.Fatal(err)
	}
	n, err := s.PutResults(ctx, "j", batch(1_000_000))
	if err != nil || n[job.StateOK] != 64 {
		t.Fatalf("write after the bound was lifted: %v %v", n, err)
	}
	after, _ := s.CountResults(ctx, "j")
	if after[job.StateOK] != stored[job.StateOK]+64 {
		t.Fatalf("stored %d then %d: a refused write left rows", stored[job.StateOK], after[job.StateOK])
	}
}
