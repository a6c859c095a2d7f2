package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// A bad rollout is a 400 naming its field.
func TestSubmitRejectsBadRollouts(t *testing.T) {
	n := testutil.StartNode(t, nil)
	for _, tc := range []struct {
		name, rollout, field string
	}{
		{"no batches", `{"batches": []}`, "rollout.batches"},
		{"no batches field", `{"pause": "1s"}`, "rollout.batches"},
		{"zero count", `{"batches": [1, "0"]}`, "rollout.batches[1]"},
		{"zero number", `{"batches": [0]}`, "rollout.batches[0]"},
		{"negative count", `{"batches": [5, 10, -1]}`, "rollout.batches[2]"},
		{"share above 100%", `{"batches": ["150%"]}`, "rollout.batches[0]"},
		{"zero share", `{"batches": ["0%"]}`, "rollout.batches[0]"},
		{"not a size", `{"batches": ["ten"]}`, "rollout.batches[0]"},
		{"a fraction", `{"batches": [2.5]}`, "rollout.batches[0]"},
		{"an object", `{"batches": [{}]}`, "rollout.batches[0]"},
		{"negative pause", `{"batches": [1], "pause": "-1s"}`, "rollout.pause"},
		{"pause too long", `{"batches": [1], "pause": "48h"}`, "rollout.pause"},
		{"bad pause", `{"batches": [1], "pause": "soon"}`, "rollout.pause"},
		{"percent above 100", `{"batches": [1], "maxFailurePercent": 101}`, "rollout.maxFailurePercent"},
		{"negative percent", `{"batches": [1], "maxFailurePercent": -1}`, "rollout.maxFailurePercent"},
		{"negative count budget", `{"batches": [1], "maxFailures": -1}`, "rollout.maxFailures"},
		{"unknown field", `{"batches": [1], "serial": 2}`, "rollout.serial"},
		{"approve not a bool", `{"batches": [1], "approve": "yes"}`, "rollout.approve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs", `{"targets": ["h1"], "rollout": `+tc.rollout+`}`, &e)
			if code != http.StatusBadRequest || e.Field != tc.field || e.Error == "" {
				t.Errorf("%d %+v, want 400 naming %s", code, e, tc.field)
			}
		})
	}
}

// Pause and resume through the API: 200 with the status, 409 when they do
// not apply (with a message saying why), 404 for an unknown job; ?state=
// lists paused jobs.
func TestPauseAndResumeThroughAPI(t *testing.T) {
	const hosts = 12
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, func(c *actors.Config) { c.ChunkSize = 5 })
	targets, _ := json.Marshal(fleet.Targets(hosts, f.Addr().Port))
	var st actors.JobStatus
	code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs",
		`{"targets": `+string(targets)+`, "rollout": {"batches": [2, "50%"], "approve": true, "maxFailures": 3}}`, &st)
	if code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, st)
	}
	id := st.ID
	jobURL := n.URL + "/api/v1/jobs/" + id
	waitPaused := func(batch int) actors.JobStatus {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st actors.JobStatus
			if code := testutil.DoJSON(t, "GET", jobURL, nil, &st); code != http.StatusOK {
				t.Fatalf("status: %d", code)
			}
			if st.State == store.JobPaused && st.Rollout != nil && st.Rollout.Batch == batch {
				return st
			}
			if st.Terminal() || time.Now().After(deadline) {
				t.Fatalf("never paused after batch %d: %+v", batch, st)
			}
			time.Sleep(10 * time.Millisecond) // a pause has no outside signal
		}
	}
	st = waitPaused(1)
	ro := st.Rollout
	if ro.Batches != 3 || ro.State != actors.RolloutApproval || len(ro.PerBatch) != 1 || ro.PerBatch[0].To != 2 ||
		ro.Budget.MaxFailures == nil || *ro.Budget.MaxFailures != 3 || ro.Budget.Left == nil || *ro.Budget.Left != 3 {
		t.Fatalf("rollout after batch 1: %+v", ro)
	}
	var page struct{ Items []actors.JobStatus }
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs?state=paused", nil, &page); code != http.StatusOK || len(page.Items) != 1 || page.Items[0].ID != id {
		t.Errorf("paused jobs: %d %+v", code, page)
	}

	var e apiError
	if code := testutil.DoJSON(t, "POST", jobURL+"/pause", nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "already paused") {
		t.Errorf("pause a paused job: %d %+v", code, e)
	}
	if code := testutil.DoJSON(t, "POST", jobURL+"/resume", nil, &st); code != http.StatusOK || st.State == store.JobPaused {
		t.Fatalf("resume: %d %+v", code, st)
	}
	waitPaused(2)
	if code := testutil.DoJSON(t, "POST", jobURL+"/resume", nil, &st); code != http.StatusOK {
		t.Fatalf("resume: %d %+v", code, st)
	}
	fin := testutil.WaitJob(t, n.Engine, id, time.Minute)
	if fin.State != store.JobGathered || fin.Rollout.State != actors.RolloutDone {
		t.Fatalf("final %+v", fin)
	}
	for _, what := range []string{"pause", "resume"} {
		if code := testutil.DoJSON(t, "POST", jobURL+"/"+what, nil, &e); code != http.StatusConflict || !strings.Contains(e.Error, "finished") {
			t.Errorf("%s a finished job: %d %+v", what, code, e)
		}
		if code := testutil.DoJSON(t, "POST", n.URL+"/api/v1/jobs/nope/"+what, nil, &e); code != http.StatusNotFound || !strings.Contains(e.Error, `"nope" not found`) {
			t.Errorf("%s an unknown job: %d %+v", what, code, e)
		}
	}
	if code := testutil.DoJSON(t, "GET", n.URL+"/api/v1/jobs?state=paused", nil, &page); code != http.StatusOK || len(page.Items) != 0 {
		t.Errorf("paused jobs after the end: %d %+v", code, page)
	}
}
