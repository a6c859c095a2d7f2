package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	// Registers the pure-Go "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
)

// DefaultChunkSize is the number of targets per chunk when CreateJob is
// given a chunk size of zero or less (the default lease size).
const DefaultChunkSize = 1000

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
	// CacheSizeKiB is SQLite's page cache per connection, in KiB.
	CacheSizeKiB int
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (the default in
	// WAL mode: a power loss may lose the last commits, never corrupt) or
	// "FULL" (fsync every commit).
	Synchronous string
}

// DefaultSQLiteConfig returns the configuration of a store kept in the file
// salvo.db inside dir.
func DefaultSQLiteConfig(dir string) SQLiteConfig {
	return SQLiteConfig{
		Path:         filepath.Join(dir, "salvo.db"),
		BusyTimeout:  5 * time.Second,
		ReadConns:    4,
		CacheSizeKiB: 32 << 10,
		Synchronous:  "NORMAL",
	}
}

// SQLite is the embedded Store: one SQLite file in WAL mode, one writer
// connection that serializes every write, and a pool of read connections.
type SQLite struct {
	cfg SQLiteConfig
	w   *sql.DB // exactly one connection: every write goes through it
	r   *sql.DB // read pool

	insertResult *sql.Stmt // prepared on w, reused by every PutResults

	// mu is held shared by every call and exclusively by Close, so that Close
	// waits for calls in flight and later calls see closed.
	mu     sync.RWMutex
	closed bool
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
	if cfg.CacheSizeKiB <= 0 {
		cfg.CacheSizeKiB = def.CacheSizeKiB
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

	w, err := sql.Open("sqlite", cfg.dsn(true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	ctx, cancel := context.WithTimeout(context.Background(), cfg.BusyTimeout+10*time.Second)
	defer cancel()
	if err := createSchema(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	ins, err := w.PrepareContext(ctx, insertResultSQL)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: prepare insert: %w", cfg.Path, err)
	}

	r, err := sql.Open("sqlite", cfg.dsn(false))
	if err != nil {
		ins.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.ReadConns)
	r.SetMaxIdleConns(cfg.ReadConns)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		ins.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: read pool: %w", cfg.Path, err)
	}
	return &SQLite{cfg: cfg, w: w, r: r, insertResult: ins}, nil
}

// dsn builds the driver's data source name for the writer or a reader.
func (c SQLiteConfig) dsn(writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(c.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(c.CacheSizeKiB)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		// journal_mode is persistent in the file; the writer sets it once.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+strings.ToUpper(c.Synchronous)+")")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return c.Path + "?" + q.Encode()
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

// Close waits for calls in flight, checkpoints the WAL into the database
// file and closes every connection. It is idempotent.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.insertResult.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close insert statement: %w", err))
	}
	if err := s.r.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close read pool: %w", err))
	}
	// Readers are gone: a truncating checkpoint empties the WAL file.
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		errs = append(errs, fmt.Errorf("checkpoint: %w", err))
	}
	if err := s.w.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close writer: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("close sqlite store %s: %w", s.cfg.Path, errors.Join(errs...))
	}
	return nil
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
