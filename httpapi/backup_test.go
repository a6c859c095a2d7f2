package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// GET /api/v1/backup is an admin's: the answer is a salvo store with the
// node's jobs and their results, and no temporary copy stays behind.
func TestBackup(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3 })
	n := testutil.StartNode(t, nil)
	_, _, secrets := authAPI(t, n) // its tokens, in n's store, serve this server too
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.BackupDir = t.TempDir()
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	url := srv.URL
	var sub struct{ ID string }
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{"targets": fleet.Targets(3, f.Addr().Port)}, &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	testutil.WaitJob(t, n.Engine, sub.ID, time.Minute)

	get := func(role auth.Role) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url+"/api/v1/backup", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secrets[role])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, r := range []auth.Role{auth.Viewer, auth.Operator} {
		if resp := get(r); resp.StatusCode != http.StatusForbidden {
			t.Errorf("backup as %s: %d, want 403", r, resp.StatusCode)
		}
	}
	resp := get(auth.Admin)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("backup as admin: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != httpapi.BackupContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="salvo-backup-`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		t.Fatal(err)
	}
	out.Close()
	info, err := store.CheckFile(context.Background(), file)
	if err != nil {
		t.Fatalf("the answer: %v", err)
	}
	if info.Jobs != 1 {
		t.Errorf("the backup holds %d jobs, want 1", info.Jobs)
	}
	copied, err := store.OpenSQLite(store.DefaultSQLiteConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if err := copied.RestoreFrom(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	j, err := copied.GetJob(context.Background(), sub.ID)
	if err != nil || j.Total != 3 || j.State != store.JobGathered {
		t.Errorf("the backup's job %s: %+v, %v", sub.ID, j, err)
	}
	if counts, err := copied.CountResults(context.Background(), sub.ID); err != nil || counts["ok"] != 3 {
		t.Errorf("the backup's results: %v, %v", counts, err)
	}
	if left, _ := os.ReadDir(cfg.BackupDir); len(left) > 0 {
		t.Errorf("the copy stays in the backup dir: %v", left)
	}
}
