// Package replica makes every master's store a replica of the Raft log
// (docs/ha.md). Store is a store.Store whose writes are log entries: the
// leader appends them and answers once they are committed on a majority
// and applied; every master's FSM applies the committed entries, in log
// order, to its own SQLite store. Reads are served from the local store,
// so a follower's answers may be a little behind the leader's.
package replica

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/raftgroup"
	"github.com/salvo-sh/salvo/store"
)

// Applier appends an entry to the log and returns the FSM's answer once
// it is committed and applied here (raftgroup.Group).
type Applier interface {
	Apply(ctx context.Context, data []byte) (any, error)
}

// Config configures a Store.
type Config struct {
	// Dir holds the snapshots' temporary files (on the store's disk: a
	// snapshot is a full copy of the store).
	Dir string
	// MaxEntryBytes bounds the target chunks one job-creation entry
	// carries: a larger target list is cut into several entries.
	MaxEntryBytes int
	// ApplyRetry bounds how long an entry whose apply fails for lack of
	// disk space is tried again before it is given up (and logged).
	ApplyRetry time.Duration
	// DeleteBatch is how many results one entry of a job's delete deletes
	// (store.SQLite.DeleteJobStep).
	DeleteBatch int
	Logger      *slog.Logger
}

// DefaultConfig returns the defaults for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, MaxEntryBytes: 4 << 20, ApplyRetry: time.Minute, DeleteBatch: store.DeleteBatch, Logger: slog.Default()}
}

// Store is a replicated store.Store (see the package comment).
type Store struct {
	cfg   Config
	local *store.SQLite

	group atomic.Pointer[applierBox]

	// applied is the index of the last entry applied to local (also kept
	// in local, so that a restart does not apply entries twice).
	mu      sync.Mutex
	applied uint64
	quit    chan struct{}
	closed  atomic.Bool
	// restores counts the snapshots restored into local.
	restores atomic.Int64
}

type applierBox struct{ a Applier }

var (
	_ store.Store = (*Store)(nil)
)

// New returns a Store over local. Writes fail until SetApplier is called.
func New(cfg Config, local *store.SQLite) (*Store, error) {
	def := DefaultConfig(cfg.Dir)
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = def.MaxEntryBytes
	}
	if cfg.ApplyRetry <= 0 {
		cfg.ApplyRetry = def.ApplyRetry
	}
	if cfg.DeleteBatch <= 0 {
		cfg.DeleteBatch = def.DeleteBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Dir == "" {
		return nil, errors.New("replica: Dir is needed")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("replica dir: %w", err)
	}
	applied, err := local.AppliedIndex(context.Background())
	if err != nil {
		return nil, fmt.Errorf("replica: read the applied index: %w", err)
	}
	return &Store{cfg: cfg, local: local, applied: applied, quit: make(chan struct{})}, nil
}

// SetApplier sets the Raft group the writes go through; nil (the group
// stopped) makes them fail with store.ErrNotLeader.
func (s *Store) SetApplier(a Applier) {
	if a == nil {
		s.group.Store(nil)
		return
	}
	s.group.Store(&applierBox{a: a})
}

// Local is the local store the FSM applies to.
func (s *Store) Local() *store.SQLite { return s.local }

// AppliedIndex is the index of the last entry applied to the local store.
func (s *Store) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// The log entries: one kind byte, then the gob of the kind's struct.
const (
	kindCreate byte = iota + 1
	kindUpdateJob
	kindPutResults
	kindPutDefinition
	kindDeleteDefinition
	kindPutToken
	kindDeleteToken
	kindPutAudit
	kindDeleteJob
)

type (
	// createEntry stores target chunks of a job and, in the job's last
	// entry, its row.
	createEntry struct {
		JobID  string
		Job    *store.Job // nil but in the last entry
		First  int
		Chunks []string
	}
	updateJobEntry struct{ Job store.Job }
	resultsEntry   struct {
		JobID   string
		Results []job.Result
	}
	definitionEntry struct {
		Kind, Name string
		Body       []byte
	}
	tokenEntry struct {
		Token auth.Token
		Name  string // DeleteToken's
	}
	auditEntry struct{ Entry auth.Entry }
	// deleteJobEntry is one step of a job's delete (store.SQLite.DeleteJobStep).
	deleteJobEntry struct {
		JobID string
		Batch int
	}

	// resultsReply is what a results entry's apply answers.
	resultsReply struct {
		counts map[string]int
		err    error
	}
	// deleteReply is what a delete entry's apply answers.
	deleteReply struct {
		more bool
		err  error
	}
)

