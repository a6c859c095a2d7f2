package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// The request bodies of REST Commander's distributed README, as it gives
// them (trailing commas and spaces included).
const (
	seedAsyncBody = `{
  "nodeGroupType": "node_list", 
  "agentCommandType": "GET_VI",
  "localMode": false,
  "failOver": true,
  "maxConcNum": 500
}`
	seedJobInfoBody = `{
  "jobId": "6c4b8302-4370-46c1-a4ab-008c1e1ddddd"
}`
	seedSearchFqdnBody = `{
  "jobId": "59d23705-e420-4f74-8972-ea55955be752", 
  "fqdn": "127.0.0.1", 
}`
	seedCreateNodeBody = `{
  "port": 2551, 
  "masterUrl": "127.0.0.1:2551", 
}`
	seedMemberBody = `{
  "url": "127.0.0.1", 
  "port": 2551, 
}`
)

// rcRaw sends a body as it is and returns the status and the answer.
func rcRaw(t *testing.T, method, url, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(raw)
}

// putDef stores a definition through /api/v1.
func putDef(t *testing.T, base, path string, body any) {
	t.Helper()
	if code := testutil.DoJSON(t, "PUT", base+"/api/v1/"+path, body, nil); code != 200 {
		t.Fatalf("put %s: %d", path, code)
	}
}

