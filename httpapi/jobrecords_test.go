package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// statusDoc is a job status as JSON fields.
type statusDoc struct {
	ID      string                     `json:"id"`
	Name    string                     `json:"name"`
	State   string                     `json:"state"`
	Total   int                        `json:"total"`
	RerunOf string                     `json:"rerunOf"`
	Ran     map[string]any             `json:"ran"`
	Counts  map[string]int             `json:"counts"`
	Workers map[string]any             `json:"workers"`
	Raw     map[string]json.RawMessage `json:"-"`
}

// The status and the list items say what the job ran and who submitted
// it, and name no secret of its spec nor the query of its path.
func TestStatusSaysWhatRan(t *testing.T) {
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	n := testutil.StartNode(t, func(c *actors.Config) { c.Logger = logger })
	url, operator, viewer := authedAPI(t, n, logger)
	specs := []struct {
		name string
		spec map[string]any
		want map[string]any
	}{
		{"http", map[string]any{
			"name": "web", "targets": []string{"10.0.0.1:8080", "10.0.0.2:8080"}, "tags": []string{"nowhere"},
			"aggregation": map[string]any{"regex": `v=(\d+)`},
			"http":        map[string]any{"method": "POST", "path": "/deploy?key=query-s3cret", "headers": map[string]string{"Authorization": "Bearer hdr-s3cret"}},
		}, map[string]any{"protocol": "http", "method": "POST", "path": "/deploy", "targets": float64(2), "submittedBy": "ops",
			"tags": []any{"nowhere"}, "aggregation": map[string]any{"regex": `v=(\d+)`}}},
		{"ssh", map[string]any{
			"name": "uptime", "protocol": "ssh", "targets": []string{"10.0.0.1"}, "tags": []string{"nowhere"},
			"ssh": map[string]any{"user": "ops", "command": "uptime -p", "auth": map[string]any{"password": "pw-s3cret"}},
		}, map[string]any{"protocol": "ssh", "command": "uptime -p", "targets": float64(1), "submittedBy": "ops"}},
	}
	for _, tc := range specs {
		t.Run(tc.name, func(t *testing.T) {
			var sub statusDoc
			if code := call(t, "POST", url+"/api/v1/jobs", operator, tc.spec, &sub); code != http.StatusAccepted {
				t.Fatalf("submit: %d", code)
			}
			check := func(where string, got map[string]any) {
				t.Helper()
				for k, v := range tc.want {
					if b, _ := json.Marshal(got[k]); string(b) != mustJSON(t, v) {
						t.Errorf("%s: ran.%s = %s, want %s (%v)", where, k, b, mustJSON(t, v), got)
					}
				}
				for _, k := range []string{"headers", "body", "vars", "auth"} {
					if _, ok := got[k]; ok {
						t.Errorf("%s: ran has %s", where, k)
					}
				}
			}
			check("submit answer", sub.Ran)
			var st statusDoc
			if code := call(t, "GET", url+"/api/v1/jobs/"+sub.ID, viewer, nil, &st); code != http.StatusOK {
				t.Fatalf("status: %d", code)
			}
			check("status", st.Ran)
			var page struct{ Items []statusDoc }
			if code := call(t, "GET", url+"/api/v1/jobs?name="+tc.spec["name"].(string), viewer, nil, &page); code != http.StatusOK || len(page.Items) != 1 {
				t.Fatalf("list: %d, %d items", code, len(page.Items))
			}
			check("list item", page.Items[0].Ran)
			if code := call(t, "POST", url+"/api/v1/jobs/"+sub.ID+"/cancel", operator, nil, nil); code != http.StatusOK {
				t.Fatalf("cancel: %d", code)
			}
			testutil.WaitJob(t, n.Engine, sub.ID, 30*time.Second)
			// Stored and ended: the record says the same.
			if code := call(t, "GET", url+"/api/v1/jobs/"+sub.ID, viewer, nil, &st); code != http.StatusOK {
				t.Fatalf("status: %d", code)
			}
			check("ended status", st.Ran)
			for _, u := range []string{"/api/v1/jobs/" + sub.ID, "/api/v1/jobs?name=" + tc.spec["name"].(string)} {
				var raw json.RawMessage
				if call(t, "GET", url+u, viewer, nil, &raw); strings.Contains(string(raw), "s3cret") {
					t.Errorf("GET %s holds a secret: %s", u, raw)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// GET /api/v1/jobs filters by name (exact) and q (a substring), with the
// state filter and the cursor; a too long one is a 400 naming it.
func TestListJobsByNameAndQ(t *testing.T) {
	n := testutil.StartNode(t, nil)
	submit := func(name, path string) string {
		t.Helper()
		var st statusDoc
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{
			"name": name, "targets": []string{"10.0.0.1"}, "tags": []string{"nowhere"}, "http": map[string]any{"path": path},
		}, &st); code != http.StatusAccepted {
			t.Fatalf("submit: %d", code)
		}
		return st.ID
	}
	a1 := submit("nightly", "/backup")
	b := submit("nightly-db", "/vacuum")
	a2 := submit("nightly", "/backup/full")
	list := func(query string) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for range 10 {
			var page struct {
				Items      []statusDoc
				NextCursor string
			}
			u := n.URL + "/api/v1/jobs?limit=1&" + query
			if cursor != "" {
				u += "&cursor=" + cursor
			}
			if code := testutil.DoJSON(t, "GET", u, nil, &page); code != http.StatusOK {
				t.Fatalf("GET %s: %d", u, code)
			}
			for _, it := range page.Items {
				ids = append(ids, it.ID)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		return ids
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"name=nightly", []string{a2, a1}},
		{"name=nightly-db", []string{b}},
		{"name=night", nil},
		{"q=NIGHT", []string{a2, b, a1}},
		{"q=backup", []string{a2, a1}},
		{"q=full", []string{a2}},
		{"q=" + b[len(b)-8:], []string{b}},
		{"q=backup&state=waiting", []string{a2, a1}},
		{"q=backup&state=gathered", nil},
	} {
		// Jobs made in the same millisecond list by id, not by when they
		// were made: compare the sets (store.TestListJobsFilters checks the order).
		if got := list(tc.query); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("%s: %v, want %v in any order", tc.query, got, tc.want)
		}
	}
	var e apiError
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs?q="+strings.Repeat("x", store.MaxJobQuery+1), nil, &e); code != http.StatusBadRequest || e.Field != "q" {
		t.Errorf("a long q: %d %+v, want 400 naming q", code, e)
	}
	for _, id := range []string{a1, b, a2} {
		testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+id+"/cancel", nil, nil)
		testutil.WaitJob(t, n.Engine, id, 30*time.Second)
	}
}

// rerunServer answers 500 for a path holding "bad", 200 otherwise.
func rerunServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "bad") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// failingJob runs a job over five targets of which two answer 500 (failed
// by its expect) and one refuses (error), each with an ID variable, and
// returns its id once it has ended.
func failingJob(t *testing.T, n *testutil.Node, name string) string {
	t.Helper()
	host := rerunServer(t)
	target := func(h, id string) map[string]any {
		return map[string]any{"host": h, "vars": map[string]string{"ID": id}}
	}
	var st statusDoc
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{
		"name": name,
		"targets": []any{target(host, "ok-1"), target(host, "bad-1"), target("127.0.0.1:1", "gone"),
			target(host, "ok-2"), target(host, "bad-2")},
		"http":    map[string]any{"path": "/x/${ID}"},
		"expect":  map[string]any{"status": []string{"2xx"}},
		"retries": map[string]any{"max": 0},
	}, &st); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	end := testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second)
	if end.Counts[job.StateOK] != 2 || end.Counts[job.StateFailed] != 2 || end.Counts[job.StateError] != 1 {
		t.Fatalf("the job ended with %v, want 2 ok, 2 failed, 1 error", end.Counts)
	}
	return st.ID
}