func encode(kind byte, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(kind)
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("encode log entry: %w", err)
	}
	return b.Bytes(), nil
}

// apply appends one entry and returns the FSM's answer.
func (s *Store) apply(ctx context.Context, kind byte, v any) (any, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	box := s.group.Load()
	if box == nil {
		return nil, fmt.Errorf("%w: the raft group is not started", store.ErrNotLeader)
	}
	data, err := encode(kind, v)
	if err != nil {
		return nil, err
	}
	resp, err := box.a.Apply(ctx, data)
	if err != nil {
		if errors.Is(err, raftgroup.ErrNotLeader) {
			return nil, fmt.Errorf("%w: %w", store.ErrNotLeader, err)
		}
		return nil, err
	}
	return resp, nil
}

// applyErr appends an entry whose apply answers an error or nil.
func (s *Store) applyErr(ctx context.Context, kind byte, v any) error {
	resp, err := s.apply(ctx, kind, v)
	if err != nil {
		return err
	}
	if e, ok := resp.(error); ok {
		return e
	}
	return nil
}

// CreateJob implements store.Store.
func (s *Store) CreateJob(ctx context.Context, j *store.Job, targets []job.TargetSpec, chunkSize int) error {
	return s.CreateJobFrom(ctx, j, chunkSize, store.Yield(targets))
}

// CreateJobFrom implements store.Store: the chunks go in entries of at
// most MaxEntryBytes, the job's row in the last one, so that the job
// exists on a master only once all its chunks do. A leader lost midway
// leaves chunks without a job, which nothing reads.
func (s *Store) CreateJobFrom(ctx context.Context, j *store.Job, chunkSize int, next func() ([]job.TargetSpec, error)) error {
	if j == nil || j.ID == "" {
		return errors.New("create job: empty id")
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = time.Now() // decided here: every master stores the same
	}
	var pending []string
	first, size := 0, 0
	total, err := store.ChunkTargets(chunkSize, next, func(chunk int, text string) error {
		if size+len(text) > s.cfg.MaxEntryBytes && len(pending) > 0 {
			if err := s.applyErr(ctx, kindCreate, createEntry{JobID: j.ID, First: first, Chunks: pending}); err != nil {
				return err
			}
			first, pending, size = chunk, nil, 0
		}
		pending = append(pending, text)
		size += len(text)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create job %s: %w", j.ID, err)
	}
	if j.Total == 0 {
		j.Total = total
	}
	return s.applyErr(ctx, kindCreate, createEntry{JobID: j.ID, Job: j, First: first, Chunks: pending})
}

// UpdateJob implements store.Store.
func (s *Store) UpdateJob(ctx context.Context, j *store.Job) error {
	return s.applyErr(ctx, kindUpdateJob, updateJobEntry{Job: *j})
}

// PutResults implements store.Store: one entry per call (a worker's batch
// is bounded in bytes), answered once committed on a majority.
func (s *Store) PutResults(ctx context.Context, jobID string, results []job.Result) (map[string]int, error) {
	resp, err := s.apply(ctx, kindPutResults, resultsEntry{JobID: jobID, Results: results})
	if err != nil {
		return nil, err
	}
	r, ok := resp.(resultsReply)
	if !ok {
		return nil, fmt.Errorf("put results: unexpected answer %T", resp)
	}
	return r.counts, r.err
}

// DeleteJob implements store.Store: each step of the delete (at most
// DeleteBatch results) is one log entry, applied by every master, so
// that no entry is large and the leader's writer is never held long.
// An unknown or unfinished job is refused without a log entry.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	j, err := s.local.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if !store.Terminal(j.State) {
		return fmt.Errorf("delete job %s (%s): %w", id, j.State, store.ErrNotFinished)
	}
	for {
		resp, err := s.apply(ctx, kindDeleteJob, deleteJobEntry{JobID: id, Batch: s.cfg.DeleteBatch})
		if err != nil {
			return err
		}
		r, ok := resp.(deleteReply)
		if !ok {
			return fmt.Errorf("delete job %s: unexpected answer %T", id, resp)
		}
		if errors.Is(r.err, store.ErrNotFound) {
			return nil // another delete finished it
		}
		if r.err != nil || !r.more {
			return r.err
		}
	}
}

