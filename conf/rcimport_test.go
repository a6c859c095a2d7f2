package conf

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

func TestImportRCSamples(t *testing.T) {
	imp, err := ImportRC("testdata/rc")
	if err != nil {
		t.Fatalf("ImportRC: %v", err)
	}

	wantHeaders := map[string]map[string]string{
		"SUPERMAN_GLOBAL": {"Content-Type": "application/json"},
		"STATUS_CLIENT":   {"Accept": "text/plain", "X-Price": "$5 flat"},
	}
	if !reflect.DeepEqual(imp.HeaderSets, wantHeaders) {
		t.Errorf("header sets %v, want %v", imp.HeaderSets, wantHeaders)
	}
	wantAggs := map[string]Aggregation{
		"PATTERN_VERSION": {Regex: `.*version=(\S+).*`},
		"PATTERN_HOST":    {Regex: `host=(\S+)`},
	}
	if !reflect.DeepEqual(imp.Aggregations, wantAggs) {
		t.Errorf("aggregations %v, want %v", imp.Aggregations, wantAggs)
	}
	wantGroups := map[string]NodeGroup{
		"ADHOC_NODE_LIST_WEB":      {Hosts: []string{"web-01.example.com", "web-02.example.com", "web-03.example.com"}},
		"ADHOC_NODE_LIST_LOOPBACK": {Hosts: []string{"127.1.0.0", "127.1.0.1"}},
	}
	if !reflect.DeepEqual(imp.NodeGroups, wantGroups) {
		t.Errorf("node groups %v, want %v", imp.NodeGroups, wantGroups)
	}

	cases := []struct {
		name string
		http job.HTTPSpec
		conc int
		max  int
		agg  *job.Aggregation
	}{
		{"GET_STATUS", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "8080", Path: "/status?verbose=1",
			Headers: map[string]string{"Accept": "text/plain", "X-Price": "$$5 flat"}}, 200, 0, nil},
		{"GET_FRONT_PAGE", job.HTTPSpec{Method: "GET", Scheme: "https", Port: "443",
			Headers: map[string]string{"Content-Type": "application/json"}}, 0, 5000, nil},
		{"GET_VERSION", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "80", Path: "/version",
			Headers: map[string]string{"Content-Type": "application/json"}}, 0, 0,
			&job.Aggregation{Name: "PATTERN_VERSION", Regex: `.*version=(\S+).*`}},
		{"POST_ZIP", job.HTTPSpec{Method: "POST", Scheme: "http", Port: "80", Path: "/weather/${ZIP_VAR}",
			Body: "<zip>${ZIP_VAR}</zip><cost>$$5</cost>", Headers: map[string]string{"Content-Type": "application/json"}}, 50, 0,
			&job.Aggregation{Regex: `\A(?s:.){12}((?s:.)*)`}},
	}
	if got, want := slices.Sorted(maps.Keys(imp.Commands)), []string{"GET_FRONT_PAGE", "GET_STATUS", "GET_VERSION", "POST_ZIP"}; !slices.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := imp.Commands[tc.name]
			if !reflect.DeepEqual(*s.HTTP, tc.http) {
				t.Errorf("http %+v, want %+v", *s.HTTP, tc.http)
			}
			if s.Name != tc.name || s.MaxConcurrency != tc.conc || s.MaxBodyBytes != tc.max || !reflect.DeepEqual(s.Aggregation, tc.agg) {
				t.Errorf("name %q conc %d maxBody %d agg %+v, want %q %d %d %+v",
					s.Name, s.MaxConcurrency, s.MaxBodyBytes, s.Aggregation, tc.name, tc.conc, tc.max, tc.agg)
			}
			// The converted templates are valid salvo templates: the
			// command runs once its variables are given.
			run := s.Clone()
			run.Targets = []job.TargetSpec{{Host: "web-01.example.com"}}
			run.Vars = map[string]string{"ZIP_VAR": "95125"}
			if err := run.Normalize(2500); err != nil {
				t.Errorf("normalize: %v", err)
			}
		})
	}
	if want := "testdata/rc/agentcommand.conf:11"; imp.Origins["command/GET_STATUS"] != want {
		t.Errorf("origin of GET_STATUS %q, want %q", imp.Origins["command/GET_STATUS"], want)
	}
	for _, want := range []string{
		"nodegroup.conf:3: node group ADHOC_NODE_LIST_WEB: 1 duplicate hosts dropped",
		"aggregation.conf:9: aggregation SUPERMAN_SPECIAL_STATUS_CODE skipped",
	} {
		if !slices.ContainsFunc(imp.Notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("notes %q lack %q", imp.Notes, want)
		}
	}
}

