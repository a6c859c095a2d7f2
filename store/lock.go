package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