// resultTargets lists a job's results' targets (the URL with the vars
// filled in), by index.
func resultTargets(t *testing.T, url, id string) []string {
	t.Helper()
	var page struct{ Items []job.Result }
	if code := testutil.DoJSON(t, "GET", url+"/api/v1/jobs/"+id+"/results", nil, &page); code != http.StatusOK {
		t.Fatalf("results: %d", code)
	}
	var out []string
	for _, r := range page.Items {
		out = append(out, r.Target)
	}
	return out
}

// A rerun runs exactly the targets in the states asked for (failed,
// error, timeout by default), with their vars, as a new job named after
// and linked to the first; bad states, unknown, running and secret jobs
// and an empty selection are refused.
func TestRerun(t *testing.T) {
	n := testutil.StartNode(t, nil)
	id := failingJob(t, n, "deploy")
	host := strings.TrimPrefix(strings.Split(resultTargets(t, n.URL, id)[0], "/x/")[0], "http://")

	rerun := func(id string, body any, out any) int {
		t.Helper()
		return testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+id+"/rerun", body, out)
	}
	var st statusDoc
	if code := rerun(id, nil, &st); code != http.StatusAccepted {
		t.Fatalf("rerun: %d %+v", code, st)
	}
	if st.RerunOf != id || st.Name != "deploy (rerun of "+id+")" || st.Total != 3 || st.ID == id {
		t.Errorf("the rerun: %+v", st)
	}
	end := testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second)
	if end.RerunOf != id {
		t.Errorf("the ended rerun's status: rerunOf %q", end.RerunOf)
	}
	want := []string{"http://" + host + "/x/bad-1", "http://127.0.0.1:1/x/gone", "http://" + host + "/x/bad-2"}
	if got := resultTargets(t, n.URL, st.ID); !slices.Equal(got, want) {
		t.Errorf("the rerun ran %v, want %v", got, want)
	}

	// One state; a rerun of a rerun keeps the first name.
	var second statusDoc
	if code := rerun(st.ID, map[string]any{"states": []string{"error"}}, &second); code != http.StatusAccepted {
		t.Fatalf("rerun of the rerun: %d", code)
	}
	testutil.WaitJob(t, n.Engine, second.ID, 30*time.Second)
	if second.Name != "deploy (rerun of "+st.ID+")" || second.RerunOf != st.ID {
		t.Errorf("the rerun of the rerun: %+v", second)
	}
	if got := resultTargets(t, n.URL, second.ID); !slices.Equal(got, []string{"http://127.0.0.1:1/x/gone"}) {
		t.Errorf("the error rerun ran %v", got)
	}

	// Refusals.
	waiting := func(spec map[string]any) string {
		t.Helper()
		var s statusDoc
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", spec, &s); code != http.StatusAccepted {
			t.Fatalf("submit: %d", code)
		}
		return s.ID
	}
	running := waiting(map[string]any{"targets": []string{"10.0.0.1"}, "tags": []string{"nowhere"}})
	secret := waiting(map[string]any{"targets": []string{"10.0.0.1"}, "tags": []string{"nowhere"},
		"http": map[string]any{"headers": map[string]string{"Authorization": "Bearer s3cret"}}})
	testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+secret+"/cancel", nil, nil)
	testutil.WaitJob(t, n.Engine, secret, 30*time.Second)
	for _, tc := range []struct {
		name  string
		id    string
		body  any
		code  int
		field string
		says  string
	}{
		{"unknown state", id, map[string]any{"states": []string{"failed", "broken"}}, http.StatusBadRequest, "states", "broken"},
		{"unknown field", id, map[string]any{"state": []string{"failed"}}, http.StatusBadRequest, "", "state"},
		{"no such target", id, map[string]any{"states": []string{"timeout"}}, http.StatusConflict, "", "no target in state timeout"},
		{"unknown job", "nosuch", nil, http.StatusNotFound, "", "nosuch"},
		{"running job", running, nil, http.StatusConflict, "", "waiting"},
		{"secrets", secret, nil, http.StatusConflict, "", "secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if code := rerun(tc.id, tc.body, &e); code != tc.code || e.Field != tc.field || !strings.Contains(e.Error, tc.says) {
				t.Errorf("%d %+v, want %d naming %q and saying %q", code, e, tc.code, tc.field, tc.says)
			}
		})
	}
	testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+running+"/cancel", nil, nil)
	testutil.WaitJob(t, n.Engine, running, 30*time.Second)
}