// Lines REST Commander ignored (a command line of fewer than 8 fields, a
// node group line of fewer than 4) and a body line without ``` are
// warnings, not errors: TestParseRCIgnoredLines covers them.
func TestParseRCErrors(t *testing.T) {
	cases := []struct {
		file, text, want string
	}{
		{"agentcommand.conf", "CMD GET http 80 /x 0 -1 -1 NOPE\n```\n", "agentcommand.conf:1: unknown header set \"NOPE\""},
		{"agentcommand.conf", "CMD GET http 99999 /x 0 -1 -1\n```\n", "agentcommand.conf:1: invalid PORT"},
		{"agentcommand.conf", "CMD GET http 80 /x many -1 -1\n```\n", "agentcommand.conf:1: invalid MAX_CONC"},
		{"agentcommand.conf", "CMD GET http 80 /x 0 NO_SUCH_RULE -1\n```\n", "agentcommand.conf:1: EXTRACT_START \"NO_SUCH_RULE\""},
		{"agentcommand.conf", "CMD GET http 80 /x 0 10 5\n```\n", "agentcommand.conf:1: EXTRACT_END 5 must be above"},
		{"agentcommand.conf", "C/MD GET http 80 /x 0 -1 -1\n```\n", "agentcommand.conf:1: invalid command name"},
		{"aggregation.conf", "RULE\n```(?<=x)(y)\n", "aggregation.conf:2: aggregation RULE: invalid regex"},
		{"aggregation.conf", "RULE\n```version=\\S+\n", "aggregation.conf:2: aggregation RULE: the regex needs a capture group"},
		{"aggregation.conf", "RULE\nOTHER\n```(x)\n", "aggregation.conf:1: aggregation RULE: want the regex"},
		{"nodegroup.conf", "ADHOC G NA NA\n```ADHOC_NODE_LIST_START\nh1\n", "nodegroup.conf:1: node group G: want its hosts"},
		{"nodegroup.conf", "ADHOC G NA NA\n```ADHOC_NODE_LIST_START\nhttp://[::1\n```ADHOC_NODE_LIST_END\n", "nodegroup.conf:3: node group G"},
		{"httpheader.conf", "H\n```HTTP_HEADER_LIST_START\nAccept\n```HTTP_HEADER_LIST_END\n", "httpheader.conf:3: header set H: header Accept has no value line"},
		{"httpheader.conf", "H\nAccept\n```x\n", "httpheader.conf:1: header set H: want its headers"},
		{"notes.conf", "", "not a REST Commander file"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			imp := &RCImport{Definitions: newDefinitions()}
			err := ParseRC(tc.file, strings.NewReader(tc.text), imp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := ImportRC(t.TempDir()); err == nil || !strings.Contains(err.Error(), "none of") {
		t.Errorf("empty directory: error %v", err)
	}
}

// rcReplace is REST Commander's own replacement: every "$KEY" replaced by
// its value as plain text, longest key first.
func rcReplace(text string, vals map[string]string) string {
	for _, k := range slices.SortedFunc(maps.Keys(vals), byLengthDesc) {
		text = strings.ReplaceAll(text, "$"+k, vals[k])
	}
	return text
}

func TestRCTemplateMatchesRESTCommander(t *testing.T) {
	cases := []struct {
		text string
		vals map[string]string
		want string // the template
	}{
		{"/a/$ID/b", map[string]string{"ID": "7"}, "/a/${ID}/b"},
		{"/a/$IDX", map[string]string{"ID": "7"}, "/a/${ID}X"},
		{"/a/$IDX", map[string]string{"ID": "7", "IDX": "8"}, "/a/${IDX}"},
		{"cost $5, $WORD and $", map[string]string{"ID": "7"}, "cost $$5, $$WORD and $$"},
		{"$AM_FULL_CONTENT", nil, ""},
		{"$NULL_URL", nil, ""},
		{"$AM_FULL_CONTENT", map[string]string{"AM_FULL_CONTENT": "{}"}, "${AM_FULL_CONTENT}"},
		{"x$$ID", map[string]string{"ID": "7"}, "x$$${ID}"},
		{"${ID}", map[string]string{"ID": "7"}, "$${ID}"},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			keys := map[string]string{}
			for k := range tc.vals {
				keys[k] = k
			}
			got := RCTemplate(tc.text, RCVars{Keys: keys})
			if got != tc.want {
				t.Fatalf("template %q, want %q", got, tc.want)
			}
			tmpl, err := job.Compile(got)
			if err != nil {
				t.Fatalf("compile %q: %v", got, err)
			}
			exp, err := tmpl.Expand(func(n string) (string, bool) { v, ok := tc.vals[n]; return v, ok })
			if err != nil {
				t.Fatalf("expand: %v", err)
			}
			full := map[string]string{"AM_FULL_CONTENT": "", "NULL_URL": ""}
			maps.Copy(full, tc.vals)
			if want := rcReplace(tc.text, full); exp != want {
				t.Errorf("expands to %q, REST Commander sends %q", exp, want)
			}
		})
	}
	t.Run("keys that are not variable names", func(t *testing.T) {
		got := RCTemplate("/$zip-code/$HOST", RCVars{Keys: map[string]string{"zip-code": "_rc0"}, Words: true})
		if want := "/${_rc0}/${HOST}"; got != want {
			t.Errorf("template %q, want %q", got, want)
		}
	})
}

func TestParseRCCommandLine(t *testing.T) {
	lk := RCLookup{HeaderSet: func(string) (map[string]string, bool) { return nil, false }}
	cases := []struct {
		line, name, method, port, path string
	}{
		{"GET http 80 /x 10 0 0", "", "GET", "80", "/x"},
		{"NAMED post https $P_VAR health 10 0 0", "NAMED", "POST", "${P_VAR}", "/health"},
	}
	for _, tc := range cases {
		cmd, err := ParseRCCommand(tc.line, "```$AM_FULL_CONTENT", RCVars{Words: true}, lk)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		h := cmd.Spec.HTTP
		if cmd.Name != tc.name || h.Method != tc.method || h.Port != tc.port || h.Path != tc.path || h.Body != "" || cmd.HeaderSet != "" {
			t.Errorf("%q: name %q method %q port %q path %q body %q headerSet %q", tc.line, cmd.Name, h.Method, h.Port, h.Path, h.Body, cmd.HeaderSet)
		}
	}
	cmd, err := ParseRCCommand("GET http 80 /x 10 0 0", "```{\"a\": 1}", RCVars{}, lk)
	if err != nil || cmd.Spec.HTTP.Body != "" || len(cmd.Notes) != 1 {
		t.Errorf("GET with a body: err %v, body %q, notes %q", err, cmd.Spec.HTTP.Body, cmd.Notes)
	}
}

func TestConfigDefinitions(t *testing.T) {
	c := DefaultConfig()
	c.ConfigFile = "salvo.yaml"
	c.NodeGroups = map[string]NodeGroup{"web": {Hosts: []string{"h1"}}}
	c.Aggregations = map[string]Aggregation{"v": {Regex: "v=(.*)"}}
	d := c.Definitions()
	if d.Len() != 2 || d.Origins["nodegroup/web"] != "salvo.yaml" || d.Origins["aggregation/v"] != "salvo.yaml" {
		t.Errorf("definitions %+v", d)
	}
}
