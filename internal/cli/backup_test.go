package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/server"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// startServer starts a real node on dataDir (HA: a Raft group of one).
func startServer(t *testing.T, name, dataDir string, ha bool) *server.Server {
	t.Helper()
	cfg := conf.DefaultConfig()
	cfg.Name, cfg.HTTPAddr, cfg.DataDir, cfg.ShutdownTimeout = name, "127.0.0.1:0", dataDir, 20*time.Second
	if ha {
		cfg.GossipAddr, cfg.RemoteAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, cfg, testutil.Logger(t))
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return srv
}

// waitReady polls /readyz (bounded): an HA node is ready once it leads.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := testutil.TryJSON("GET", url+"/readyz", nil, nil)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %d", url, code)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: no signal to wait on
	}
}

// A job's store goes through salvo backup and salvo restore into new data
// dirs, a single node's and an HA master's, and the nodes started on them
// show the job and its results. Restore refuses a running node's data
// dir, a file that is not a salvo store, and an HA data dir without
// --force-ha.
func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user config file
	t.Setenv("SALVO_SERVER", "")
	t.Setenv("SALVO_TOKEN", "")
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 5 })
	dirA := t.TempDir()
	a := startServer(t, "node-a", dirA, false)
	urlA := "http://" + a.Addr().String()
	var sub struct{ ID string }
	if code := testutil.DoJSON(t, "POST", urlA+"/api/v1/jobs", map[string]any{"targets": fleet.Targets(5, f.Addr().Port)}, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	var st Status
	if code := testutil.DoJSON(t, "GET", urlA+"/api/v1/jobs/"+sub.ID+"?wait=60s", nil, &st); code != http.StatusOK || st.State != JobGathered {
		t.Fatalf("job: %d %+v", code, st)
	}

	run := func(cmd func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := cmd(args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	backup := func(args []string, o, e *bytes.Buffer) int { return BackupCommand(testAccessFlags)(args, o, e) }
	restore := func(args []string, o, e *bytes.Buffer) int { return RestoreCommand(args, o, e) }

	file := filepath.Join(t.TempDir(), "salvo.backup")
	if code, out := run(backup, "--server", urlA, file); code != ExitOK || !strings.Contains(out, "1 jobs") {
		t.Fatalf("backup: %d %s", code, out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
	}
	if code, out := run(backup, "--server", urlA, file); code != ExitFailures || !strings.Contains(out, "--force") {
		t.Errorf("backup over an existing file: %d %s", code, out)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp-*")); len(left) > 0 {
		t.Errorf("temporary files stay: %v", left)
	}

	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("not a database at all, but long enough to look like one? no."), 0o600); err != nil {
		t.Fatal(err)
	}
	dirB := t.TempDir()
	haDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(haDir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a running node's data dir", []string{"--data-dir", dirA, file}, "data dir in use"},
		{"not a salvo store", []string{"--data-dir", dirB, junk}, "is not a salvo store"},
		{"a missing file", []string{"--data-dir", dirB, junk + ".nope"}, "no such file"},
		{"an HA master without --force-ha", []string{"--data-dir", haDir, file}, "--force-ha"},
		{"a missing data dir", []string{"--data-dir", filepath.Join(dirB, "nope"), file}, "not a directory"},
	} {
		if code, out := run(restore, tt.args...); code != ExitFailures || !strings.Contains(out, tt.want) {
			t.Errorf("restore into %s: %d %s, want %q", tt.name, code, out, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dirB, "salvo.db")); err == nil {
		t.Fatal("a refused restore installed a store")
	}

	// A backup of an HA leader carries its applied index; the restore
	// clears it, so that a new group starts on it (checkRaftState).
	haFile := filepath.Join(t.TempDir(), "ha.backup")
	if err := copyFile(file, haFile); err != nil {
		t.Fatal(err)
	}
	func() {
		cfg := store.DefaultSQLiteConfig(filepath.Dir(haFile))
		cfg.Path = haFile
		s, err := store.OpenSQLite(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.SetAppliedIndex(context.Background(), 42); err != nil {
			t.Fatal(err)
		}
	}()

	if code, out := run(restore, "--data-dir", dirB, file); code != ExitOK {
		t.Fatalf("restore: %d %s", code, out)
	}
	if code, out := run(restore, "--data-dir", haDir, "--force-ha", haFile); code != ExitOK || !strings.Contains(out, "raft.bak-") {
		t.Fatalf("restore --force-ha: %d %s", code, out)
	}
	for _, n := range []struct {
		name, dir string
		ha        bool
	}{{"node-b", dirB, false}, {"node-ha", haDir, true}} {
		srv := startServer(t, n.name, n.dir, n.ha)
		url := "http://" + srv.Addr().String()
		waitReady(t, url)
		var got Status
		if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/"+sub.ID, nil, &got); code != http.StatusOK || got.State != JobGathered || got.Total != 5 {
			t.Errorf("%s: job %s: %d %+v", n.name, sub.ID, code, got)
		}
		var page ResultsPage
		if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/"+sub.ID+"/results", nil, &page); code != http.StatusOK || len(page.Items) != 5 {
			t.Errorf("%s: results: %d, %d results", n.name, code, len(page.Items))
		}
	}
}