// DELETE /api/v1/jobs/ID deletes a finished job with its results (204),
// refuses a running one (409) and does not know an unknown one (404).
func TestDeleteJobAPI(t *testing.T) {
	n := testutil.StartNode(t, nil)
	id := failingJob(t, n, "to-delete")
	keep := failingJob(t, n, "to-keep")
	var running statusDoc
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{"targets": []string{"10.0.0.1"}, "tags": []string{"nowhere"}}, &running); code != http.StatusAccepted {
		t.Fatalf("submit: %d", code)
	}
	var e apiError
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/jobs/"+running.ID, nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "cancel it first") {
		t.Errorf("delete a running job: %d %+v, want 409", code, e)
	}
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/jobs/nosuch", nil, &e); code != http.StatusNotFound {
		t.Errorf("delete an unknown job: %d, want 404", code)
	}
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/jobs/"+id, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d, want 204", code)
	}
	for _, path := range []string{"", "/results", "/aggregate"} {
		if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs/"+id+path, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s of a deleted job: %d, want 404", path, code)
		}
	}
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/jobs/"+id, nil, nil); code != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", code)
	}
	if got := resultTargets(t, n.URL, keep); len(got) != 5 {
		t.Errorf("the other job has %d results, want 5", len(got))
	}
	testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+running.ID+"/cancel", nil, nil)
	testutil.WaitJob(t, n.Engine, running.ID, 30*time.Second)
	if code := testutil.DoJSON(t, "DELETE", n.URL+"/api/v1/jobs/"+running.ID, nil, nil); code != http.StatusNoContent {
		t.Errorf("delete the cancelled job: %d, want 204", code)
	}
}

