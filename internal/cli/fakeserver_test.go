package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// fakeServer implements the /api/v1 job contract in memory, enough for the
// client: each status read (poll or event) moves a job one step on.
// Targets named bad-* get no response (connect_refused), slow-* time out,
// the rest answer 200 with a version chosen by index parity.
type fakeServer struct {
	srv *httptest.Server

	// Behaviour, set before the first request.
	steps       int       // status reads until a job is done (default 4)
	submitErr   *APIError // answer every submit with this error
	noEvents    bool      // events endpoint answers 500
	breakEvents bool      // events stream closes after one event, without end
	silentSSE   bool      // events stream sends headers and then nothing
	hold        bool      // jobs stay processing until cancelled
	finalState  string    // terminal state of a finished job (default gathered)
	tick        time.Duration
	cancelHold  bool      // a cancel leaves the job cancelling for good
	cancelErr   *APIError // answer every cancel with this error

	eventsOpened chan string // receives a job id when its event stream starts
	cancelSeen   chan string // receives a job id when a cancel arrives

	mu          sync.Mutex
	jobs        map[string]*fakeJob
	specs       []job.Spec
	cancels     []string
	statusReads int
}

type fakeJob struct {
	id      string
	name    string
	results []job.Result
	step    int
	state   string
}

func newFakeServer(t *testing.T, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	s := &fakeServer{
		steps:        4,
		finalState:   JobGathered,
		tick:         5 * time.Millisecond,
		eventsOpened: make(chan string, 16),
		cancelSeen:   make(chan string, 16),
		jobs:         make(map[string]*fakeJob),
	}
	if configure != nil {
		configure(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", s.submit)
	mux.HandleFunc("GET /api/v1/jobs/{id}", s.status)
	mux.HandleFunc("GET /api/v1/jobs/{id}/events", s.events)
	mux.HandleFunc("GET /api/v1/jobs/{id}/aggregate", s.aggregate)
	mux.HandleFunc("GET /api/v1/jobs/{id}/results", s.results)
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", s.cancel)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) URL() string { return s.srv.URL }

func writeJSONResponse(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg, field string) {
	body := map[string]string{"error": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSONResponse(w, code, body)
}

func (s *fakeServer) submit(w http.ResponseWriter, r *http.Request) {
	var spec job.Spec
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.specs = append(s.specs, spec)
	if s.submitErr != nil {
		writeError(w, s.submitErr.Status, s.submitErr.Message, s.submitErr.Field)
		return
	}
	if len(spec.Targets) == 0 {
		writeError(w, http.StatusBadRequest, "no targets", "targets")
		return
	}
	id := fmt.Sprintf("job-%d", len(s.jobs)+1)
	jr := &fakeJob{id: id, name: spec.Name, state: JobWaiting}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, t := range spec.Targets {
		res := job.Result{Index: i, Host: t.Host, Target: "http://" + t.Host + ":80/", Attempts: 1,
			Worker: "node-a", StartedAt: t0, FinishedAt: t0.Add(time.Millisecond)}
		switch {
		case strings.HasPrefix(t.Host, "bad-"):
			res.State, res.ErrorClass, res.Error = job.StateError, job.ClassConnectRefused, "connection refused"
			res.Value = res.ErrorClass
		case strings.HasPrefix(t.Host, "slow-"):
			res.State, res.ErrorClass, res.Error = job.StateTimeout, job.ClassTimeout, "timeout"
			res.Value = res.ErrorClass
		default:
			res.State, res.StatusCode = job.StateOK, 200
			version := "1.25.3"
			if i%2 == 1 {
				version = "1.24.0"
			}
			res.Body = "version=" + version
			res.Value = "200"
			if spec.Aggregation != nil && spec.Aggregation.Regex != "" {
				res.Value = version
			}
		}
		jr.results = append(jr.results, res)
	}
	s.jobs[id] = jr
	writeJSONResponse(w, http.StatusAccepted, map[string]string{"id": id, "state": JobWaiting})
}

// advance moves a job one step on and returns its status.
func (s *fakeServer) advance(id string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Status{}, false
	}
	s.statusReads++
	if !Terminal(j.state) {
		j.step++
		switch {
		case j.state == stateCancelling:
		case s.hold:
			j.state = JobProcessing
			j.step = 1
		case j.step >= s.steps:
			j.state = s.finalState
		default:
			j.state = JobProcessing
		}
	}
	return s.statusLocked(j), true
}

func (s *fakeServer) statusLocked(j *fakeJob) Status {
	total := len(j.results)
	done := total
	if !Terminal(j.state) || j.state == JobCancelled {
		done = min(total*j.step/s.steps, total)
	}
	st := Status{ID: j.id, Name: j.name, State: j.state, Protocol: "http", Total: total, Sent: done, Done: done,
		Workers:   map[string]WorkerStatus{"node-a": {Requests: int64(done), Responses: int64(done), Concurrency: 10}},
		CreatedAt: Time{time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}}
	for _, r := range j.results[:done] {
		switch r.State {
		case job.StateOK:
			st.Counts.OK++
		case job.StateError:
			st.Counts.Error++
		case job.StateTimeout:
			st.Counts.Timeout++
		case job.StateCancelled:
			st.Counts.Cancelled++
		}
	}
	if j.state == JobCancelled {
		st.Counts.Cancelled += total - done
		st.Done = total
	}
	if j.state == JobFailed {
		st.Reason = "store unavailable"
	}
	if j.state != JobWaiting {
		st.StartedAt = Time{time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC)}
	}
	if Terminal(j.state) {
		st.FinishedAt = Time{time.Date(2026, 11, 22, 10, 0, 3, 500_000_000, time.UTC)}
		st.Rate = float64(total) / 2.5
	}
	return st
}

func (s *fakeServer) status(w http.ResponseWriter, r *http.Request) {
	st, ok := s.advance(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "job not found", "")
		return
	}
	writeJSONResponse(w, http.StatusOK, st)
}

func (s *fakeServer) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.noEvents {
		writeError(w, http.StatusInternalServerError, "events broken", "")
		return
	}
	s.mu.Lock()
	_, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "job not found", "")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	select {
	case s.eventsOpened <- id:
	default:
	}
	if s.silentSSE {
		<-r.Context().Done()
		return
	}
	tick := time.NewTicker(s.tick)
	defer tick.Stop()
	fmt.Fprint(w, ": hello\n\n")
	for {
		st, _ := s.advance(id)
		b, _ := json.Marshal(st)
		name := "progress"
		if Terminal(st.State) {
			name = "end"
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		fl.Flush()
		if name == "end" || s.breakEvents {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func (s *fakeServer) aggregate(w http.ResponseWriter, r *http.Request) {
	by := r.URL.Query().Get("by")
	s.mu.Lock()
	j, ok := s.jobs[r.PathValue("id")]
	var results []job.Result
	if ok {
		results = append(results, j.results...)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "job not found", "")
		return
	}
	idx := map[string]int{}
	var groups []Group
	for _, res := range results {
		var key string
		switch by {
		case ByValue:
			key = res.Value
		case ByStatus:
			key = strconv.Itoa(res.StatusCode)
		case ByErrorClass:
			key = res.ErrorClass
		case ByBody:
			key = res.Body
			if res.State != job.StateOK {
				key = res.ErrorClass
			}
		default:
			writeError(w, http.StatusBadRequest, "bad by", "by")
			return
		}
		i, seen := idx[key]
		if !seen {
			i = len(groups)
			idx[key] = i
			groups = append(groups, Group{Value: key, IsError: res.State != job.StateOK})
		}
		g := &groups[i]
		g.Count++
		if len(g.Hosts) < 20 {
			g.Hosts = append(g.Hosts, res.Host)
		}
		if g.Folded != "" {
			g.Folded += ","
		}
		g.Folded += res.Host
	}
	sort.SliceStable(groups, func(a, b int) bool { return groups[a].Count > groups[b].Count })
	writeJSONResponse(w, http.StatusOK, Aggregate{By: by, Groups: groups})
}

func (s *fakeServer) results(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j, ok := s.jobs[r.PathValue("id")]
	var results []job.Result
	if ok {
		results = append(results, j.results...)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "job not found", "")
		return
	}
	q := r.URL.Query()
	var sel []job.Result
	for _, res := range results {
		if (q.Get("state") == "" || res.State == q.Get("state")) && (q.Get("host") == "" || res.Host == q.Get("host")) {
			sel = append(sel, res)
		}
	}
	if r.Header.Get("Accept") == "application/x-ndjson" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, res := range sel {
			_ = enc.Encode(res)
		}
		return
	}
	cursor, _ := strconv.Atoi(q.Get("cursor"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 1000
	}
	page := ResultsPage{Items: []job.Result{}}
	for _, res := range sel {
		if res.Index < cursor {
			continue
		}
		if len(page.Items) == limit {
			page.NextCursor = strconv.Itoa(res.Index)
			break
		}
		page.Items = append(page.Items, res)
	}
	writeJSONResponse(w, http.StatusOK, page)
}

func (s *fakeServer) cancel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "job not found", "")
		return
	}
	s.cancels = append(s.cancels, j.id)
	select {
	case s.cancelSeen <- j.id:
	default:
	}
	if s.cancelErr != nil {
		writeError(w, s.cancelErr.Status, s.cancelErr.Message, "")
		return
	}
	if !Terminal(j.state) {
		j.state = JobCancelled
		if s.cancelHold {
			j.state = stateCancelling
		}
	}
	writeJSONResponse(w, http.StatusOK, s.statusLocked(j))
}

func (s *fakeServer) lastSpec(t *testing.T) job.Spec {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.specs) == 0 {
		t.Fatal("the server received no spec")
	}
	return s.specs[len(s.specs)-1]
}

func (s *fakeServer) cancelled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cancels...)
}

func (s *fakeServer) reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusReads
}