// PutDefinition implements store.Store.
func (s *Store) PutDefinition(ctx context.Context, kind, name string, body []byte) error {
	if err := store.CheckDefinitionName(name); err != nil {
		return err
	}
	return s.applyErr(ctx, kindPutDefinition, definitionEntry{Kind: kind, Name: name, Body: body})
}

// DeleteDefinition implements store.Store.
func (s *Store) DeleteDefinition(ctx context.Context, kind, name string) error {
	if _, err := s.local.GetDefinition(ctx, kind, name); err != nil {
		return err // ErrNotFound without a log entry
	}
	return s.applyErr(ctx, kindDeleteDefinition, definitionEntry{Kind: kind, Name: name})
}

// PutToken stores a token through the log (auth.ErrExists when one of
// that name is stored).
func (s *Store) PutToken(ctx context.Context, t auth.Token) error {
	if err := auth.CheckName(t.Name); err != nil {
		return err
	}
	return s.applyErr(ctx, kindPutToken, tokenEntry{Token: t})
}

// DeleteToken removes a token through the log (auth.ErrNotFound when
// there is none).
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	return s.applyErr(ctx, kindDeleteToken, tokenEntry{Name: name})
}

// PutAudit appends an audit entry through the log.
func (s *Store) PutAudit(ctx context.Context, e auth.Entry) error {
	return s.applyErr(ctx, kindPutAudit, auditEntry{Entry: e})
}

// Reads, from the local store.

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return s.local.GetJob(ctx, id)
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context, q store.JobQuery) ([]*store.Job, string, error) {
	return s.local.ListJobs(ctx, q)
}

// Unfinished implements store.Store.
func (s *Store) Unfinished(ctx context.Context) ([]*store.Job, error) { return s.local.Unfinished(ctx) }

// ExpiredJobs implements store.Store.
func (s *Store) ExpiredJobs(ctx context.Context, before time.Time, limit int) ([]*store.Job, error) {
	return s.local.ExpiredJobs(ctx, before, limit)
}

// ChunkCount implements store.Store.
func (s *Store) ChunkCount(ctx context.Context, jobID string) (int, error) {
	return s.local.ChunkCount(ctx, jobID)
}

// Chunk implements store.Store.
func (s *Store) Chunk(ctx context.Context, jobID string, n int) ([]job.IndexedTarget, error) {
	return s.local.Chunk(ctx, jobID, n)
}

// StoredIndexes implements store.Store.
func (s *Store) StoredIndexes(ctx context.Context, jobID string, lo, hi int) (map[int]bool, error) {
	return s.local.StoredIndexes(ctx, jobID, lo, hi)
}

// CountResults implements store.Store.
func (s *Store) CountResults(ctx context.Context, jobID string) (map[string]int, error) {
	return s.local.CountResults(ctx, jobID)
}

// Results implements store.Store.
func (s *Store) Results(ctx context.Context, jobID string, q store.ResultQuery) ([]job.Result, int, error) {
	return s.local.Results(ctx, jobID, q)
}

// Aggregate implements store.Store.
func (s *Store) Aggregate(ctx context.Context, jobID, by string, limit int) ([]store.Group, error) {
	return s.local.Aggregate(ctx, jobID, by, limit)
}

// GroupResults implements store.Store.
func (s *Store) GroupResults(ctx context.Context, jobID string, q store.GroupQuery) ([]store.ValueRow, int, error) {
	return s.local.GroupResults(ctx, jobID, q)
}

// ResultSummary implements store.Store.
func (s *Store) ResultSummary(ctx context.Context, jobID string) (store.ResultSummary, error) {
	return s.local.ResultSummary(ctx, jobID)
}

