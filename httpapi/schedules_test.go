package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// A scoped token puts, runs and deletes only schedules of its node
// groups; a put tells the scheduler (SchedulesChanged); a manual run is a
// job linked to its schedule, by the caller; the history compares runs.
func TestScheduleRoutes(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3 })
	n := testutil.StartNode(t, nil)
	st := n.Store.(*store.SQLite)
	ctx := context.Background()
	var changed atomic.Int32
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.SchedulesChanged = func() { changed.Add(1) }
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	secret := func(name string, role auth.Role, scope ...string) string {
		s, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutToken(ctx, auth.Token{Name: name, Role: role, Hash: hash, Scope: scope, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ops, scoped, viewer := secret("ops", auth.Operator), secret("web-ops", auth.Operator, "web"), secret("eyes", auth.Viewer)
	hosts, _ := json.Marshal(fleet.Targets(3, f.Addr().Port))
	for _, g := range []string{"web", "db"} {
		if err := st.PutDefinition(ctx, store.KindNodeGroup, g, []byte(`{"hosts":`+string(hosts)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	call := func(token, method, path, body string, out any) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&raw)
		if out != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s %s: %s: %v", method, path, raw, err)
			}
		}
		return resp.StatusCode, string(raw)
	}
	spec := func(group string) string {
		return `{"cron": "@daily", "nodeGroup": "` + group + `", "spec": {"http": {"path": "/"}, "aggregation": {"regex": "^(\\w+)"}}}`
	}
	tests := []struct {
		name, token, method, path, body string
		status                          int
		msg                             string
	}{
		{"put on db", ops, "PUT", "/schedules/db-daily", spec("db"), 200, ""},
		{"scoped on its group", scoped, "PUT", "/schedules/web-daily", spec("web"), 200, ""},
		{"scoped on another group", scoped, "PUT", "/schedules/mine", spec("db"), 403, "may send only to the node groups web"},
		{"scoped with targets", scoped, "PUT", "/schedules/mine", `{"cron": "@daily", "spec": {"targets": ["10.0.0.1"]}}`, 403, "by nodeGroup"},
		{"scoped over another's schedule", scoped, "PUT", "/schedules/db-daily", spec("web"), 403, "may send only"},
		{"scoped runs another's", scoped, "POST", "/schedules/db-daily/run", "", 403, "may send only"},
		{"scoped deletes another's", scoped, "DELETE", "/schedules/db-daily", "", 403, "may send only"},
		{"viewer puts", viewer, "PUT", "/schedules/x", spec("web"), 403, "operator"},
		{"bad name", ops, "PUT", "/schedules/a%20b", spec("web"), 400, "a name is"},
		{"name by case", ops, "PUT", "/schedules/DB-daily", spec("db"), 400, "only by case"},
		{"too large", ops, "PUT", "/schedules/big", `{"cron": "@daily", "spec": {"targets": ["` + strings.Repeat("a", 1<<20) + `"]}}`, 413, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(tc.token, tc.method, tc.path, tc.body, nil)
			if code != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.status, tc.msg)
			}
		})
	}
	if n := changed.Load(); n != 2 {
		t.Errorf("SchedulesChanged called %d times, want 2 (the two puts)", n)
	}

	var view struct {
		Name, Cron, CatchUp, Timezone, UpdatedBy string
		Enabled                                  bool
		NextRun                                  *time.Time
		LastRun                                  *struct{ Job, State string }
	}
	if code, body := call(viewer, "GET", "/schedules/web-daily", "", &view); code != 200 || view.UpdatedBy != "web-ops" || view.CatchUp != "once" ||
		view.Timezone != "UTC" || !view.Enabled || view.NextRun == nil || time.Until(*view.NextRun) > 24*time.Hour || view.LastRun != nil {
		t.Fatalf("the schedule: %d %s", code, body)
	}

	// Two manual runs by the scoped token; the history compares them.
	var ids []string
	for range 2 {
		var jst actors.JobStatus
		if code, body := call(scoped, "POST", "/schedules/web-daily/run", "", &jst); code != 202 || jst.Schedule != "web-daily" || !jst.Manual || jst.Slot == nil {
			t.Fatalf("run: %d %s", code, body)
		}
		testutil.WaitJob(t, n.Engine, jst.ID, 30*time.Second)
		ids = append(ids, jst.ID)
		j, err := st.GetJob(ctx, jst.ID)
		if err != nil || j.SubmittedBy != "web-ops" || j.Schedule != "web-daily" || !j.Manual {
			t.Fatalf("the run's record: %+v %v", j, err)
		}
	}
	var hist struct {
		Items []struct {
			Manual  bool
			Job     actors.JobStatus
			Changes *struct {
				Previous     string
				NewValues    []string
				ChangedHosts struct {
					Count    int
					Complete bool
					Scanned  int
				}
			}
		}
	}
	if code, body := call(viewer, "GET", "/schedules/web-daily/history", "", &hist); code != 200 || len(hist.Items) != 2 {
		t.Fatalf("history: %d %s", code, body)
	}
	latest := hist.Items[0]
	if latest.Job.ID != ids[1] || !latest.Manual || latest.Changes == nil || latest.Changes.Previous != ids[0] ||
		latest.Changes.ChangedHosts.Count != 0 || !latest.Changes.ChangedHosts.Complete || latest.Changes.ChangedHosts.Scanned != 3 ||
		len(latest.Changes.NewValues) != 0 || hist.Items[1].Changes != nil {
		b, _ := json.Marshal(hist)
		t.Errorf("history: %s", b)
	}
	var jobs struct{ Items []actors.JobStatus }
	if code, body := call(viewer, "GET", "/jobs?schedule=web-daily", "", &jobs); code != 200 || len(jobs.Items) != 2 {
		t.Errorf("jobs of the schedule: %d %s", code, body)
	}
	var list struct{ Items []struct{ Name string } }
	if code, body := call(viewer, "GET", "/schedules", "", &list); code != 200 || fmt.Sprint(list.Items) != "[{db-daily} {web-daily}]" {
		t.Errorf("list: %d %s", code, body)
	}
	if code, body := call(scoped, "DELETE", "/schedules/web-daily", "", nil); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ := call(viewer, "GET", "/schedules/web-daily/history", "", nil); code != 404 {
		t.Errorf("history of a deleted schedule: %d", code)
	}
	if j, err := st.GetJob(ctx, ids[0]); err != nil || j.Schedule != "web-daily" {
		t.Errorf("a deleted schedule's run: %+v %v (its runs stay)", j, err)
	}
}