func TestRCSeedBodiesAreAccepted(t *testing.T) {
	const hosts = 3
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	putDef(t, n.URL, "nodegroups/NODE_LIST", map[string]any{"hosts": fleet.Targets(hosts, f.Addr().Port)})
	putDef(t, n.URL, "commands/GET_VI", map[string]any{"http": map[string]any{"path": "/version"}})
	// The seed's job ids and host stand for this job's.
	sub := func(body, id string) string {
		body = strings.ReplaceAll(body, "6c4b8302-4370-46c1-a4ab-008c1e1ddddd", id)
		body = strings.ReplaceAll(body, "59d23705-e420-4f74-8972-ea55955be752", id)
		return strings.ReplaceAll(body, `"127.0.0.1"`, `"`+fleet.HostAddr(1)+`"`)
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		for _, ctype := range []string{"application/json", ""} {
			t.Run(method+" "+ctype, func(t *testing.T) {
				code, id := rcRaw(t, method, n.URL+"/commands/generateUpdateSendAgentCommandToNodeGroupForAsyncPolling", ctype, seedAsyncBody)
				if code != 200 || strings.ContainsAny(id, "{\" ") {
					t.Fatalf("async: %d %s", code, id)
				}
				testutil.WaitJob(t, n.Engine, id, time.Minute)

				code, raw := rcRaw(t, method, n.URL+"/distributedAgents/queryJobInfo", ctype, sub(seedJobInfoBody, id))
				var info jobInfo
				if code != 200 || json.Unmarshal([]byte(raw), &info) != nil {
					t.Fatalf("queryJobInfo: %d %s", code, raw)
				}
				if info["jobId"] != id || info["nodeGroupType"] != "NODE_LIST" || info["agentCommandType"] != "GET_VI" ||
					info.num("maxConcNum") != 500 || info.num("totJobNum") != hosts || info["state"] != "gathered" {
					t.Errorf("queryJobInfo: %v", info)
				}

				code, raw = rcRaw(t, method, n.URL+"/distributedAgents/searchFqdn", ctype, sub(seedSearchFqdnBody, id))
				var nd struct {
					Fqdn    string                     `json:"fqdn"`
					DataMap map[string]json.RawMessage `json:"dataMap"`
				}
				if code != 200 || json.Unmarshal([]byte(raw), &nd) != nil || nd.Fqdn != fleet.HostAddr(1) || nd.DataMap["GET_VI"] == nil {
					t.Errorf("searchFqdn: %d %s", code, raw)
				}

				for _, tc := range []struct{ path, want string }{
					{"disableClusterMember", `"127.0.0.1:2551 has been disabled."`},
					{"enableClusterMember", `"127.0.0.1:2551 has been enabled."`},
				} {
					if code, raw := rcRaw(t, method, n.URL+"/distributedAgents/"+tc.path, ctype, seedMemberBody); code != 200 || raw != tc.want {
						t.Errorf("%s: %d %s, want %s", tc.path, code, raw, tc.want)
					}
				}
				// Read, and refused only because this node has no cluster.
				code, raw = rcRaw(t, method, n.URL+"/distributedAgents/createNode", ctype, seedCreateNodeBody)
				if code != http.StatusNotImplemented || !strings.Contains(raw, "masterUrl 127.0.0.1:2551") {
					t.Errorf("createNode: %d %s, want 501 naming the masterUrl", code, raw)
				}
			})
		}
	}

	// Gson's other leniencies, on an adhoc request.
	body := fmt.Sprintf(`// REST Commander's Gson read this
{
  targetNodes: ['%s'; '%s',],
  'useNewAgentCommand': TRUE,
  newAgentCommandLine = "GET_V GET http %d /version 10 0 0",
  "willAggregateResponse" => true, /* by status code */
  "aggregationType": SUPERMAN_SPECIAL_STATUS_CODE,
  "maxConcNum": 10.0,
}`, fleet.HostAddr(0), fleet.HostAddr(2), f.Addr().Port)
	code, raw := rcRaw(t, http.MethodPost, n.URL+"/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", "", body)
	var agg struct {
		AggregationMap map[string]string `json:"aggregationMap"`
	}
	if code != 200 || json.Unmarshal([]byte(raw), &agg) != nil || !maps.Equal(agg.AggregationMap, map[string]string{"200": "2"}) {
		t.Errorf("lenient adhoc body: %d %s", code, raw)
	}

	// A list given as JSON text in a form value is read the same way.
	form := fmt.Sprintf("targetNodes=%s&useNewAgentCommand=true&newAgentCommandLine=GET_V+GET+http+%d+/version+10+0+0"+
		"&willAggregateResponse=true&aggregationType=SUPERMAN_SPECIAL_STATUS_CODE",
		`['`+fleet.HostAddr(0)+`',]`, f.Addr().Port)
	code, raw = rcRaw(t, http.MethodPost, n.URL+"/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", "application/x-www-form-urlencoded", form)
	if code != 200 || json.Unmarshal([]byte(raw), &agg) != nil || !maps.Equal(agg.AggregationMap, map[string]string{"200": "1"}) {
		t.Errorf("lenient list in a form: %d %s", code, raw)
	}

	// What even Gson could not read is refused, naming where.
	code, raw = rcRaw(t, http.MethodPost, n.URL+"/distributedAgents/queryJobInfo", "application/json", "{\n  \"jobId\": \"x\"\n  \"fqdn\": 1}")
	var e apiError
	if code != 400 || json.Unmarshal([]byte(raw), &e) != nil || !strings.Contains(e.Error, "invalid JSON body: line 3") {
		t.Errorf("malformed body: %d %s", code, raw)
	}
}

