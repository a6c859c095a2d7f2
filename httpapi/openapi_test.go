package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// The API's prefix: the document's server URL, and the routes it describes.
const apiPrefix = "/api/v1"

// loadOpenAPI fetches GET /api/v1/openapi.json from h and loads it.
func loadOpenAPI(t *testing.T, h http.Handler) *openapi3.T {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, apiPrefix+"/openapi.json", nil)
	req.Host = "localhost"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /api/v1/openapi.json: Content-Type %q", ct)
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	return doc
}

// bareAPI is a server for its route table: no engine, no store.
func bareAPI() *httpapi.Server {
	return httpapi.New(httpapi.DefaultConfig(), nil, nil)
}

// The document is valid OpenAPI 3 (its examples included) and is served
// without a token even with authentication on.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	api := bareAPI()
	doc := loadOpenAPI(t, api.Handler())
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != apiPrefix {
		t.Errorf("servers %v, want the one URL %s", doc.Servers, apiPrefix)
	}
	if got := api.RouteRoles()["GET "+apiPrefix+"/openapi.json"]; got != auth.Public {
		t.Errorf("GET /api/v1/openapi.json needs %s, want public", got)
	}
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// specPath turns a gin route path under /api/v1 into the document's form:
// /api/v1/jobs/:id → /jobs/{id}.
func specPath(ginPath string) string {
	return ginParam.ReplaceAllString(strings.TrimPrefix(ginPath, apiPrefix), "{$1}")
}

// Every route of the router under /api/v1 is in the document and every
// operation of the document is routed, each with the router's role as its
// x-salvo-role; operations that need a token document 401, 403 and 429, and
// public ones need no security.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	api := bareAPI()
	doc := loadOpenAPI(t, api.Handler())

	routed := map[string]auth.Role{} // "METHOD /jobs/{id}" → role
	for key, role := range api.RouteRoles() {
		method, path, _ := strings.Cut(key, " ")
		if strings.HasPrefix(path, apiPrefix+"/") {
			routed[method+" "+specPath(path)] = role
		}
	}
	// gin's own table agrees (no /api/v1 route bypasses s.route).
	ginRoutes := map[string]bool{}
	for _, rt := range api.Handler().(*gin.Engine).Routes() {
		if strings.HasPrefix(rt.Path, apiPrefix+"/") {
			ginRoutes[rt.Method+" "+specPath(rt.Path)] = true
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(ginRoutes)), slices.Sorted(maps.Keys(routed))) {
		t.Errorf("gin's routes under %s differ from RouteRoles'", apiPrefix)
	}
	if len(routed) < 30 {
		t.Fatalf("only %d routes under %s", len(routed), apiPrefix)
	}

	described := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			described[method+" "+path] = op
		}
	}
	for _, key := range slices.Sorted(maps.Keys(routed)) {
		if _, ok := described[key]; !ok {
			method, path, _ := strings.Cut(key, " ")
			t.Errorf("route %s %s%s is not in httpapi/openapi.json", method, apiPrefix, path)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(described)) {
		op := described[key]
		role, ok := routed[key]
		if !ok {
			t.Errorf("operation %s of httpapi/openapi.json is not routed", key)
			continue
		}
		if got, _ := op.Extensions["x-salvo-role"].(string); got != role.String() {
			t.Errorf("%s: x-salvo-role %q, the router's role is %q", key, got, role)
		}
		if op.Summary == "" || op.OperationID == "" {
			t.Errorf("%s: no summary or operationId", key)
		}
		if op.Responses.Value("403") == nil || op.Responses.Default() == nil {
			t.Errorf("%s: documents no 403 or no default error", key)
		}
		if role == auth.Public {
			if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s: a public operation needs \"security\": []", key)
			}
			continue
		}
		if op.Security != nil {
			t.Errorf("%s: a %s operation takes the document's security", key, role)
		}
		for _, code := range []string{"401", "429"} {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: a %s operation documents no %s", key, role, code)
			}
		}
	}
}

// memCredentials keeps credentials in memory (internal/server keeps them
// sealed in the store).
type memCredentials struct {
	mu sync.Mutex
	m  map[string]job.Credential
}

func (c *memCredentials) PutCredential(_ context.Context, name string, cr job.Credential) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = cr
	return nil
}

