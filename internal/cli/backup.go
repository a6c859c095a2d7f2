package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/salvo-sh/salvo/store"
)

// DefaultBackupTimeout bounds the wait for the server's copy to start
// coming, and any silence of it afterwards.
const DefaultBackupTimeout = 10 * time.Minute

const backupUsage = `usage: salvo backup [flags] FILE

Save a consistent copy of the server's store (GET /api/v1/backup, an admin
token) into FILE, while the server runs. FILE is written next to itself
first (mode 0600: the copy holds token hashes and sealed SSH credentials),
checked to be a salvo store, then renamed into place. On a follower of a
Raft group the copy comes from the leader. DATA_DIR/secret.key, which
unseals the credentials, is not in it: back it up apart (docs/operations.md).

Flags:
`

const restoreUsage = `usage: salvo restore --data-dir DIR [--force-ha] FILE

Install FILE, made by salvo backup, as the store of the node whose data dir
is DIR, which must be stopped (salvo restore refuses a data dir a server
holds). The current store is kept as salvo.db.bak-TIME. The restored store
starts a new Raft history: on an HA master's data dir (one with raft/),
--force-ha also moves raft/ aside; restore the same FILE on every master of
the group, then start them all (docs/operations.md).

Flags:
`

// BackupCommand returns `salvo backup FILE`, accessFlags registering its
// connection flags.
func BackupCommand(accessFlags AccessFlagsFunc) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := flag.NewFlagSet("backup", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprint(stderr, backupUsage)
			fs.PrintDefaults()
		}
		var access Access
		accessFlags(fs, &access)
		timeout := fs.Duration("timeout", DefaultBackupTimeout, "give up when the server sends nothing for this long (its copy of a large store takes a while)")
		force := fs.Bool("force", false, "replace FILE when it exists")
		pos, err := ParseInterleaved(fs, args)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return ExitUsage
		}
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "salvo backup: want one FILE, got %d arguments\n", len(pos))
			fs.Usage()
			return ExitUsage
		}
		if *timeout <= 0 {
			fmt.Fprintf(stderr, "salvo backup: --timeout must be positive, got %s\n", *timeout)
			return ExitUsage
		}
		if err := access.Resolve(); err != nil {
			fmt.Fprintf(stderr, "salvo backup: %v\n", err)
			return ExitUsage
		}
		cc, err := access.Config()
		if err != nil {
			fmt.Fprintf(stderr, "salvo backup: %v\n", err)
			return ExitUsage
		}
		cc.ResponseHeaderTimeout, cc.StreamIdleTimeout = *timeout, *timeout
		client := NewClientWithConfig(access.Server, cc)
		defer client.Close()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		info, n, err := client.Backup(ctx, pos[0], *force)
		if err != nil {
			fmt.Fprintf(stderr, "salvo backup: %v\n", err)
			return ExitFailures
		}
		fmt.Fprintf(stdout, "%s: %d bytes, %d jobs, schema version %d\n", pos[0], n, info.Jobs, info.SchemaVersion)
		return ExitOK
	}
}

// Backup saves the server's store into path: a temporary file in path's
// directory (0600) that is synced, checked with store.CheckFile and
// renamed to path; it refuses an existing path unless replace.
func (c *Client) Backup(ctx context.Context, path string, replace bool) (store.BackupInfo, int64, error) {
	var info store.BackupInfo
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return info, 0, fmt.Errorf("%s exists: give --force to replace it", path)
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return info, 0, fmt.Errorf("create the backup file: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return info, 0, fmt.Errorf("create the backup file: %w", err)
	}
	resp, stop, err := c.openStream(ctx, c.base+"/api/v1/backup", "application/vnd.sqlite3")
	if err != nil {
		return info, 0, err
	}
	defer stop()
	defer resp.Body.Close()
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		return info, n, fmt.Errorf("read the backup after %d bytes: %w", n, err)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		if want, perr := strconv.ParseInt(cl, 10, 64); perr == nil && want != n {
			return info, n, fmt.Errorf("the backup ended after %d of %d bytes", n, want)
		}
	}
	if err := f.Sync(); err != nil {
		return info, n, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return info, n, fmt.Errorf("write %s: %w", tmp, err)
	}
	if info, err = store.CheckFile(ctx, tmp); err != nil {
		return info, n, fmt.Errorf("the server's answer: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return info, n, fmt.Errorf("install the backup: %w", err)
	}
	done = true
	syncDir(dir)
	return info, n, nil
}

