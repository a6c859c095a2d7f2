package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	// Registers the pure-Go "sqlite" database/sql driver.
	_ "modernc.org/sqlite"

	"github.com/salvo-sh/salvo/job"
)

// DefaultChunkSize is the number of targets per chunk when CreateJob is
// given a chunk size of zero or less (the default lease size).
const DefaultChunkSize = job.DefaultChunkSize

// DefaultResultLimit is the page size of Results and ListJobs when the
// query's Limit is zero or less.
const DefaultResultLimit = 1000

// DefaultGroupLimit is the number of groups Aggregate returns when its limit
// is zero or less.
const DefaultGroupLimit = 100

// SQLiteConfig configures the embedded SQLite store.
type SQLiteConfig struct {
	// Path is the database file. Its directory is created when missing.
	Path string
	// BusyTimeout is how long a connection waits for a lock held by another
	// connection (another process on the same file) before failing.
	BusyTimeout time.Duration
	// ReadConns is the size of the read connection pool. Reads run on these
	// connections and are never blocked by the single writer (WAL mode).
	ReadConns int
	// CacheSizeKiB is the writer connection's SQLite page cache, in KiB.
	CacheSizeKiB int
	// ReadCacheSizeKiB is each read connection's page cache, in KiB. The
	// caches fill as the database grows, so together they bound the
	// store's share of the server's memory.
	ReadCacheSizeKiB int
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (the default in
	// WAL mode: a power loss may lose the last commits, never corrupt) or
	// "FULL" (fsync every commit).
	Synchronous string
	// CheckpointInterval is how long after a write the background
	// checkpointer copies the WAL into the database file, off the writer's
	// path.
	CheckpointInterval time.Duration
	// WALAutoCheckpoint is the WAL size, in pages, at which the writer
	// checkpoints by itself: a bound for when the background checkpointer
	// falls behind.
	WALAutoCheckpoint int
	// Logger receives background checkpoint errors.
	Logger *slog.Logger
}

// pageSize is the page size of a new database file: 8 KiB pages hold about
// seven results of 1 KiB and halve the writes per result compared to 4 KiB.
const pageSize = 8192

// DefaultSQLiteConfig returns the configuration of a store kept in the file
// salvo.db inside dir.
func DefaultSQLiteConfig(dir string) SQLiteConfig {
	return SQLiteConfig{
		Path:               filepath.Join(dir, "salvo.db"),
		BusyTimeout:        5 * time.Second,
		ReadConns:          4,
		CacheSizeKiB:       16 << 10,
		ReadCacheSizeKiB:   4 << 10,
		Synchronous:        "NORMAL",
		CheckpointInterval: 100 * time.Millisecond,
		WALAutoCheckpoint:  8192,
		Logger:             slog.Default(),
	}
}

// SQLite is the embedded Store: one SQLite file in WAL mode, one writer
// connection that serializes every write, and a pool of read connections.
type SQLite struct {
	cfg SQLiteConfig
	w   *sql.DB // exactly one connection: every write goes through it
	r   *sql.DB // read pool

	// ins holds PutResults' statements, prepared on w's connection at
	// open, and its buffers.
	ins insertConn

	ckpt   *sql.DB            // one connection for background checkpoints
	dirty  chan struct{}      // signalled after each write (capacity 1)
	stop   context.Context    // done once Close has begun
	cancel context.CancelFunc // ends stop
	ckDone chan struct{}      // closed when the checkpointer has returned

	// mu is held shared by every call and exclusively by Close, so that Close
	// waits for calls in flight and later calls see closed.
	mu     sync.RWMutex
	closed bool

	// keys caches committed job keys (a job's key never changes), so that
	// PutResults does not look it up for every batch.
	keysMu sync.Mutex
	keys   map[string]int64
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (or creates) the database at cfg.Path, creating its
// directory and the schema.
func OpenSQLite(cfg SQLiteConfig) (*SQLite, error) {
	if cfg.Path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	if strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("open sqlite store: path %q must not contain '?'", cfg.Path)
	}
	def := DefaultSQLiteConfig("")
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = def.BusyTimeout
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = def.ReadConns
	}
	if cfg.ReadCacheSizeKiB <= 0 {
		cfg.ReadCacheSizeKiB = def.ReadCacheSizeKiB
	}
	if cfg.CacheSizeKiB <= 0 {
		cfg.CacheSizeKiB = def.CacheSizeKiB
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = def.CheckpointInterval
	}
	if cfg.WALAutoCheckpoint <= 0 {
		cfg.WALAutoCheckpoint = def.WALAutoCheckpoint
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	switch strings.ToUpper(cfg.Synchronous) {
	case "":
		cfg.Synchronous = def.Synchronous
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("open sqlite store: invalid synchronous %q", cfg.Synchronous)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("open sqlite store: create directory: %w", err)
	}

	s := &SQLite{
		cfg:    cfg,
		dirty:  make(chan struct{}, 1),
		ckDone: make(chan struct{}),
	}
	if err := s.open(); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	s.stop, s.cancel = context.WithCancel(context.Background())
	go s.runCheckpointer()
	return s, nil
}

// open opens the connection pools, creates the schema and prepares the
// statements of PutResults.
func (s *SQLite) open() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BusyTimeout+10*time.Second)
	defer cancel()
	var err error
	if s.w, err = s.cfg.openDB(ctx, connWriter, 1); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	if err := createSchema(ctx, s.w); err != nil {
		return err
	}
	if err := s.prepareInserts(ctx); err != nil {
		return err
	}
	if s.r, err = s.cfg.openDB(ctx, connReader, s.cfg.ReadConns); err != nil {
		return fmt.Errorf("read pool: %w", err)
	}
	if s.ckpt, err = s.cfg.openDB(ctx, connCheckpointer, 1); err != nil {
		return fmt.Errorf("checkpointer: %w", err)
	}
	return nil
}

