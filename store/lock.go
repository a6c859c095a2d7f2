package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// LockFile is the file of a data dir a running node holds locked
// (LockDir), so that offline tools (salvo restore) and a second node
// refuse that data dir.
const LockFile = "salvo.lock"

// ErrLocked is returned by LockDir when another process holds the lock.
var ErrLocked = errors.New("data dir in use")

// DirLock is a held lock on a data dir; Unlock releases it.
type DirLock struct {
	f *os.File
}

// LockDir takes the exclusive lock of dir's LockFile, creating dir and
// the file when missing, without waiting: when another process (a
// running node) holds it, it fails with ErrLocked. The lock is released
// by Unlock or when the process ends.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("lock data dir %s: %w: another salvo process holds %s", dir, ErrLocked, path)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases its flock
	l.f = nil
	return err
}

// The prefixes of the temporary copies made in a data dir: an online
// backup's (GET /api/v1/backup) and salvo restore's staged file.
const (
	BackupPrefix  = ".backup-"
	RestorePrefix = ".restore-"
)

// RemoveStaleCopies removes the temporary directories (BackupPrefix,
// RestorePrefix) that a backup or a restore left in dir when its process
// died, logging each. Call it only while holding dir's lock (LockDir): then
// no live process is making one.
func RemoveStaleCopies(dir string, logger *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("stale copies in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		// Both are directories of os.MkdirTemp: a file of that name is
		// someone else's.
		if !e.IsDir() || !strings.HasPrefix(e.Name(), BackupPrefix) && !strings.HasPrefix(e.Name(), RestorePrefix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("remove a stale copy: %w", err))
			continue
		}
		logger.Info("removed a copy left by an interrupted backup or restore", "path", path)
	}
	return errors.Join(errs...)
}