// RateSeries implements store.Store.
func (s *Store) RateSeries(ctx context.Context, jobID string, q store.RateQuery) ([]int, error) {
	return s.local.RateSeries(ctx, jobID, q)
}

// ScanValues implements store.Store.
func (s *Store) ScanValues(ctx context.Context, jobID string, fn func(store.ValueRow) error) error {
	return s.local.ScanValues(ctx, jobID, fn)
}

// ScheduleRuns implements store.Store.
func (s *Store) ScheduleRuns(ctx context.Context, q store.RunQuery) ([]*store.Job, string, error) {
	return s.local.ScheduleRuns(ctx, q)
}

// CompareValues implements store.Store.
func (s *Store) CompareValues(ctx context.Context, jobID, prevID string, maxScan, maxChanged int) (store.ValueChanges, error) {
	return s.local.CompareValues(ctx, jobID, prevID, maxScan, maxChanged)
}

// GetDefinition implements store.Store.
func (s *Store) GetDefinition(ctx context.Context, kind, name string) ([]byte, error) {
	return s.local.GetDefinition(ctx, kind, name)
}

// ListDefinitions implements store.Store.
func (s *Store) ListDefinitions(ctx context.Context, kind string) ([]string, error) {
	return s.local.ListDefinitions(ctx, kind)
}

// ListTokens lists the tokens of the local store.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) { return s.local.ListTokens(ctx) }

// TokenByHash finds a token in the local store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	return s.local.TokenByHash(ctx, hash)
}

// ListAudit pages the local store's audit log.
func (s *Store) ListAudit(ctx context.Context, q auth.Query) ([]auth.Entry, int64, error) {
	return s.local.ListAudit(ctx, q)
}

// Close stops the writes; the local store is closed by its owner, after
// the Raft group that applies to it.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		close(s.quit)
	}
	return nil
}

// FSM is the state machine of the Raft group: it applies entries to the
// local store (raftgroup.FSM).
func (s *Store) FSM() *FSM { return &FSM{s: s} }

// FSM applies committed entries to a Store's local SQLite store.
type FSM struct{ s *Store }