// syncDir makes a rename in dir durable; where a directory cannot be
// synced the rename stands anyway.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// RestoreCommand is `salvo restore FILE --data-dir DIR`.
func RestoreCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, restoreUsage)
		fs.PrintDefaults()
	}
	var opts RestoreOptions
	fs.StringVar(&opts.DataDir, "data-dir", "", "the stopped node's data dir (required)")
	fs.BoolVar(&opts.ForceHA, "force-ha", false, "restore an HA master's data dir: moves its raft/ aside; do it on every master of the group (docs/operations.md)")
	pos, err := ParseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if len(pos) != 1 || opts.DataDir == "" {
		fmt.Fprintln(stderr, "salvo restore: want one FILE and --data-dir")
		fs.Usage()
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Restore(ctx, pos[0], opts)
	if err != nil {
		fmt.Fprintf(stderr, "salvo restore: %v\n", err)
		return ExitFailures
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d jobs, schema version %d\n", pos[0], opts.DataDir, res.Jobs, res.SchemaVersion)
	for _, m := range res.MovedAside {
		fmt.Fprintf(stdout, "kept the old %s\n", m)
	}
	return ExitOK
}

// RestoreOptions are salvo restore's settings.
type RestoreOptions struct {
	// DataDir is the stopped node's data dir.
	DataDir string
	// ForceHA restores a data dir that holds Raft state (raft/), moving
	// it aside.
	ForceHA bool
	// Now names the kept files (time.Now when nil).
	Now func() time.Time
}

// RestoreResult tells what Restore did.
type RestoreResult struct {
	store.BackupInfo
	// MovedAside are the paths the old store (and Raft state) were
	// renamed to.
	MovedAside []string
}

// The names salvo restore works with in a data dir (internal/server
// keeps the store in store.DefaultSQLiteConfig's file and Raft in raft/).
const (
	storeFile = "salvo.db"
	raftDir   = "raft"
)

// Restore installs the store file at file as the store of the stopped
// node of opts.DataDir. It holds the data dir's lock (store.LockDir, the
// one a running node holds) throughout, checks the file (store.CheckFile),
// stages a copy in the data dir, clears its Raft applied index (a restored
// store starts a new Raft history, which internal/server's checkRaftState
// requires without raft/), refuses a copy with unfinished jobs for an HA
// master (a new group cannot resume them), then moves the old store (and
// with ForceHA raft/) aside as NAME.bak-TIME and renames the copy in.
func Restore(ctx context.Context, file string, opts RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if fi, err := os.Stat(opts.DataDir); err != nil || !fi.IsDir() {
		return res, fmt.Errorf("--data-dir %s: not a directory", opts.DataDir)
	}
	lock, err := store.LockDir(opts.DataDir)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return res, fmt.Errorf("%w: stop the node first", err)
		}
		return res, err
	}
	defer lock.Unlock()
	ha := false
	if _, err := os.Stat(filepath.Join(opts.DataDir, raftDir)); err == nil {
		ha = true
		if !opts.ForceHA {
			return res, fmt.Errorf("%s holds the Raft state of an HA master (%s/): restoring one master of a group diverges it from the others. Restore the whole group: stop every master, run salvo restore --force-ha with the same FILE on each (it moves raft/ aside), then start them all (docs/operations.md)",
				opts.DataDir, raftDir)
		}
	}
	if res.BackupInfo, err = store.CheckFile(ctx, file); err != nil {
		return res, err
	}

	stage, err := os.MkdirTemp(opts.DataDir, store.RestorePrefix)
	if err != nil {
		return res, fmt.Errorf("stage the copy: %w", err)
	}
	defer os.RemoveAll(stage)
	staged := filepath.Join(stage, storeFile)
	if err := copyFile(file, staged); err != nil {
		return res, fmt.Errorf("stage the copy: %w", err)
	}
	if err := prepareRestored(ctx, staged, ha); err != nil {
		return res, err
	}

	stamp := now().UTC().Format("20060102T150405Z")
	target := filepath.Join(opts.DataDir, storeFile)
	moves := []string{target, target + "-wal", target + "-shm"}
	if ha {
		moves = append(moves, filepath.Join(opts.DataDir, raftDir))
	}
	for _, p := range moves {
		aside := p + ".bak-" + stamp
		if strings.HasSuffix(p, "-wal") || strings.HasSuffix(p, "-shm") {
			// The WAL of salvo.db.bak-TIME is salvo.db.bak-TIME-wal.
			aside = target + ".bak-" + stamp + p[len(target):]
		}
		if err := os.Rename(p, aside); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return res, fmt.Errorf("move the old %s aside: %w", p, err)
		}
		res.MovedAside = append(res.MovedAside, aside)
	}
	if err := os.Rename(staged, target); err != nil {
		return res, fmt.Errorf("install the copy as %s: %w (the old store is %s.bak-%s)", target, err, target, stamp)
	}
	syncDir(opts.DataDir)
	return res, nil
}

// prepareRestored opens the staged copy as a store (migrating an older
// schema), clears its applied index and, for an HA master, refuses it
// when it holds unfinished jobs.
func prepareRestored(ctx context.Context, path string, ha bool) error {
	cfg := store.DefaultSQLiteConfig(filepath.Dir(path))
	cfg.Path = path
	st, err := store.OpenSQLite(cfg)
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	if ha {
		jobs, err := st.Unfinished(ctx)
		if err != nil {
			st.Close()
			return fmt.Errorf("read the copy's jobs: %w", err)
		}
		if len(jobs) > 0 {
			st.Close()
			return fmt.Errorf("the copy holds %d unfinished jobs (such as %s), which a new Raft group cannot resume: restore it on a single master without --bootstrap-expect, let them end or cancel them, then back up again (docs/operations.md)",
				len(jobs), jobs[0].ID)
		}
	}
	if err := st.SetAppliedIndex(ctx, 0); err != nil {
		st.Close()
		return fmt.Errorf("reset the copy's Raft index: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close the copy: %w", err)
	}
	// A clean close leaves no WAL; one left would belong with the file.
	for _, ext := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + ext); err == nil && fi.Size() > 0 && ext == "-wal" {
			return fmt.Errorf("the copy kept a write-ahead log after closing: %s", path+ext)
		}
		os.Remove(path + ext)
	}
	return nil
}

// copyFile copies src to a new file dst (0600), synced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
