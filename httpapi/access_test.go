package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// authAPI serves node n's API with authentication on and returns its URL,
// the server, and a token secret per role.
func authAPI(t *testing.T, n *testutil.Node) (string, *httpapi.Server, map[auth.Role]string) {
	t.Helper()
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Pprof = true
	cfg.Access = httpapi.Access{Tokens: st, Audit: st}
	cfg.Shutdown = func() {}
	cfg.CreateNode = func(context.Context, string, string, string) (string, error) { return "", nil }
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	secrets := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin} {
		secret, hash, err := auth.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutToken(context.Background(), auth.Token{Name: "t-" + r.String(), Role: r, Hash: hash, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		secrets[r] = secret
	}
	return srv.URL, api, secrets
}

// wantRoles is the contract of docs/security.md for the routes a user's
// scripts rely on; every other GET needs viewer at most.
var wantRoles = map[string]auth.Role{
	"GET /livez":                                                   auth.Public,
	"GET /readyz":                                                  auth.Public,
	"GET /metrics":                                                 auth.Viewer,
	"GET /debug/pprof/*name":                                       auth.Admin,
	"POST /api/v1/jobs":                                            auth.Operator,
	"GET /api/v1/jobs":                                             auth.Viewer,
	"GET /api/v1/jobs/:id":                                         auth.Viewer,
	"POST /api/v1/jobs/:id/cancel":                                 auth.Operator,
	"POST /api/v1/jobs/:id/rerun":                                  auth.Operator,
	"DELETE /api/v1/jobs/:id":                                      auth.Operator,
	"PUT /api/v1/nodegroups/:name":                                 auth.Operator,
	"DELETE /api/v1/commands/:name":                                auth.Operator,
	"PUT /api/v1/aggregations/:name":                               auth.Operator,
	"PUT /api/v1/schedules/:name":                                  auth.Operator,
	"DELETE /api/v1/schedules/:name":                               auth.Operator,
	"POST /api/v1/schedules/:name/run":                             auth.Operator,
	"POST /api/v1/cluster/members/:name/enable":                    auth.Admin,
	"POST /api/v1/cluster/members/:name/disable":                   auth.Admin,
	"GET /api/v1/cluster/load":                                     auth.Viewer,
	"GET /api/v1/tokens":                                           auth.Admin,
	"POST /api/v1/tokens":                                          auth.Admin,
	"DELETE /api/v1/tokens/:name":                                  auth.Admin,
	"GET /api/v1/audit":                                            auth.Admin,
	"GET /api/v1/backup":                                           auth.Admin,
	"GET /api/v1/credentials":                                      auth.Admin,
	"GET /api/v1/credentials/:name":                                auth.Admin,
	"PUT /api/v1/credentials/:name":                                auth.Admin,
	"DELETE /api/v1/credentials/:name":                             auth.Admin,
	"GET /api/v1/whoami":                                           auth.Viewer,
	"GET /distributedAgents/shutdownNode":                          auth.Admin,
	"POST /distributedAgents/shutdownNode":                         auth.Admin,
	"GET /distributedAgents/createNode":                            auth.Admin,
	"GET /distributedAgents/resetScheduler":                        auth.Admin,
	"GET /distributedAgents/enableClusterMember":                   auth.Admin,
	"GET /commands/genUpdateSendCommandWithReplaceVarMapAdhocJson": auth.Operator,
	"GET /distributedAgents/queryJobQ":                             auth.Viewer,
	"GET /ui/*filepath":                                            auth.Public,
}

var paramPattern = regexp.MustCompile(`:[a-z]+|\*[a-z]+`)

// Every route of gin's table has a declared role, the roles of the
// contract hold, and each role gets what its route allows: no token 401,
// a lower role 403 naming the role needed, an allowed one neither.
func TestEveryRouteHasARole(t *testing.T) {
	n := testutil.StartNode(t, nil)
	url, api, secrets := authAPI(t, n)
	roles := api.RouteRoles()
	routes := api.Handler().(*gin.Engine).Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		need, ok := roles[key]
		if !ok {
			t.Errorf("route %s has no declared role", key)
			continue
		}
		if want, ok := wantRoles[key]; ok && need != want {
			t.Errorf("route %s needs %s, want %s", key, need, want)
		}
		if rt.Method == http.MethodGet && strings.HasPrefix(rt.Path, "/api/v1/") && need > auth.Viewer && wantRoles[key] == 0 {
			t.Errorf("GET route %s needs %s: reads need viewer at most", key, need)
		}
	}
	for key := range wantRoles {
		if _, ok := roles[key]; !ok {
			t.Errorf("contract route %s is not registered", key)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, rt := range routes {
		need := roles[rt.Method+" "+rt.Path]
		path := paramPattern.ReplaceAllString(rt.Path, "x")
		if strings.Contains(path, "/events") || strings.HasSuffix(path, "/login") {
			continue // a stream, and a route whose own answer is 401 for a bad token
		}
		for _, r := range []auth.Role{auth.Public, auth.Viewer, auth.Operator, auth.Admin} {
			req, _ := http.NewRequest(rt.Method, url+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if r > auth.Public {
				req.Header.Set("Authorization", "Bearer "+secrets[r])
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", rt.Method, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case need > auth.Public && r == auth.Public:
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s without a token: %d, want 401", rt.Method, path, resp.StatusCode)
				}
			case !r.Allows(need):
				var e struct{ Error string }
				_ = json.Unmarshal(body, &e)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(e.Error, need.String()) {
					t.Errorf("%s %s as %s: %d %s, want 403 naming %s", rt.Method, path, r, resp.StatusCode, body, need)
				}
			default:
				if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
					t.Errorf("%s %s as %s (needs %s): %d %s", rt.Method, path, r, need, resp.StatusCode, body)
				}
			}
		}
	}
}

// Past its rate, a token gets 429 with Retry-After; another token and the
// public routes are not held back.
func TestRateLimitPerToken(t *testing.T) {
	n := testutil.StartNode(t, nil)
	st := n.Store.(*store.SQLite)
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Access = httpapi.Access{Tokens: st}
	cfg.RateLimit = 2 // a burst of 4
	api := httpapi.New(cfg, n.Engine, st)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })
	secret := func(name string) string {
		s, hash, _ := auth.NewSecret()
		if err := st.PutToken(context.Background(), auth.Token{Name: name, Role: auth.Viewer, Hash: hash, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := secret("a"), secret("b")
	get := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	limited := 0
	for range 10 {
		if resp := get("/api/v1/jobs", a); resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited < 5 {
		t.Errorf("%d of 10 quick requests limited at 2/s with a burst of 4, want at least 5", limited)
	}
	if resp := get("/api/v1/jobs", b); resp.StatusCode != http.StatusOK {
		t.Errorf("another token: %d", resp.StatusCode)
	}
	if resp := get("/livez", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/livez: %d", resp.StatusCode)
	}
}