// A job whose SSH secrets come from a credential the server keeps is
// rerun (the credential is read again); one that carried its password is
// not.
func TestRerunWithCredential(t *testing.T) {
	n := testutil.StartNode(t, func(c *actors.Config) {
		c.Credentials = func(_ context.Context, name string) (*job.Credential, error) {
			if name != "deploy" {
				return nil, store.ErrNotFound
			}
			return &job.Credential{User: "ops", Password: "cred-s3cret"}, nil
		}
	})
	submit := func(ssh map[string]any) string {
		t.Helper()
		var st statusDoc
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", map[string]any{
			"name": "ssh", "protocol": "ssh", "targets": []string{"127.0.0.1:1"}, "ssh": ssh,
		}, &st); code != http.StatusAccepted {
			t.Fatalf("submit: %d", code)
		}
		if end := testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second); end.Counts[job.StateError] != 1 {
			t.Fatalf("the ssh job ended with %v, want 1 error", end.Counts)
		}
		return st.ID
	}
	withCred := submit(map[string]any{"command": "uptime", "credential": "deploy"})
	var st statusDoc
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+withCred+"/rerun", nil, &st); code != http.StatusAccepted {
		t.Fatalf("rerun of a credential job: %d %+v", code, st)
	}
	testutil.WaitJob(t, n.Engine, st.ID, 30*time.Second)
	j, err := n.Store.GetJob(context.Background(), st.ID)
	if err != nil || j.Spec.SSH == nil || j.Spec.SSH.Credential != "deploy" || j.SecretsRedacted || j.Spec.SSH.Auth.Password != "" {
		t.Fatalf("the rerun's record: %+v %v", j, err)
	}
	withPassword := submit(map[string]any{"command": "uptime", "user": "ops", "auth": map[string]any{"password": "pw-s3cret"}})
	var e apiError
	if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/"+withPassword+"/rerun", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "credential") {
		t.Errorf("rerun of a job with a password: %d %+v, want 409", code, e)
	}
}
