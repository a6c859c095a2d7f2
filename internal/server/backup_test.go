package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/conf"
)

// lockedBuffer is a log's output that the test reads while the server
// still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A master that starts on a data dir holding the copy of a backup its
// crashed predecessor was making (or of a killed salvo restore) removes
// it, once it holds the lock, and leaves the other files.
func TestStartRemovesStaleBackups(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".backup-3141592")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "salvo.db"), []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	staleRestore := filepath.Join(dir, ".restore-2718")
	if err := os.Mkdir(staleRestore, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "notes.backup")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := conf.DefaultConfig()
	cfg.Name, cfg.HTTPAddr, cfg.DataDir, cfg.ShutdownTimeout = "backup-1", "127.0.0.1:0", dir, 20*time.Second
	var log lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale backup copy %s after the start: %v", stale, err)
	}
	if _, err := os.Stat(staleRestore); !os.IsNotExist(err) {
		t.Errorf("the stale restore copy %s after the start: %v", staleRestore, err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is no backup copy: %v", err)
	}
	found := false
	for _, line := range strings.Split(log.String(), "\n") {
		found = found || strings.Contains(line, "level=INFO") && strings.Contains(line, "interrupted backup or restore") && strings.Contains(line, stale)
	}
	if !found {
		t.Errorf("no Info line names the removed %s:\n%s", stale, log.String())
	}
}
