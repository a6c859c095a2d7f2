package store

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// RemoveStaleCopies removes the copies an interrupted backup or restore
// left (directories named .backup-*, .restore-*), logging each, and
// nothing else: not a file of such a name.
func TestRemoveStaleCopies(t *testing.T) {
	dir := t.TempDir()
	for _, e := range []struct {
		name  string
		isDir bool
	}{
		{".backup-1234", true}, {".backup-", true}, {".backup-5678", false}, // stale, not the file
		{".restore-1234", true}, // stale
		{"salvo.db", false}, {"backup-1234", true}, {"x.backup-1234", false}, {"restore-1", true},
	} {
		file := filepath.Join(dir, e.name)
		if e.isDir {
			if err := os.Mkdir(file, 0o700); err != nil {
				t.Fatal(err)
			}
			file = filepath.Join(file, "salvo.db")
		}
		if err := os.WriteFile(file, []byte("copy"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	if err := RemoveStaleCopies(dir, slog.New(slog.NewJSONHandler(&log, nil))); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{".backup-5678", "backup-1234", "restore-1", "salvo.db", "x.backup-1234"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	var logged []string
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var rec struct{ Level, Path string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level == "INFO" {
			logged = append(logged, filepath.Base(rec.Path))
		}
	}
	slices.Sort(logged)
	if want := []string{".backup-", ".backup-1234", ".restore-1234"}; !slices.Equal(logged, want) {
		t.Errorf("logged the removal of %v, want %v:\n%s", logged, want, log.String())
	}
	if err := RemoveStaleCopies(filepath.Join(dir, "nosuch"), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a missing dir: no error")
	}
}