func (c *memCredentials) GetCredential(_ context.Context, name string) (*job.Credential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.m[name]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &cr, nil
}

func (c *memCredentials) ListCredentials(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.m)), nil
}

func (c *memCredentials) DeleteCredential(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[name]; !ok {
		return store.ErrNotFound
	}
	delete(c.m, name)
	return nil
}

// apiCase is one real request: the document must accept it (valid) or
// refuse it, and the server must answer status with a body the document
// describes.
type apiCase struct {
	name   string
	method string
	path   string // under /api/v1; {job} is a finished job's id
	body   string
	role   auth.Role // the token sent; public: none
	valid  bool
	status int
}

// specChecker validates requests and answers against the document.
type specChecker struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newSpecChecker(t *testing.T, doc *openapi3.T) *specChecker {
	t.Helper()
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router of the document: %v", err)
	}
	return &specChecker{router: router, opts: &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		// Whether a credential is valid is the server's to say: the
		// document says how it is sent.
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			r := in.RequestValidationInput.Request
			switch in.SecuritySchemeName {
			case "bearerAuth":
				if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
					return nil
				}
			case "basicAuth":
				if _, _, ok := r.BasicAuth(); ok {
					return nil
				}
			case "sessionCookie":
				if _, err := r.Cookie("salvo_session"); err == nil {
					return nil
				}
			}
			return in.NewError(nil)
		},
	}}
}

// request finds the operation of a request and validates the request.
func (sc *specChecker) request(req *http.Request) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("find route: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: sc.opts}
	return in, openapi3filter.ValidateRequest(context.Background(), in)
}