// Apply applies the entry at index. An entry at or below the applied index
// was applied before a restart (Raft replays its log from the last
// snapshot) and is skipped.
func (f *FSM) Apply(index uint64, data []byte) any {
	s := f.s
	s.mu.Lock()
	applied := s.applied
	s.mu.Unlock()
	if index <= applied {
		return nil
	}
	resp := f.applyRetrying(data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.local.SetAppliedIndex(ctx, index); err != nil {
		s.cfg.Logger.Error("cannot store the applied index", "index", index, "err", err)
	}
	s.mu.Lock()
	s.applied = index
	s.mu.Unlock()
	return resp
}

// applyRetrying applies an entry, trying again for ApplyRetry while the
// disk is full: every master must apply every entry, or its store is no
// longer a replica.
func (f *FSM) applyRetrying(data []byte) any {
	s := f.s
	deadline := time.Now().Add(s.cfg.ApplyRetry)
	wait := 100 * time.Millisecond
	for {
		resp := f.applyOnce(data)
		err, _ := resp.(error)
		switch r := resp.(type) {
		case resultsReply:
			err = r.err
		case deleteReply:
			err = r.err
		}
		if err == nil || !store.IsFull(err) || time.Now().After(deadline) {
			if err != nil && !isExpected(err) {
				s.cfg.Logger.Error("cannot apply a log entry", "kind", kindName(data), "err", err)
			}
			return resp
		}
		s.cfg.Logger.Warn("the store's disk is full: applying the log entry again", "kind", kindName(data), "in", wait)
		select {
		case <-time.After(wait):
		case <-s.quit:
			return resp
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// isExpected tells an entry's refusal (a name taken, a token gone) from a
// failure.
func isExpected(err error) bool {
	return errors.Is(err, auth.ErrExists) || errors.Is(err, auth.ErrNotFound) || errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, store.ErrNotFinished) || errors.Is(err, store.ErrSlotTaken)
}

func kindName(data []byte) string {
	if len(data) == 0 {
		return "empty"
	}
	names := map[byte]string{kindCreate: "createJob", kindUpdateJob: "updateJob", kindPutResults: "putResults",
		kindPutDefinition: "putDefinition", kindDeleteDefinition: "deleteDefinition", kindPutToken: "putToken",
		kindDeleteToken: "deleteToken", kindPutAudit: "putAudit", kindDeleteJob: "deleteJob"}
	if n, ok := names[data[0]]; ok {
		return n
	}
	return fmt.Sprintf("unknown(%d)", data[0])
}

// applyOnce decodes and applies an entry; it answers an error, nil, or a
// resultsReply or a deleteReply.
func (f *FSM) applyOnce(data []byte) any {
	local := f.s.local
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(data) == 0 {
		return errors.New("empty log entry")
	}
	dec := gob.NewDecoder(bytes.NewReader(data[1:]))
	decodeErr := func(err error) error { return fmt.Errorf("decode %s entry: %w", kindName(data), err) }
	switch data[0] {
	case kindCreate:
		var e createEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.ApplyCreate(ctx, e.JobID, e.Job, e.First, e.Chunks)
	case kindUpdateJob:
		var e updateJobEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.UpdateJob(ctx, &e.Job)
	case kindPutResults:
		var e resultsEntry
		if err := dec.Decode(&e); err != nil {
			return resultsReply{err: decodeErr(err)}
		}
		counts, err := local.PutResults(ctx, e.JobID, e.Results)
		return resultsReply{counts: counts, err: err}
	case kindPutDefinition:
		var e definitionEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.PutDefinition(ctx, e.Kind, e.Name, e.Body)
	case kindDeleteDefinition:
		var e definitionEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.DeleteDefinition(ctx, e.Kind, e.Name)
	case kindPutToken:
		var e tokenEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.PutToken(ctx, e.Token)
	case kindDeleteToken:
		var e tokenEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.DeleteToken(ctx, e.Name)
	case kindPutAudit:
		var e auditEntry
		if err := dec.Decode(&e); err != nil {
			return decodeErr(err)
		}
		return local.PutAudit(ctx, e.Entry)
	case kindDeleteJob:
		var e deleteJobEntry
		if err := dec.Decode(&e); err != nil {
			return deleteReply{err: decodeErr(err)}
		}
		more, err := local.DeleteJobStep(ctx, e.JobID, e.Batch)
		return deleteReply{more: more, err: err}
	}
	return fmt.Errorf("unknown log entry kind %d", data[0])
}

// Snapshot copies the local store (raftgroup.FSM). Raft calls it between
// two applies, so the copy holds exactly the entries up to the applied
// index, which it carries.
func (f *FSM) Snapshot() (io.ReadCloser, error) {
	path := filepath.Join(f.s.cfg.Dir, fmt.Sprintf("snapshot-%d-%d.db", f.s.AppliedIndex(), time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := f.s.local.SnapshotTo(ctx, path); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("snapshot the store: %w", err)
	}
	file, err := os.Open(path)
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("snapshot the store: %w", err)
	}
	return &removeOnClose{File: file}, nil
}

// Restore replaces the local store with a snapshot's copy (raftgroup.FSM).
func (f *FSM) Restore(r io.Reader) error {
	tmp, err := os.CreateTemp(f.s.cfg.Dir, "restore-*.db")
	if err != nil {
		return fmt.Errorf("restore a snapshot: %w", err)
	}
	path := tmp.Name()
	defer os.Remove(path)
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("restore a snapshot: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("restore a snapshot: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := f.s.local.RestoreFrom(ctx, path); err != nil {
		return fmt.Errorf("restore a snapshot: %w", err)
	}
	applied, err := f.s.local.AppliedIndex(ctx)
	if err != nil {
		return fmt.Errorf("restore a snapshot: %w", err)
	}
	f.s.mu.Lock()
	f.s.applied = applied
	f.s.mu.Unlock()
	f.s.restores.Add(1)
	f.s.cfg.Logger.Info("restored the store from a snapshot", "appliedIndex", applied)
	return nil
}

// removeOnClose is a snapshot's file, removed once Raft has read it.
type removeOnClose struct{ *os.File }

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	_ = os.Remove(r.File.Name())
	return err
}