// Roles of a connection pool.
const (
	connWriter = iota
	connReader
	connCheckpointer
)

// openDB opens a pool of at most n connections for a role and checks that
// it connects.
func (c SQLiteConfig) openDB(ctx context.Context, role, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", c.dsn(role))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn builds the driver's data source name for a connection role.
func (c SQLiteConfig) dsn(role int) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(c.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	switch role {
	case connWriter:
		q.Add("_pragma", "cache_size(-"+strconv.Itoa(c.CacheSizeKiB)+")")
		q.Add("_pragma", "synchronous("+strings.ToUpper(c.Synchronous)+")")
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(c.WALAutoCheckpoint)+")")
		q.Set("_txlock", "immediate")
	case connReader:
		q.Add("_pragma", "cache_size(-"+strconv.Itoa(c.ReadCacheSizeKiB)+")")
		q.Add("_pragma", "query_only(1)")
	case connCheckpointer:
		q.Add("_pragma", "synchronous("+strings.ToUpper(c.Synchronous)+")")
		q.Add("_pragma", "wal_autocheckpoint(0)")
	}
	return c.Path + "?" + q.Encode()
}

// wrote tells the checkpointer that the WAL has grown.
func (s *SQLite) wrote() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// runCheckpointer copies the WAL into the database file in the background,
// CheckpointInterval after a write, until Close. A passive checkpoint never
// blocks the writer or readers; it stops early when Close begins.
func (s *SQLite) runCheckpointer() {
	defer close(s.ckDone)
	t := time.NewTimer(s.cfg.CheckpointInterval)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-s.stop.Done():
			return
		case <-s.dirty:
		}
		t.Reset(s.cfg.CheckpointInterval)
		select {
		case <-s.stop.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.stop, time.Minute)
		var busy, logPages, done int
		err := s.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done)
		cancel()
		if err != nil && s.stop.Err() == nil {
			s.cfg.Logger.Warn("sqlite store: checkpoint failed", "path", s.cfg.Path, "err", err)
		}
	}
}

// enter marks the start of a call; it fails once the store is closed.
// Every successful enter is paired with leave.
func (s *SQLite) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *SQLite) leave() { s.mu.RUnlock() }

// Close waits for calls in flight, stops the checkpointer, checkpoints the
// WAL into the database file and closes every connection. It is idempotent.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	<-s.ckDone
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.cfg.Path, err)
	}
	return nil
}

// closeDBs closes whatever open has opened.
func (s *SQLite) closeDBs() error {
	var errs []error
	if s.w != nil {
		if err := s.closeInserts(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, db := range []struct {
		name string
		db   *sql.DB
	}{{"read pool", s.r}, {"checkpointer", s.ckpt}} {
		if db.db == nil {
			continue
		}
		if err := db.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", db.name, err))
		}
	}
	if s.w != nil {
		// The others are closed: a truncating checkpoint empties the WAL.
		if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
		if err := s.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.cfg.Path }

// unixMilli converts a time to unix milliseconds, the zero time to 0.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromUnixMilli is the inverse of unixMilli; times come back in UTC.
func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// unixMicro converts a time to unix microseconds, the zero time to 0.
func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromUnixMicro is the inverse of unixMicro; times come back in UTC.
func fromUnixMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
