package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/fleet"
	"github.com/salvo-sh/salvo/httpapi"
	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/store"
)

// rcVariant is one way of sending a REST Commander request's parameters.
type rcVariant struct {
	name   string
	method string
	enc    string // "query", "form" or "json"
}

var rcVariants = []rcVariant{
	{"GET query", http.MethodGet, "query"},
	{"POST form", http.MethodPost, "form"},
	{"POST json", http.MethodPost, "json"},
	{"GET json", http.MethodGet, "json"},
}

// rcValues encodes parameters as query or form values: lists as repeated
// keys (with "[]" in forms), maps with bracketed keys.
func rcValues(params map[string]any, form bool) url.Values {
	v := url.Values{}
	for k, p := range params {
		switch x := p.(type) {
		case []string:
			key := k
			if form {
				key += "[]"
			}
			v[key] = x
		case map[string]string:
			for mk, mv := range x {
				v.Set(k+"["+mk+"]", mv)
			}
		case map[string]map[string]string:
			for h, m := range x {
				for mk, mv := range m {
					v.Set(k+"["+h+"]["+mk+"]", mv)
				}
			}
		default:
			v.Set(k, fmt.Sprint(x))
		}
	}
	return v
}

// rcCall sends a REST Commander request and returns its status, body and
// headers.
func rcCall(t *testing.T, v rcVariant, base, path string, params map[string]any) (int, []byte, http.Header) {
	t.Helper()
	u := base + path
	var body io.Reader
	ctype := ""
	switch v.enc {
	case "query":
		if len(params) > 0 {
			u += "?" + rcValues(params, false).Encode()
		}
	case "form":
		body, ctype = strings.NewReader(rcValues(params, true).Encode()), "application/x-www-form-urlencoded"
	case "json":
		b, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		body, ctype = strings.NewReader(string(b)), "application/json"
	}
	req, err := http.NewRequest(v.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", v.method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw, resp.Header
}

// rcJSON sends a request, wants a status and decodes the JSON answer.
func rcJSON(t *testing.T, v rcVariant, base, path string, params map[string]any, want int, out any) {
	t.Helper()
	code, raw, _ := rcCall(t, v, base, path, params)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", v.name, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", v.name, path, raw, err)
		}
	}
}

// rcSubmitAsync submits a named command on a node group and returns the job id.
func rcSubmitAsync(t *testing.T, v rcVariant, base string, params map[string]any) string {
	t.Helper()
	code, raw, h := rcCall(t, v, base, "/commands/generateUpdateSendAgentCommandToNodeGroupForAsyncPolling", params)
	if code != http.StatusOK {
		t.Fatalf("%s: async submit: status %d: %s", v.name, code, raw)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: async submit: content type %q, want text/plain", v.name, ct)
	}
	id := string(raw)
	if id == "" || strings.ContainsAny(id, "\" \n{") {
		t.Fatalf("%s: async submit answered %q, want a bare job id", v.name, id)
	}
	return id
}

// putDefs stores a node group "web" of the fleet's first hosts and a
// command "GET_VERSION" that extracts the version.
func putDefs(t *testing.T, base string, f *fleet.Fleet, hosts int) {
	t.Helper()
	if code := testutil.DoJSON(t, "PUT", base+"/api/v1/nodegroups/web", map[string]any{"hosts": fleet.Targets(hosts, f.Addr().Port)}, nil); code != 200 {
		t.Fatalf("put node group: %d", code)
	}
	cmd := map[string]any{"http": map[string]any{"path": "/version"}, "aggregation": map[string]any{"regex": `version=(\S+)`}}
	if code := testutil.DoJSON(t, "PUT", base+"/api/v1/commands/GET_VERSION", cmd, nil); code != 200 {
		t.Fatalf("put command: %d", code)
	}
}