func TestRCNamesIgnoreCase(t *testing.T) {
	const hosts = 2
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	group := map[string]any{"hosts": fleet.Targets(hosts, f.Addr().Port)}
	cmd := map[string]any{"http": map[string]any{"path": "/version"}}
	agg := map[string]any{"regex": `version=(\S+)`}
	for _, name := range []string{"NODE_LIST", "web"} {
		putDef(t, n.URL, "nodegroups/"+name, group)
	}
	for _, name := range []string{"GET_VI", "cmd_a"} {
		putDef(t, n.URL, "commands/"+name, cmd)
	}
	for _, name := range []string{"PATTERN_V", "agg_x"} {
		putDef(t, n.URL, "aggregations/"+name, agg)
	}
	// The API refuses a name that differs from another only by case; a
	// config file or an older store can still hold such pairs: store them
	// directly.
	for kind, body := range map[string]any{store.KindNodeGroup: group, store.KindCommand: cmd, store.KindAggregation: agg} {
		name := map[string]string{store.KindNodeGroup: "WEB", store.KindCommand: "CMD_A", store.KindAggregation: "AGG_X"}[kind]
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Store.PutDefinition(context.Background(), kind, name, b); err != nil {
			t.Fatal(err)
		}
	}
	async := "/commands/generateUpdateSendAgentCommandToNodeGroupForAsyncPolling"
	adhoc := "/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson"
	line := fmt.Sprintf("GET_V GET http %d /version 10 0 0", f.Addr().Port)
	nodes := fleet.Targets(hosts, f.Addr().Port)
	cases := []struct {
		name, path string
		params     map[string]any
		// On success: the names the job records, or the aggregation.
		group, command string
		agg            map[string]string
		// On failure: the field and the names the 400 mentions.
		field   string
		mention []string
	}{
		{name: "lower case", path: async, params: map[string]any{"nodeGroupType": "node_list", "agentCommandType": "get_vi"},
			group: "NODE_LIST", command: "GET_VI"},
		{name: "mixed case", path: async, params: map[string]any{"nodeGroupType": "node_List", "agentCommandType": "Get_Vi"},
			group: "NODE_LIST", command: "GET_VI"},
		{name: "exact match wins", path: async, params: map[string]any{"nodeGroupType": "web", "agentCommandType": "CMD_A"},
			group: "web", command: "CMD_A"},
		{name: "exact match wins upper", path: async, params: map[string]any{"nodeGroupType": "WEB", "agentCommandType": "cmd_a"},
			group: "WEB", command: "cmd_a"},
		{name: "ambiguous node group", path: async, params: map[string]any{"nodeGroupType": "Web", "agentCommandType": "GET_VI"},
			field: "nodeGroupType", mention: []string{`"Web" is ambiguous`, `"WEB"`, `"web"`}},
		{name: "ambiguous command", path: async, params: map[string]any{"nodeGroupType": "web", "agentCommandType": "Cmd_A"},
			field: "agentCommandType", mention: []string{`"Cmd_A" is ambiguous`, `"CMD_A"`, `"cmd_a"`}},
		{name: "ambiguous adhoc command", path: adhoc, params: map[string]any{"targetNodes": nodes, "agentCommandType": "cMD_a"},
			field: "agentCommandType", mention: []string{`"CMD_A"`, `"cmd_a"`}},
		{name: "unknown stays unknown", path: async, params: map[string]any{"nodeGroupType": "node_lists", "agentCommandType": "GET_VI"},
			field: "nodeGroupType", mention: []string{"unknown node group", "node_lists"}},
		{name: "aggregation", path: adhoc, params: map[string]any{"targetNodes": nodes, "agentCommandType": "get_vi",
			"willAggregateResponse": true, "aggregationType": "pattern_v"}, agg: map[string]string{"v1": "2"}},
		{name: "status code aggregation", path: adhoc, params: map[string]any{"targetNodes": nodes, "agentCommandType": "GET_VI",
			"willAggregateResponse": true, "aggregationType": "superman_special_status_code"}, agg: map[string]string{"200": "2"}},
		{name: "ambiguous aggregation", path: adhoc, params: map[string]any{"targetNodes": nodes, "agentCommandType": "GET_VI",
			"willAggregateResponse": true, "aggregationType": "Agg_X"},
			field: "aggregationType", mention: []string{`"AGG_X"`, `"agg_x"`}},
		{name: "aggregation of a command line", path: adhoc, params: map[string]any{"targetNodes": nodes, "useNewAgentCommand": true,
			"newAgentCommandLine": fmt.Sprintf("GET_V GET http %d /version 10 pattern_V 0", f.Addr().Port), "willAggregateResponse": true},
			agg: map[string]string{"v1": "2"}},
		{name: "ambiguous aggregation of a command line", path: adhoc, params: map[string]any{"targetNodes": nodes, "useNewAgentCommand": true,
			"newAgentCommandLine": strings.Replace(line, " 0 0", " Agg_X 0", 1)},
			field: "newAgentCommandLine", mention: []string{`"AGG_X"`, `"agg_x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw, h := rcCall(t, rcVariants[2], n.URL, tc.path, tc.params)
			switch {
			case tc.field != "":
				var e apiError
				if code != 400 || json.Unmarshal(raw, &e) != nil || e.Field != tc.field {
					t.Fatalf("%d %s, want 400 naming %s", code, raw, tc.field)
				}
				for _, m := range tc.mention {
					if !strings.Contains(e.Error, m) {
						t.Errorf("error %q does not mention %s", e.Error, m)
					}
				}
			case tc.agg != nil:
				var agg struct {
					AggregationMap map[string]string `json:"aggregationMap"`
				}
				if code != 200 || json.Unmarshal(raw, &agg) != nil || !maps.Equal(agg.AggregationMap, tc.agg) {
					t.Errorf("%d %s, want aggregationMap %v", code, raw, tc.agg)
				}
				if tc.params["agentCommandType"] != nil {
					var info jobInfo
					rcJSON(t, rcVariants[0], n.URL, "/distributedAgents/queryJobInfo", map[string]any{"jobId": h.Get(httpapi.JobIDHeader)}, 200, &info)
					if info["agentCommandType"] != "GET_VI" {
						t.Errorf("agentCommandType %v, want the stored name GET_VI", info["agentCommandType"])
					}
				}
			default:
				if code != 200 {
					t.Fatalf("%d %s", code, raw)
				}
				id := string(raw)
				testutil.WaitJob(t, n.Engine, id, time.Minute)
				var info jobInfo
				rcJSON(t, rcVariants[0], n.URL, "/distributedAgents/queryJobInfo", map[string]any{"jobId": id}, 200, &info)
				if info["nodeGroupType"] != tc.group || info["agentCommandType"] != tc.command || info.num("totJobNum") != hosts {
					t.Errorf("job of %v: nodeGroupType %v agentCommandType %v totJobNum %v, want %s %s %d",
						tc.params, info["nodeGroupType"], info["agentCommandType"], info["totJobNum"], tc.group, tc.command, hosts)
				}
			}
		})
	}
}

// gossipMembership is a cluster's view with this node alone in it.
type gossipMembership struct{}

func (gossipMembership) Nodes() []actors.NodeInfo {
	return []actors.NodeInfo{{Name: "node-a", Roles: []string{"master", "worker"}, GossipAddr: "127.0.0.1:7946", State: "alive", Capacity: 2500}}
}

func TestRCCreateNodeAnswers(t *testing.T) {
	type call struct{ port, master string }
	cases := []struct {
		name       string
		membership actors.Membership
		hookErr    error
		want       int
		wantBody   string // exactly, or a part of a JSON error
		wantCall   bool
	}{
		{name: "no cluster", want: http.StatusNotImplemented, wantBody: "clustering is not enabled"},
		{name: "joined", membership: gossipMembership{}, want: http.StatusOK, wantCall: true},
		{name: "refused", membership: gossipMembership{}, hookErr: &httpapi.Error{Status: http.StatusConflict, Msg: "this node is a master"},
			want: http.StatusConflict, wantBody: "this node is a master", wantCall: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := testutil.StartNode(t, func(c *actors.Config) { c.Membership = tc.membership })
			var mu sync.Mutex
			var calls []call
			cfg := httpapi.DefaultConfig()
			cfg.Logger = testutil.Logger(t)
			cfg.CreateNode = func(_ context.Context, port, master, _ string) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, call{port, master})
				return "node-a joined the cluster", tc.hookErr
			}
			api := httpapi.New(cfg, n.Engine, n.Store)
			srv := httptest.NewServer(api.Handler())
			t.Cleanup(func() { api.Close(); srv.Close() })

			code, raw := rcRaw(t, http.MethodPost, srv.URL+"/distributedAgents/createNode", "", seedCreateNodeBody)
			if code != tc.want || (tc.wantBody == "" && raw != "") || !strings.Contains(raw, tc.wantBody) {
				t.Errorf("createNode: %d %q, want %d %q", code, raw, tc.want, tc.wantBody)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []call{{"2551", "127.0.0.1:2551"}}; tc.wantCall != (len(calls) > 0) || (tc.wantCall && !slices.Equal(calls, want)) {
				t.Errorf("hook calls %v, want them: %v", calls, tc.wantCall)
			}
		})
	}
}

func TestRCSearchFqdnAnswer(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 2 })
	n := testutil.StartNode(t, nil)
	params := map[string]any{
		"targetNodes":                    fleet.Targets(2, f.Addr().Port),
		"useNewAgentCommand":             true,
		"newAgentCommandLine":            fmt.Sprintf("ECHO_ENV POST http %d /echo 10 0 0", f.Addr().Port),
		"newAgentCommandContentTemplate": "env=$ENV",
		"replacementVarMap":              map[string]string{"ENV": "prod"},
	}
	code, raw, h := rcCall(t, rcVariants[2], n.URL, "/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", params)
	if code != 200 {
		t.Fatalf("adhoc: %d %s", code, raw)
	}
	id := h.Get(httpapi.JobIDHeader)

	code, raw, hdr := rcCall(t, rcVariants[0], n.URL, "/distributedAgents/searchFqdn", map[string]any{"jobId": id, "fqdn": fleet.HostAddr(1)})
	if code != 200 || !strings.HasPrefix(string(raw), "{\n  \"fqdn\": ") || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("searchFqdn: %d %s %s, want pretty-printed JSON", code, hdr.Get("Content-Type"), raw)
	}
	var nd map[string]json.RawMessage
	if err := json.Unmarshal(raw, &nd); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(nd)); !slices.Equal(got, []string{"dataMap", "fqdn"}) || string(nd["fqdn"]) != `"`+fleet.HostAddr(1)+`"` {
		t.Errorf("NodeData fields %v, fqdn %s", got, nd["fqdn"])
	}
	var dm map[string]map[string]json.RawMessage
	if err := json.Unmarshal(nd["dataMap"], &dm); err != nil || len(dm) != 1 || dm["ECHO_ENV"] == nil {
		t.Fatalf("dataMap %s (%v), want one record under ECHO_ENV", nd["dataMap"], err)
	}
	rec := dm["ECHO_ENV"]
	if got := slices.Sorted(maps.Keys(rec)); !slices.Equal(got, []string{"requestParameters", "responseContent"}) {
		t.Errorf("NodeReqResponse fields %v", got)
	}
	var reqParams map[string]string
	if err := json.Unmarshal(rec["requestParameters"], &reqParams); err != nil || !maps.Equal(reqParams, map[string]string{"ENV": "prod"}) {
		t.Errorf("requestParameters %s (%v), want {ENV: prod}", rec["requestParameters"], err)
	}
	var content map[string]any
	if err := json.Unmarshal(rec["responseContent"], &content); err != nil {
		t.Fatal(err)
	}
	want := []string{"errorMessage", "isError", "response", "responseTime", "state", "statusCode", "value"}
	if got := slices.Sorted(maps.Keys(content)); !slices.Equal(got, want) {
		t.Errorf("responseContent fields %v, want %v", got, want)
	}
	if content["statusCode"] != "200" || content["isError"] != false || !strings.Contains(fmt.Sprint(content["response"]), "env=prod") {
		t.Errorf("responseContent %v", content)
	}

	for _, tc := range []struct {
		name   string
		params map[string]any
		want   int
		body   string // exactly, or the field of a 400
	}{
		{"host with no result", map[string]any{"jobId": id, "fqdn": "10.9.9.9"}, 200, "None exist!"},
		{"unknown job", map[string]any{"jobId": "no-such-job", "fqdn": fleet.HostAddr(1)}, 200, "None exist!"},
		{"no fqdn", map[string]any{"jobId": id}, 400, "fqdn"},
		{"no job id", map[string]any{"fqdn": fleet.HostAddr(1)}, 400, "jobId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, raw, _ := rcCall(t, rcVariants[1], n.URL, "/distributedAgents/searchFqdn", tc.params)
			var e apiError
			switch {
			case code != tc.want:
				t.Errorf("%d %s, want %d", code, raw, tc.want)
			case tc.want == 200 && string(raw) != tc.body:
				t.Errorf("answered %q, want %q", raw, tc.body)
			case tc.want == 400 && (json.Unmarshal(raw, &e) != nil || e.Field != tc.body):
				t.Errorf("answered %s, want a 400 naming %s", raw, tc.body)
			}
		})
	}
}