// response validates an answer to a request the document routes.
func (sc *specChecker) response(in *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: sc.opts}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// Real requests validate against the document (and requests the server
// refuses with 400 are refused by the document too), and the server's
// answers to them validate as well: a document that drifts from the code
// fails here.
func TestOpenAPIRequestsAndAnswers(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 4 })
	port := f.Addr().Port
	n := testutil.StartNode(t, nil)
	// authAPI's tokens are in n's store: they serve this server too, which
	// also keeps credentials.
	_, _, secrets := authAPI(t, n)
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.Credentials = &memCredentials{m: map[string]job.Credential{}}
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })

	sc := newSpecChecker(t, loadOpenAPI(t, api.Handler()))
	client := &http.Client{Timeout: 60 * time.Second}
	jobID := ""
	run := func(t *testing.T, tc apiCase) []byte {
		t.Helper()
		path := apiPrefix + strings.ReplaceAll(tc.path, "{job}", jobID)
		newReq := func(base string) *http.Request {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, base+path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.role > auth.Public {
				req.Header.Set("Authorization", "Bearer "+secrets[tc.role])
			}
			return req
		}
		in, err := sc.request(newReq(""))
		if in == nil {
			t.Fatalf("%s %s: %v", tc.method, path, err)
		}
		var re *openapi3filter.RequestError
		var se *openapi3filter.SecurityRequirementsError
		switch {
		case tc.valid && err != nil:
			t.Errorf("the document refuses %s %s: %v", tc.method, path, err)
		case !tc.valid && err == nil:
			t.Errorf("the document accepts %s %s %s, which the server refuses", tc.method, path, tc.body)
		case !tc.valid && !errors.As(err, &re) && !errors.As(err, &se):
			t.Errorf("%s %s: not a request error: %v", tc.method, path, err)
		}
		resp, err := client.Do(newReq(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status {
			t.Fatalf("%s %s: %d %s, want %d", tc.method, path, resp.StatusCode, body, tc.status)
		}
		want := "application/json"
		if strings.Contains(tc.path, "format=csv") && resp.StatusCode == http.StatusOK {
			want = "text/csv"
		}
		if tc.path == "/backup" && resp.StatusCode == http.StatusOK {
			want = httpapi.BackupContentType
		}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusNoContent && mt != want {
			t.Errorf("%s %s: Content-Type %q", tc.method, path, resp.Header.Get("Content-Type"))
		}
		if err := sc.response(in, resp, body); err != nil {
			t.Errorf("the document refuses the answer %d %s to %s %s: %v", resp.StatusCode, body, tc.method, path, err)
		}
		return body
	}

	// A job to read: a minimal HTTP spec, to the fleet.
	targets, _ := json.Marshal(fleet.Targets(4, port))
	body := run(t, apiCase{name: "submit", method: "POST", path: "/jobs", body: `{"targets": ` + string(targets) + `}`,
		role: auth.Operator, valid: true, status: http.StatusAccepted})
	var submitted struct{ ID string }
	if err := json.Unmarshal(body, &submitted); err != nil || submitted.ID == "" {
		t.Fatalf("submit answer %s: %v", body, err)
	}
	jobID = submitted.ID
	testutil.WaitJob(t, n.Engine, jobID, 60*time.Second)

	host := fleet.HostAddr(1)
	sshSpec := `{
		"name": "nginx-active",
		"targets": ["deploy@127.0.0.1:1", {"host": "127.0.0.1:1", "vars": {"UNIT": "nginx"}}],
		"protocol": "ssh",
		"ssh": {"user": "deploy", "port": 22, "command": "systemctl is-active ${UNIT}",
			"auth": {"privateKeyFile": "/nonexistent/id_ed25519", "passphrase": "s3cret"},
			"hostKeyPolicy": "accept-new", "knownHostsFile": "/nonexistent/known_hosts", "sudo": false},
		"vars": {"UNIT": "sshd"},
		"maxConcurrency": 10, "maxWorkers": 1, "ratePerSecond": 50,
		"timeouts": {"connect": "2s", "request": 10}, "retries": {"max": 1, "backoff": "100ms"},
		"failOver": true, "tags": [], "strategy": "job-count-aware",
		"aggregation": {"regex": "(\\w+)"},
		"expect": {"exitCodes": [0, 3], "bodyRegex": "^(active|inactive)"},
		"maxBodyBytes": 4096, "throttle": false
	}`
	fullHTTP := `{
		"name": "versions", "targets": ` + string(targets) + `, "protocol": "http",
		"http": {"method": "get", "scheme": "http", "port": ` + fmt.Sprint(port) + `, "path": "/v/$INDEX",
			"headers": {"X-Target": "$HOST", "Authorization": "Bearer s3cret"}, "insecureSkipVerify": false,
			"retryNonIdempotent": false},
		"expect": {"status": ["2xx", 304], "bodyRegex": "."},
		"timeouts": {"connect": "3s", "request": "15s"}
	}`
	cases := []apiCase{
		{"full http job", "POST", "/jobs", fullHTTP, auth.Operator, true, 202},
		{"full ssh job with expect", "POST", "/jobs", sshSpec, auth.Admin, true, 202},
		{"ssh job with nodesets, exclude and a config file", "POST", "/jobs", `{"targets": ["web-[1-3]", {"host": "db-[1-2]", "vars": {"R": "db"}}], "exclude": ["web-2"],
			"protocol": "ssh", "ssh": {"command": "uptime", "configFile": "/nonexistent/ssh_config"}}`, auth.Admin, true, 202},
		{"bad nodeset", "POST", "/jobs", `{"targets": ["web-[3-1]"]}`, auth.Operator, true, 400},
		{"unknown field", "POST", "/jobs", `{"targets": ["h1"], "bogus": 1}`, auth.Operator, false, 400},
		{"targets and nodeGroup", "POST", "/jobs", `{"targets": ["h1"], "nodeGroup": "web"}`, auth.Operator, false, 400},
		{"neither targets nor nodeGroup", "POST", "/jobs", `{"http": {"path": "/"}}`, auth.Operator, false, 400},
		{"unknown protocol", "POST", "/jobs", `{"targets": ["h1"], "protocol": "gopher"}`, auth.Operator, false, 400},
		{"bad expect status", "POST", "/jobs", `{"targets": ["h1"], "expect": {"status": ["2xy"]}}`, auth.Operator, false, 400},
		{"exit code out of range", "POST", "/jobs", `{"targets": ["h1"], "protocol": "ssh", "ssh": {"command": "true"}, "expect": {"exitCodes": [256]}}`, auth.Operator, false, 400},
		{"too many retries", "POST", "/jobs", `{"targets": ["h1"], "retries": {"max": 11}}`, auth.Operator, false, 400},
		{"rollout job", "POST", "/jobs", `{"targets": ` + string(targets) + `, "rollout": {"batches": [1, "50%", " 100 % "], "pause": "1ms", "maxFailures": 2, "maxFailurePercent": 12.5, "approve": false}}`, auth.Operator, true, 202},
		{"rollout, zero batch", "POST", "/jobs", `{"targets": ["h1"], "rollout": {"batches": [0]}}`, auth.Operator, false, 400},
		{"rollout, no batches", "POST", "/jobs", `{"targets": ["h1"], "rollout": {"batches": []}}`, auth.Operator, false, 400},
		{"rollout, share above 100%", "POST", "/jobs", `{"targets": ["h1"], "rollout": {"batches": ["150%"]}}`, auth.Operator, true, 400},
		{"rollout, percent above 100", "POST", "/jobs", `{"targets": ["h1"], "rollout": {"batches": [1], "maxFailurePercent": 101}}`, auth.Operator, false, 400},
		{"submit without a token", "POST", "/jobs", `{"targets": ["h1"]}`, auth.Public, false, 401},
		{"submit as viewer", "POST", "/jobs", `{"targets": ["h1"]}`, auth.Viewer, true, 403},

		{"list jobs", "GET", "/jobs?state=gathered&limit=10", "", auth.Viewer, true, 200},
		{"list jobs, bad limit", "GET", "/jobs?limit=0", "", auth.Viewer, false, 400},
		{"list jobs, bad state", "GET", "/jobs?state=weird", "", auth.Viewer, false, 400},
		{"status", "GET", "/jobs/{job}", "", auth.Viewer, true, 200},
		{"status with wait", "GET", "/jobs/{job}?wait=30s", "", auth.Viewer, true, 200},
		{"bad wait", "GET", "/jobs/{job}?wait=forever", "", auth.Viewer, true, 400},
		{"unknown job", "GET", "/jobs/nope", "", auth.Viewer, true, 404},
		{"cancel a finished job", "POST", "/jobs/{job}/cancel", "", auth.Operator, true, 409},
		{"pause a finished job", "POST", "/jobs/{job}/pause", "", auth.Operator, true, 409},
		{"resume a finished job", "POST", "/jobs/{job}/resume", "", auth.Operator, true, 409},
		{"pause an unknown job", "POST", "/jobs/nope/pause", "", auth.Operator, true, 404},
		{"resume as a viewer", "POST", "/jobs/{job}/resume", "", auth.Viewer, true, 403},
		{"list paused jobs", "GET", "/jobs?state=paused", "", auth.Viewer, true, 200},
		{"list jobs by name and text", "GET", "/jobs?name=n&q=health&limit=5", "", auth.Viewer, true, 200},
		{"list jobs, name too long", "GET", "/jobs?name=" + strings.Repeat("n", 300), "", auth.Viewer, false, 400},
		{"rerun every target", "POST", "/jobs/{job}/rerun", `{"states": ["ok", "failed", "error", "timeout", "skipped", "cancelled"]}`, auth.Operator, true, 202},
		{"rerun, unknown state", "POST", "/jobs/{job}/rerun", `{"states": ["weird"]}`, auth.Operator, false, 400},
		{"rerun as a viewer", "POST", "/jobs/{job}/rerun", "", auth.Viewer, true, 403},
		{"rerun an unknown job", "POST", "/jobs/nope/rerun", "", auth.Operator, true, 404},
		{"delete an unknown job", "DELETE", "/jobs/nope", "", auth.Operator, true, 404},
		{"results by states and host", "GET", "/jobs/{job}/results?state=ok,failed&host=" + host + ":" + fmt.Sprint(port) + "&limit=100", "", auth.Viewer, true, 200},
		{"results by repeated states", "GET", "/jobs/{job}/results?state=ok&state=timeout&q=x&cursor=0", "", auth.Viewer, true, 200},
		{"results page", "GET", "/jobs/{job}/results?limit=2", "", auth.Viewer, true, 200},
		{"results, unknown state", "GET", "/jobs/{job}/results?state=ok,weird", "", auth.Viewer, false, 400},
		{"results, bad host", "GET", "/jobs/{job}/results?host=a%20b", "", auth.Viewer, true, 400},
		{"aggregate", "GET", "/jobs/{job}/aggregate?by=value&limit=10", "", auth.Viewer, true, 200},
		{"aggregate, unknown key", "GET", "/jobs/{job}/aggregate?by=nope", "", auth.Viewer, false, 400},
		{"group", "GET", "/jobs/{job}/group?by=value&value=200&limit=10", "", auth.Viewer, true, 200},
		{"group without value or index", "GET", "/jobs/{job}/group?by=value", "", auth.Viewer, true, 400}, // "one of value and index" is not a schema
		{"group by index", "GET", "/jobs/{job}/group?by=body&index=0", "", auth.Viewer, true, 200},
		{"group by index and stderr", "GET", "/jobs/{job}/group?by=body&index=0&stderr=same", "", auth.Viewer, true, 200},
		{"group, bad stderr", "GET", "/jobs/{job}/group?by=body&index=0&stderr=other", "", auth.Viewer, false, 400},
		{"aggregate by stderr", "GET", "/jobs/{job}/aggregate?by=stderr", "", auth.Viewer, true, 200},
		{"results as CSV", "GET", "/jobs/{job}/results?format=csv&state=ok", "", auth.Viewer, true, 200},
		{"results, unknown format", "GET", "/jobs/{job}/results?format=xml", "", auth.Viewer, false, 400},
		{"rate", "GET", "/jobs/{job}/rate", "", auth.Viewer, true, 200},
		{"rate in 10 spans", "GET", "/jobs/{job}/rate?buckets=10", "", auth.Viewer, true, 200},
		{"rate, too many spans", "GET", "/jobs/{job}/rate?buckets=500", "", auth.Viewer, false, 400},
		{"rate of an unknown job", "GET", "/jobs/nope/rate", "", auth.Viewer, true, 404},
		{"rate without a token", "GET", "/jobs/{job}/rate", "", auth.Public, false, 401},

		{"members", "GET", "/cluster/members", "", auth.Viewer, true, 200},
		{"cluster load", "GET", "/cluster/load", "", auth.Viewer, true, 200},
		{"enable a member", "POST", "/cluster/members/node-a/enable", "", auth.Admin, true, 200},
		{"enable as operator", "POST", "/cluster/members/node-a/enable", "", auth.Operator, true, 403},
		{"raft outside a group", "GET", "/cluster/raft", "", auth.Viewer, true, 409},
		{"raft transfer without to", "POST", "/cluster/raft/transfer", "", auth.Admin, false, 409},

		{"put a node group", "PUT", "/nodegroups/web", `{"hosts": ` + string(targets) + `}`, auth.Operator, true, 200},
		{"empty node group", "PUT", "/nodegroups/empty", `{"hosts": []}`, auth.Operator, false, 400},
		{"node group job", "POST", "/jobs", `{"nodeGroup": "web", "http": {"path": "/"}}`, auth.Operator, true, 202},
		{"get a node group", "GET", "/nodegroups/web", "", auth.Viewer, true, 200},
		{"list node groups", "GET", "/nodegroups", "", auth.Viewer, true, 200},
		{"put a command", "PUT", "/commands/version", `{"http": {"path": "/version", "headers": {"X-Api-Key": "k"}}, "aggregation": {"regex": "v=(\\S+)"}}`, auth.Operator, true, 200},
		{"command with targets", "PUT", "/commands/bad", `{"targets": ["h1"]}`, auth.Operator, true, 400},
		{"get a command", "GET", "/commands/version", "", auth.Viewer, true, 200},
		{"put an aggregation", "PUT", "/aggregations/version", `{"regex": "version=(\\S+)"}`, auth.Operator, true, 200},
		{"aggregation without regex", "PUT", "/aggregations/bad", `{}`, auth.Operator, false, 400},
		{"get an aggregation", "GET", "/aggregations/version", "", auth.Viewer, true, 200},
		{"delete an aggregation", "DELETE", "/aggregations/version", "", auth.Operator, true, 204},
		{"delete it again", "DELETE", "/aggregations/version", "", auth.Operator, true, 404},

		{"put a plain command", "PUT", "/commands/home", `{"http": {"path": "/"}}`, auth.Operator, true, 200},
		{"put a schedule of a command", "PUT", "/schedules/nightly", `{"cron": "0 3 * * *", "command": "home", "nodeGroup": "web", "timezone": "Europe/Paris"}`, auth.Operator, true, 200},
		{"put a schedule of a spec", "PUT", "/schedules/poll", `{"cron": "@every 1h", "catchUp": "skip", "enabled": true, "spec": {"targets": ` + string(targets) + `, "http": {"path": "/"}}}`, auth.Operator, true, 200},
		{"schedule, bad cron", "PUT", "/schedules/bad", `{"cron": "61 * * * *", "command": "home", "nodeGroup": "web"}`, auth.Operator, true, 400},
		{"schedule, command with secrets", "PUT", "/schedules/bad", `{"cron": "@daily", "command": "version", "nodeGroup": "web"}`, auth.Operator, true, 400},
		{"schedule, unknown node group", "PUT", "/schedules/bad", `{"cron": "@daily", "command": "home", "nodeGroup": "nope"}`, auth.Operator, true, 400},
		{"schedule, unknown field", "PUT", "/schedules/bad", `{"cron": "@daily", "command": "home", "nodeGroup": "web", "every": 1}`, auth.Operator, false, 400},
		{"schedule, bad catch-up", "PUT", "/schedules/bad", `{"cron": "@daily", "command": "home", "nodeGroup": "web", "catchUp": "twice"}`, auth.Operator, false, 400},
		{"schedule without cron", "PUT", "/schedules/bad", `{"command": "home", "nodeGroup": "web"}`, auth.Operator, false, 400},
		{"schedule as a viewer", "PUT", "/schedules/bad", `{"cron": "@daily", "command": "home", "nodeGroup": "web"}`, auth.Viewer, true, 403},
		{"get a schedule", "GET", "/schedules/nightly", "", auth.Viewer, true, 200},
		{"unknown schedule", "GET", "/schedules/nope", "", auth.Viewer, true, 404},
		{"list schedules", "GET", "/schedules", "", auth.Viewer, true, 200},
		{"run a schedule", "POST", "/schedules/poll/run", "", auth.Operator, true, 202},
		{"run an unknown schedule", "POST", "/schedules/nope/run", "", auth.Operator, true, 404},
		{"schedule history", "GET", "/schedules/poll/history?limit=5", "", auth.Viewer, true, 200},
		{"schedule history, bad limit", "GET", "/schedules/poll/history?limit=0", "", auth.Viewer, false, 400},
		{"list a schedule's jobs", "GET", "/jobs?schedule=poll", "", auth.Viewer, true, 200},
		{"delete a schedule", "DELETE", "/schedules/nightly", "", auth.Operator, true, 204},
		{"delete it again", "DELETE", "/schedules/nightly", "", auth.Operator, true, 404},

		{"whoami", "GET", "/whoami", "", auth.Viewer, true, 200},
		{"create a token", "POST", "/tokens", `{"name": "ci", "role": "operator", "expires": "720h", "scope": ["web"]}`, auth.Admin, true, 201},
		{"create it again", "POST", "/tokens", `{"name": "ci", "role": "operator"}`, auth.Admin, true, 409},
		{"unknown role", "POST", "/tokens", `{"name": "x", "role": "root"}`, auth.Admin, false, 400},
		{"list tokens", "GET", "/tokens", "", auth.Admin, true, 200},
		{"revoke a token", "DELETE", "/tokens/ci", "", auth.Admin, true, 204},
		{"audit", "GET", "/audit?limit=5&since=2020-01-01T00:00:00Z", "", auth.Admin, true, 200},
		{"audit, bad since", "GET", "/audit?since=yesterday", "", auth.Admin, false, 400},
		{"login", "POST", "/login", `{"token": "` + secrets[auth.Viewer] + `"}`, auth.Public, true, 200},
		{"login, unknown token", "POST", "/login", `{"token": "salvo_nope"}`, auth.Public, true, 401},
		{"logout", "POST", "/logout", "", auth.Public, true, 204},

		{"put a credential", "PUT", "/credentials/deploy", `{"user": "deploy", "privateKeyFile": "/etc/salvo/keys/deploy", "knownHostsFile": "/etc/salvo/known_hosts", "password": "pw"}`, auth.Admin, true, 200},
		{"relative key path", "PUT", "/credentials/bad", `{"privateKeyFile": "keys/deploy"}`, auth.Admin, true, 400},
		{"get a credential", "GET", "/credentials/deploy", "", auth.Admin, true, 200},
		{"list credentials", "GET", "/credentials", "", auth.Admin, true, 200},
		// The engine resolves ssh.credential (internal/server gives it the
		// credentials); this one keeps none.
		{"ssh job naming a credential", "POST", "/jobs", `{"targets": ["127.0.0.1:1"], "protocol": "ssh", "ssh": {"command": "uptime", "credential": "deploy"}}`, auth.Operator, true, 400},
		{"delete a credential", "DELETE", "/credentials/deploy", "", auth.Admin, true, 204},
		{"backup", "GET", "/backup", "", auth.Admin, true, 200},
		{"backup as operator", "GET", "/backup", "", auth.Operator, true, 403},
		{"backup without a token", "GET", "/backup", "", auth.Public, false, 401},
		{"the document", "GET", "/openapi.json", "", auth.Public, true, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}

	// A rollout waiting 10 minutes between its batches: its status, a
	// pause, a resume (the next batch starts at once) and a cancel.
	body = run(t, apiCase{name: "rollout with a pause", method: "POST", path: "/jobs", body: `{"targets": ` + string(targets) + `, "rollout": {"batches": [1], "pause": "10m", "maxFailurePercent": 50}}`,
		role: auth.Operator, valid: true, status: http.StatusAccepted})
	var slow struct{ ID string }
	if err := json.Unmarshal(body, &slow); err != nil || slow.ID == "" {
		t.Fatalf("submit answer %s: %v", body, err)
	}
	waitBatch := func(batch int) {
		t.Helper()
		for i := 0; ; i++ {
			st, err := n.Engine.Status(context.Background(), slow.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ro := st.Rollout; ro != nil && ro.State == actors.RolloutWaiting && ro.Batch == batch {
				return
			}
			if i > 3000 || st.Terminal() {
				t.Fatalf("the rollout never waited after batch %d: %+v", batch, st)
			}
			time.Sleep(10 * time.Millisecond) // the batch's end has no outside signal
		}
	}
	waitBatch(1)
	run(t, apiCase{name: "waiting rollout's status", method: "GET", path: "/jobs/" + slow.ID, role: auth.Viewer, valid: true, status: 200})
	run(t, apiCase{name: "pause", method: "POST", path: "/jobs/" + slow.ID + "/pause", role: auth.Operator, valid: true, status: 200})
	run(t, apiCase{name: "pause again", method: "POST", path: "/jobs/" + slow.ID + "/pause", role: auth.Operator, valid: true, status: 409})
	run(t, apiCase{name: "resume", method: "POST", path: "/jobs/" + slow.ID + "/resume", role: auth.Operator, valid: true, status: 200})
	waitBatch(2)
	run(t, apiCase{name: "resume a running job", method: "POST", path: "/jobs/" + slow.ID + "/resume", role: auth.Operator, valid: true, status: 409})
	run(t, apiCase{name: "cancel the rollout", method: "POST", path: "/jobs/" + slow.ID + "/cancel", role: auth.Operator, valid: true, status: 200})
	testutil.WaitJob(t, n.Engine, slow.ID, time.Minute)
	run(t, apiCase{name: "a cancelled rollout's status", method: "GET", path: "/jobs/" + slow.ID, role: auth.Viewer, valid: true, status: 200})

	// The answers above validate as wholes; these are what they hold.
	var page struct {
		Items      []job.Result `json:"items"`
		NextCursor string       `json:"nextCursor"`
	}
	body = run(t, apiCase{name: "results", method: "GET", path: "/jobs/{job}/results?state=ok,failed&host=" + host,
		role: auth.Viewer, valid: true, status: 200})
	if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != 1 || page.Items[0].Host != host {
		t.Errorf("results of host %s: %s (%v)", host, body, err)
	}
	var e struct{ Error, Field string }
	body = run(t, apiCase{name: "bad spec", method: "POST", path: "/jobs", body: `{"targets": ["h1"], "timeouts": {"connect": "3 parsecs"}}`,
		role: auth.Operator, valid: true, status: 400})
	if err := json.Unmarshal(body, &e); err != nil || e.Field != "timeouts.connect" || e.Error == "" {
		t.Errorf("bad duration: %s (%v), want an error naming timeouts.connect", body, err)
	}
}