var rcJobInfoFields = []string{"timeStamp", "startTime", "finishedNotAggregatedTime", "endTime", "aggregationTime",
	"totJobNum", "workerRequestCount", "workerResponseCount", "capacityUsage", "state", "collectedNum",
	"maxConcNum", "jobId", "nodeGroupType", "agentCommandType"}

// jobInfo is queryJobInfo's answer, decoded loosely to check field names.
type jobInfo map[string]any

func (j jobInfo) num(k string) float64 { f, _ := j[k].(float64); return f }

func (j jobInfo) counts(k string) map[string]float64 {
	out := map[string]float64{}
	m, _ := j[k].(map[string]any)
	for name, v := range m {
		out[name], _ = v.(float64)
	}
	return out
}

func TestRCAsyncJobAndJobInfo(t *testing.T) {
	const hosts = 20
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	putDefs(t, n.URL, f, hosts)

	var ids []string
	for _, v := range rcVariants {
		t.Run(v.name, func(t *testing.T) {
			id := rcSubmitAsync(t, v, n.URL, map[string]any{"nodeGroupType": "web", "agentCommandType": "GET_VERSION",
				"localMode": false, "failOver": true, "maxConcNum": 50})
			ids = append(ids, id)
			testutil.WaitJob(t, n.Engine, id, time.Minute)

			var info jobInfo
			rcJSON(t, v, n.URL, "/distributedAgents/queryJobInfo", map[string]any{"jobId": id}, 200, &info)
			if got := slices.Sorted(maps.Keys(info)); !slices.Equal(got, slices.Sorted(slices.Values(rcJobInfoFields))) {
				t.Errorf("fields %v, want %v", got, rcJobInfoFields)
			}
			if info["state"] != "gathered" || info["jobId"] != id || info["nodeGroupType"] != "web" || info["agentCommandType"] != "GET_VERSION" {
				t.Errorf("state/jobId/nodeGroupType/agentCommandType: %v %v %v %v", info["state"], info["jobId"], info["nodeGroupType"], info["agentCommandType"])
			}
			if info.num("totJobNum") != hosts || info.num("collectedNum") != hosts || info.num("maxConcNum") != 50 {
				t.Errorf("totJobNum %v collectedNum %v maxConcNum %v", info["totJobNum"], info["collectedNum"], info["maxConcNum"])
			}
			for _, k := range []string{"workerRequestCount", "workerResponseCount"} {
				if got := info.counts(k); !maps.Equal(got, map[string]float64{"node-a": hosts}) {
					t.Errorf("%s %v, want {node-a: %d}", k, got, hosts)
				}
			}
			if _, ok := info.counts("capacityUsage")["node-a"]; !ok || len(info.counts("capacityUsage")) != 1 {
				t.Errorf("capacityUsage %v, want a node-a entry", info["capacityUsage"])
			}
			start, fnat, end := info.num("startTime"), info.num("finishedNotAggregatedTime"), info.num("endTime")
			if start < 1e12 || fnat < start || end < fnat {
				t.Errorf("times start %v finishedNotAggregated %v end %v, want epoch ms in order", start, fnat, end)
			}
			if got, want := info.num("aggregationTime"), (end-fnat)/1000; got != want {
				t.Errorf("aggregationTime %v, want %v seconds", got, want)
			}
			if ts, _ := info["timeStamp"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(ts) {
				t.Errorf("timeStamp %q", ts)
			}
			code, raw, _ := rcCall(t, v, n.URL, "/distributedAgents/queryProgress", map[string]any{"jobId": id})
			if code != 200 || string(raw) != "1" {
				t.Errorf("queryProgress: %d %q, want 1", code, raw)
			}
		})
	}

	for _, v := range rcVariants {
		var q []jobInfo
		rcJSON(t, v, n.URL, "/distributedAgents/queryJobQ", nil, 200, &q)
		var got []string
		for _, j := range q {
			got = append(got, fmt.Sprint(j["jobId"]))
			if len(j) != len(rcJobInfoFields) || j["state"] != "gathered" {
				t.Errorf("%s: queue entry %v", v.name, j)
			}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%s: queryJobQ ids %v, want %v in submission order", v.name, got, ids)
		}
	}

	// Lower-case paths are served too.
	var info jobInfo
	rcJSON(t, rcVariants[0], n.URL, "/distributedagents/queryjobinfo", map[string]any{"jobId": ids[0]}, 200, &info)
	if info["jobId"] != ids[0] {
		t.Errorf("lower-case path: %v", info)
	}
}

func TestRCAdhocAggregationOf10000Hosts(t *testing.T) {
	const hosts = 10000
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	nodes := make([]string, 0, hosts+100)
	for i := range hosts {
		nodes = append(nodes, fleet.HostAddr(i))
	}
	nodes = append(nodes, nodes[:100]...) // duplicates are removed
	params := map[string]any{
		"targetNodes":                    nodes,
		"useNewAgentCommand":             true,
		"newAgentCommandLine":            fmt.Sprintf("GET_VERSION_ADHOC GET http %d /version 500 0 0", f.Addr().Port),
		"newAgentCommandContentTemplate": "$AM_FULL_CONTENT",
		"willAggregateResponse":          true,
		"useNewAggregation":              true,
		"aggregationType":                "PATTERN_VERSION",
		// URL-encoded, as REST Commander expected: .*version=(\S+).*
		"newAggregationExpression": ".*version%3D(%5CS%2B).*",
	}
	code, raw, h := rcCall(t, rcVariants[2], n.URL, "/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", params)
	if code != 200 {
		t.Fatalf("status %d: %.500s", code, raw)
	}
	var out struct {
		AggregationMap              map[string]string `json:"aggregationMap"`
		AggregationValueToNodesList []struct {
			Value    string   `json:"value"`
			NodeList []string `json:"nodeList"`
			IsError  *bool    `json:"isError"`
		} `json:"aggregationValueToNodesList"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := map[string]string{}
	for v, c := range fleet.Distribution(hosts) {
		want[v] = strconv.Itoa(c)
	}
	if !maps.Equal(out.AggregationMap, want) {
		t.Errorf("aggregationMap %v, want %v", out.AggregationMap, want)
	}
	seen := map[string]bool{}
	var values []string
	for _, g := range out.AggregationValueToNodesList {
		values = append(values, g.Value)
		if g.IsError == nil || *g.IsError {
			t.Errorf("value %s: isError %v, want false", g.Value, g.IsError)
		}
		if strconv.Itoa(len(g.NodeList)) != want[g.Value] {
			t.Errorf("value %s lists %d nodes, want %s", g.Value, len(g.NodeList), want[g.Value])
		}
		for _, node := range g.NodeList {
			i, ok := fleet.HostIndex(node)
			if !ok || fleet.Version(i) != g.Value || seen[node] {
				t.Fatalf("node %q listed under %s (duplicate: %v)", node, g.Value, seen[node])
			}
			seen[node] = true
		}
	}
	if !slices.IsSorted(values) || len(seen) != hosts {
		t.Errorf("values %v (want sorted), %d nodes (want %d)", values, len(seen), hosts)
	}
	id := h.Get(httpapi.JobIDHeader)
	var info jobInfo
	rcJSON(t, rcVariants[0], n.URL, "/distributedAgents/queryJobInfo", map[string]any{"jobId": id}, 200, &info)
	if info.num("totJobNum") != hosts || info["agentCommandType"] != "GET_VERSION_ADHOC" || info.num("maxConcNum") != 500 {
		t.Errorf("job info: totJobNum %v (duplicates must be removed), agentCommandType %v, maxConcNum %v",
			info["totJobNum"], info["agentCommandType"], info["maxConcNum"])
	}
}

// echoed is the part of the fleet's /echo answer the tests read.
type echoed struct {
	Method string `json:"method"`
	Query  string `json:"query"`
	Body   string `json:"body"`
}

func TestRCAdhocReplacementVariables(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 3 })
	n := testutil.StartNode(t, nil)
	h0, h1, h2 := fleet.HostAddr(0), fleet.HostAddr(1), fleet.HostAddr(2)
	line := fmt.Sprintf("ECHO POST http %d /echo?id=$ID&u=$UNKNOWN 10 0 0", f.Addr().Port)
	body := `{"id":"$ID","env":"$ENV","note":"$5 $UNKNOWN"}`
	for _, v := range rcVariants {
		t.Run(v.name, func(t *testing.T) {
			params := map[string]any{
				"targetNodes":                    []string{h0, h1, h2, h1},
				"useNewAgentCommand":             true,
				"newAgentCommandLine":            line,
				"newAgentCommandContentTemplate": body,
				"replacementVarMap":              map[string]string{"ENV": "prod"},
				"replacementVarMapNodeSpecific": map[string]map[string]string{
					h0: {"ID": "0"}, h1: {"ID": "1"},
				},
				"willAggregateResponse": false,
			}
			var nodes map[string]struct {
				RequestParameters map[string]string `json:"requestParameters"`
				ResponseContent   struct {
					Response   string `json:"response"`
					StatusCode string `json:"statusCode"`
					IsError    bool   `json:"isError"`
				} `json:"responseContent"`
			}
			rcJSON(t, v, n.URL, "/commands/genUpdateSendCommandWithReplaceVarMapNodeSpecificAdhocJson", params, 200, &nodes)
			if got := slices.Sorted(maps.Keys(nodes)); !slices.Equal(got, []string{h0, h1, h2}) {
				t.Fatalf("nodes %v, want %v once each", got, []string{h0, h1, h2})
			}
			for host, id := range map[string]string{h0: "0", h1: "1", h2: "$ID"} {
				rc := nodes[host].ResponseContent
				var e echoed
				if err := json.Unmarshal([]byte(rc.Response), &e); err != nil {
					t.Fatalf("%s: response %q: %v", host, rc.Response, err)
				}
				wantBody := `{"id":"` + id + `","env":"prod","note":"$5 $UNKNOWN"}`
				if e.Method != "POST" || e.Query != "id="+id+"&u=$UNKNOWN" || e.Body != wantBody {
					t.Errorf("%s: sent %s ?%s %s, want POST ?id=%s&u=$UNKNOWN %s", host, e.Method, e.Query, e.Body, id, wantBody)
				}
				if rc.StatusCode != "200" || rc.IsError {
					t.Errorf("%s: statusCode %q isError %v", host, rc.StatusCode, rc.IsError)
				}
			}
			if p := nodes[h1].RequestParameters; p["ID"] != "1" || p["ENV"] != "prod" {
				t.Errorf("requestParameters of %s: %v", h1, p)
			}
		})
	}

	// Aggregated, with REST Commander's {"map": {...}} wrapping: a node
	// whose response does not match is listed under NA.
	params := map[string]any{
		"targetNodes":                    []string{h0, h1, h2},
		"useNewAgentCommand":             true,
		"newAgentCommandLine":            line,
		"newAgentCommandContentTemplate": body,
		"replacementVarMapNodeSpecific": map[string]any{
			h0: map[string]any{"map": map[string]string{"ID": "0"}}, h1: map[string]any{"map": map[string]string{"ID": "1"}},
		},
		"willAggregateResponse": true, "useNewAggregation": true, "newAggregationExpression": `id=(\d+)`,
	}
	var agg struct {
		AggregationMap              map[string]string `json:"aggregationMap"`
		AggregationValueToNodesList []struct {
			Value    string   `json:"value"`
			NodeList []string `json:"nodeList"`
		} `json:"aggregationValueToNodesList"`
	}
	rcJSON(t, rcVariants[2], n.URL, "/commands/genUpdateSendCommandWithReplaceVarMapNodeSpecificAdhocJson", params, 200, &agg)
	if want := map[string]string{"0": "1", "1": "1", "NA": "1"}; !maps.Equal(agg.AggregationMap, want) {
		t.Errorf("aggregationMap %v, want %v", agg.AggregationMap, want)
	}
	if l := agg.AggregationValueToNodesList; len(l) != 3 || l[2].Value != "NA" || !slices.Equal(l[2].NodeList, []string{h2}) {
		t.Errorf("aggregationValueToNodesList %+v", l)
	}
}

func TestRCNamedCommandAndSearchFqdn(t *testing.T) {
	const hosts = 5
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = hosts })
	n := testutil.StartNode(t, nil)
	putDefs(t, n.URL, f, hosts)
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/aggregations/PATTERN_HOST", map[string]any{"regex": `host=(\S+)`}, nil); code != 200 {
		t.Fatal("put aggregation")
	}
	targets := fleet.Targets(hosts, f.Addr().Port) // host:port targets override the command's port
	cases := []struct {
		aggType string
		want    map[string]string
	}{
		{"", map[string]string{"v1": "5"}},                              // the command's own rule
		{"SUPERMAN_SPECIAL_STATUS_CODE", map[string]string{"200": "5"}}, // by status code
		{"PATTERN_HOST", map[string]string{fleet.HostAddr(0): "1", fleet.HostAddr(1): "1", fleet.HostAddr(2): "1", fleet.HostAddr(3): "1", fleet.HostAddr(4): "1"}},
	}
	var id string
	for _, tc := range cases {
		var agg struct {
			AggregationMap map[string]string `json:"aggregationMap"`
		}
		params := map[string]any{"targetNodes": targets, "agentCommandType": "GET_VERSION",
			"willAggregateResponse": true, "aggregationType": tc.aggType}
		code, raw, h := rcCall(t, rcVariants[1], n.URL, "/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", params)
		if code != 200 || json.Unmarshal(raw, &agg) != nil {
			t.Fatalf("aggregationType %q: status %d: %s", tc.aggType, code, raw)
		}
		if !maps.Equal(agg.AggregationMap, tc.want) {
			t.Errorf("aggregationType %q: aggregationMap %v, want %v", tc.aggType, agg.AggregationMap, tc.want)
		}
		id = h.Get(httpapi.JobIDHeader)
	}

	for _, v := range rcVariants {
		// REST Commander's NodeData, the host matched without the port.
		var nd struct {
			Fqdn    string `json:"fqdn"`
			DataMap map[string]struct {
				ResponseContent struct {
					Response   string `json:"response"`
					StatusCode string `json:"statusCode"`
					IsError    bool   `json:"isError"`
				} `json:"responseContent"`
			} `json:"dataMap"`
		}
		rcJSON(t, v, n.URL, "/distributedAgents/searchFqdn", map[string]any{"jobId": id, "fqdn": targets[3]}, 200, &nd)
		rc := nd.DataMap["GET_VERSION"].ResponseContent
		if nd.Fqdn != targets[3] || len(nd.DataMap) != 1 || rc.StatusCode != "200" || rc.IsError || !strings.Contains(rc.Response, "version=") {
			t.Errorf("%s: searchFqdn %+v", v.name, nd)
		}
		for _, miss := range []map[string]any{{"jobId": id, "fqdn": "10.9.9.9"}, {"jobId": "nope", "fqdn": "10.9.9.9"}} {
			code, raw, _ := rcCall(t, v, n.URL, "/distributedAgents/searchFqdn", miss)
			if code != 200 || string(raw) != "None exist!" {
				t.Errorf("%s: searchFqdn %v: %d %q, want 200 None exist!", v.name, miss, code, raw)
			}
		}
	}
}

func TestRCErrors(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 2 })
	n := testutil.StartNode(t, nil)
	putDefs(t, n.URL, f, 2)
	adhoc := "/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson"
	async := "/commands/generateUpdateSendAgentCommandToNodeGroupForAsyncPolling"
	nodes := []string{fleet.HostAddr(0)}
	secret := map[string]any{"http": map[string]any{"path": "/x", "headers": map[string]string{"Authorization": "Bearer s3cret"}}}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/commands/WITH_SECRET", secret, nil); code != 200 {
		t.Fatal("put command")
	}
	line := fmt.Sprintf("GET http %d /x 10 0 0", f.Addr().Port)
	cases := []struct {
		name, path string
		params     map[string]any
		status     int
		field      string
		mention    string
	}{
		{"bad regex", adhoc, map[string]any{"targetNodes": nodes, "agentCommandType": "GET_VERSION", "willAggregateResponse": true,
			"useNewAggregation": true, "newAggregationExpression": "(unclosed"}, 400, "newAggregationExpression", "newAggregationExpression"},
		{"regex without group", adhoc, map[string]any{"targetNodes": nodes, "agentCommandType": "GET_VERSION", "willAggregateResponse": true,
			"useNewAggregation": true, "newAggregationExpression": "version"}, 400, "newAggregationExpression", "capture group"},
		{"unknown command", adhoc, map[string]any{"targetNodes": nodes, "agentCommandType": "NO_SUCH_CMD"}, 400, "agentCommandType", "NO_SUCH_CMD"},
		{"unknown aggregation", adhoc, map[string]any{"targetNodes": nodes, "agentCommandType": "GET_VERSION", "willAggregateResponse": true,
			"aggregationType": "NO_SUCH_RULE"}, 400, "aggregationType", "NO_SUCH_RULE"},
		{"no target nodes", adhoc, map[string]any{"agentCommandType": "GET_VERSION"}, 400, "targetNodes", "targetNodes"},
		{"no command", adhoc, map[string]any{"targetNodes": nodes}, 400, "agentCommandType", "agentCommandType"},
		{"bad command line", adhoc, map[string]any{"targetNodes": nodes, "useNewAgentCommand": true, "newAgentCommandLine": "GET http"},
			400, "newAgentCommandLine", "METHOD"},
		{"unknown node group", async, map[string]any{"nodeGroupType": "NO_SUCH_GROUP", "agentCommandType": "GET_VERSION"}, 400, "nodeGroupType", "NO_SUCH_GROUP"},
		{"unknown async command", async, map[string]any{"nodeGroupType": "web", "agentCommandType": "NO_SUCH_CMD"}, 400, "agentCommandType", "NO_SUCH_CMD"},
		{"bad maxConcNum", async, map[string]any{"nodeGroupType": "web", "agentCommandType": "GET_VERSION", "maxConcNum": "many"}, 400, "maxConcNum", "maxConcNum"},
		{"redacted secret", adhoc, map[string]any{"targetNodes": nodes, "agentCommandType": "WITH_SECRET"}, 400, "agentCommandType", "secrets"},
		{"no job id", "/distributedAgents/queryJobInfo", nil, 400, "jobId", "jobId"},
		{"unknown job", "/distributedAgents/queryJobInfo", map[string]any{"jobId": "no-such-job"}, 404, "", "no-such-job"},
		{"unknown job progress", "/distributedAgents/queryProgress", map[string]any{"jobId": "no-such-job"}, 404, "", "no-such-job"},
		{"no url", "/distributedAgents/disableClusterMember", map[string]any{"port": 2551}, 400, "url", "url"},
		{"createNode", "/distributedAgents/createNode", map[string]any{"port": 2551, "masterUrl": "127.0.0.1:2551"}, 501, "", "clustering is not enabled"},
		{"shutdownNode without hook", "/distributedAgents/shutdownNode", nil, 501, "", "shutdownNode"},
		{"unknown header set", adhoc, map[string]any{"targetNodes": nodes, "useNewAgentCommand": true,
			"newAgentCommandLine": line + " NO_SUCH_HEADERS"}, 400, "newAgentCommandLine", "NO_SUCH_HEADERS"},
	}
	for _, tc := range cases {
		for _, v := range []rcVariant{rcVariants[0], rcVariants[2]} {
			t.Run(tc.name+"/"+v.name, func(t *testing.T) {
				var e apiError
				rcJSON(t, v, n.URL, tc.path, tc.params, tc.status, &e)
				if e.Field != tc.field || !strings.Contains(e.Error, tc.mention) {
					t.Errorf("error %+v, want field %q and a mention of %q", e, tc.field, tc.mention)
				}
			})
		}
	}
	// An unknown "$WORD" in a named command is sent as it is, not refused.
	cmd := map[string]any{"http": map[string]any{"path": "/echo", "method": "POST", "body": "$WORD"}}
	if code := testutil.DoJSON(t, "PUT", n.URL+"/api/v1/commands/ECHO_WORD", cmd, nil); code != 200 {
		t.Fatal("put command")
	}
	var nodesOut map[string]struct {
		ResponseContent struct {
			Response string `json:"response"`
		} `json:"responseContent"`
	}
	rcJSON(t, rcVariants[2], n.URL, adhoc, map[string]any{"targetNodes": fleet.Targets(1, f.Addr().Port), "agentCommandType": "ECHO_WORD"}, 200, &nodesOut)
	var e echoed
	if err := json.Unmarshal([]byte(nodesOut[fleet.Target(0, f.Addr().Port)].ResponseContent.Response), &e); err != nil || e.Body != "$WORD" {
		t.Errorf("unknown $WORD: sent %+v (%v), want the body $WORD", e, err)
	}

	// A command given in the request reads its header set from the store,
	// secrets included.
	if err := n.Store.PutDefinition(context.Background(), store.KindHeaderSet, "TOKEN_HS", []byte(`{"X-Api-Token": "t0k"}`)); err != nil {
		t.Fatal(err)
	}
	line = fmt.Sprintf("ECHO GET http %d /echo 10 0 0 TOKEN_HS", f.Addr().Port)
	rcJSON(t, rcVariants[2], n.URL, adhoc, map[string]any{"targetNodes": nodes, "useNewAgentCommand": true, "newAgentCommandLine": line}, 200, &nodesOut)
	var eh struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(nodesOut[nodes[0]].ResponseContent.Response), &eh); err != nil || eh.Headers["X-Api-Token"] != "t0k" {
		t.Errorf("header set: sent headers %v (%v), want X-Api-Token t0k", eh.Headers, err)
	}
}

func TestRCClusterMembersAndScheduler(t *testing.T) {
	f := testutil.StartFleet(t, func(c *fleet.Config) { c.Hosts = 4 })
	n := testutil.StartNode(t, nil)
	putDefs(t, n.URL, f, 4)
	submitJob := func(v rcVariant) string {
		return rcSubmitAsync(t, v, n.URL, map[string]any{"nodeGroupType": "web", "agentCommandType": "GET_VERSION"})
	}
	stateOf := func(v rcVariant, id string) string {
		var info jobInfo
		rcJSON(t, v, n.URL, "/distributedAgents/queryJobInfo", map[string]any{"jobId": id}, 200, &info)
		return fmt.Sprint(info["state"])
	}
	member := map[string]any{"url": "127.0.0.1", "port": 2551}
	for i, v := range rcVariants {
		t.Run(v.name, func(t *testing.T) {
			var msg string
			rcJSON(t, v, n.URL, "/distributedAgents/disableClusterMember", member, 200, &msg)
			if msg != "127.0.0.1:2551 has been disabled." {
				t.Errorf("disable answered %q", msg)
			}
			var cl map[string][]string
			rcJSON(t, v, n.URL, "/distributedAgents/getClusterList", nil, 200, &cl)
			if len(cl) != 4 || !slices.Equal(cl["enable"], []string{"false"}) || !slices.Equal(cl["state"], []string{"true"}) ||
				len(cl["url"]) != 1 || !slices.Equal(cl["masterUrl"], cl["url"]) {
				t.Errorf("cluster list while disabled: %v", cl)
			}

			// A disabled node takes no job: both wait, and resetScheduler
			// cancels them.
			a, b := submitJob(v), submitJob(rcVariants[(i+1)%len(rcVariants)])
			if sa, sb := stateOf(v, a), stateOf(v, b); sa != "waiting" || sb != "waiting" {
				t.Fatalf("jobs on a disabled node: %s %s, want waiting", sa, sb)
			}
			code, raw, _ := rcCall(t, v, n.URL, "/distributedAgents/queryProgress", map[string]any{"jobId": a})
			if code != 200 || string(raw) != "0" {
				t.Errorf("queryProgress of a waiting job: %d %q", code, raw)
			}
			if code, raw, _ := rcCall(t, v, n.URL, "/distributedAgents/resetScheduler", nil); code != 200 || len(raw) != 0 {
				t.Errorf("resetScheduler answered %d %q, want 200 and no body", code, raw)
			}
			for _, id := range []string{a, b} {
				if st := testutil.WaitJob(t, n.Engine, id, time.Minute); st.State != store.JobCancelled {
					t.Errorf("job %s after resetScheduler: %s", id, st.State)
				}
				if s := stateOf(v, id); s != "cancelled" {
					t.Errorf("queryJobInfo state %s, want cancelled", s)
				}
			}

			// A job waits while the node is disabled and runs once enabled.
			c := submitJob(v)
			if s := stateOf(v, c); s != "waiting" {
				t.Fatalf("job on a disabled node: %s", s)
			}
			rcJSON(t, v, n.URL, "/distributedAgents/enableClusterMember", member, 200, &msg)
			if msg != "127.0.0.1:2551 has been enabled." {
				t.Errorf("enable answered %q", msg)
			}
			if st := testutil.WaitJob(t, n.Engine, c, time.Minute); st.State != store.JobGathered {
				t.Errorf("job after enable: %s", st.State)
			}
			rcJSON(t, v, n.URL, "/distributedAgents/getClusterList", nil, 200, &cl)
			if !slices.Equal(cl["enable"], []string{"true"}) {
				t.Errorf("cluster list after enable: %v", cl)
			}

			var load map[string]json.RawMessage
			rcJSON(t, v, n.URL, "/distributedAgents/queryWorkerLoad", map[string]any{"jobId": c}, 200, &load)
			for k, want := range map[string]string{"names": `["node-a"]`, "capacity": `[2500]`, "status": `["active"]`,
				"enabled": `[true]`, "loads": `[4]`, "requests": `[4]`, "reserved": `[0]`, "runningJobs": `[0]`} {
				if string(load[k]) != want {
					t.Errorf("queryWorkerLoad %s = %s, want %s", k, load[k], want)
				}
			}
		})
	}
}

func TestRCShutdownNode(t *testing.T) {
	n := testutil.StartNode(t, nil)
	stopped := make(chan struct{})
	cfg := httpapi.DefaultConfig()
	cfg.Logger = testutil.Logger(t)
	cfg.Shutdown = func() { close(stopped) }
	api := httpapi.New(cfg, n.Engine, n.Store)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { api.Close(); srv.Close() })

	if code, raw, _ := rcCall(t, rcVariants[1], srv.URL, "/distributedAgents/shutdownNode", nil); code != 200 || len(raw) != 0 {
		t.Errorf("shutdownNode answered %d %q, want 200 and no body", code, raw)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdownNode did not call the shutdown hook")
	}
}
