package conf

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

// rcShippedDir holds REST Commander's own shipped configuration files (see
// its NOTICE).
const rcShippedDir = "testdata/restcommander"

// The files REST Commander shipped import as REST Commander read them.
//
// The counts, by REST Commander's rules (AgentConfigProvider.java): a line
// counts when it is not blank, does not start with % or ``` (after
// trimming) and is not inside a tagged block.
//   - agentcommand.conf: 6 such lines outside VARIABLES_PREDEFINED (19, 23,
//     26, 29, 32, 35); line 19, "######## END CMS Update 20130916 ####…",
//     has 6 fields (fewer than 8) and is ignored: 5 commands.
//   - aggregation.conf: 13 name lines, each followed by its ```regex line;
//     SUPERMAN_SPECIAL_STATUS_CODE and SUPERMAN_SPECIAL_RESPONSE_TIME are
//     REST Commander's built-ins, skipped with a note: 11 aggregations.
//   - httpheader.conf: 3 name lines, each followed by its header list.
//   - nodegroup.conf: 4 "ADHOC NAME NA NA" lines; their host lists hold
//     15, 3, 97 and 490 hosts, none repeated within a list.
func TestImportRCShipped(t *testing.T) {
	imp, err := ImportRC(rcShippedDir)
	if err != nil {
		t.Fatalf("ImportRC: %v", err)
	}
	counts := map[string]int{
		"commands":     len(imp.Commands),
		"aggregations": len(imp.Aggregations),
		"header sets":  len(imp.HeaderSets),
		"node groups":  len(imp.NodeGroups),
	}
	want := map[string]int{"commands": 5, "aggregations": 11, "header sets": 3, "node groups": 4}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	wantWarnings := []string{
		rcShippedDir + "/agentcommand.conf:19: ignored: 6 fields, a command line has 8 or 9",
	}
	if len(imp.Warnings) != len(wantWarnings) {
		t.Errorf("warnings %q, want %d", imp.Warnings, len(wantWarnings))
	}
	for i, w := range wantWarnings {
		if i < len(imp.Warnings) && !strings.HasPrefix(imp.Warnings[i], w) {
			t.Errorf("warning %q, want it to start with %q", imp.Warnings[i], w)
		}
	}

	chrome := map[string]string{
		"Cache-Control":   "max-age=0",
		"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
		"User-Agent":      "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0.1650.63 Safari/537.36",
		"Accept-Encoding": "gzip,deflate,sdch",
		"Accept-Language": "en-US,en;q=0.8,zh-CN;q=0.6",
	}
	global := map[string]string{"content-type": "application/json"}
	weather := map[string]string{"content-type": "text/xml;charset=UTF-8"}
	if want := map[string]map[string]string{"SUPERMAN_GLOBAL": global, "SIMULATE_CHROME": chrome, "HEADER_PUBLIC_WEATHER": weather}; !reflect.DeepEqual(imp.HeaderSets, want) {
		t.Errorf("header sets %v, want %v", imp.HeaderSets, want)
	}

	cmds := []struct {
		name string
		http job.HTTPSpec
		conc int
		max  int
	}{
		{"GET_PUBLIC_WEATHER_APIVARREPLACE", job.HTTPSpec{Method: "POST", Scheme: "http", Port: "80", Path: "/WeatherWS/Weather.asmx",
			Body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:weat="http://ws.cdyne.com/WeatherWS/">` +
				`<soapenv:Header/><soapenv:Body><weat:GetCityWeatherByZIP><weat:ZIP>${APIVARREPLACE_ZIP_VAR}</weat:ZIP></weat:GetCityWeatherByZIP>` +
				`</soapenv:Body></soapenv:Envelope>`,
			Headers: weather}, 20, 0},
		{"GET_FRONT_PAGE", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "80", Headers: chrome}, 0, 5000},
		{"GET_CRAIGSLIST_RSS", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "80", Path: "/act/index.rss", Headers: global}, 0, 5000},
		{"GET_CRAIGSLIST_ITEM_COUNT", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "80", Path: "/search/cta?catAbb=cta&query=honda", Headers: global}, 0, 0},
		// ${URL_VI} is the VARIABLES_PREDEFINED block's, replaced at import.
		{"GET_VALIDATE_INTERNALS", job.HTTPSpec{Method: "GET", Scheme: "http", Port: "80", Path: "/validateInternals.html", Headers: global}, 0, 0},
	}
	for _, tc := range cmds {
		t.Run(tc.name, func(t *testing.T) {
			s := imp.Commands[tc.name]
			if s == nil {
				t.Fatalf("not imported")
			}
			if !reflect.DeepEqual(*s.HTTP, tc.http) {
				t.Errorf("http %+v, want %+v", *s.HTTP, tc.http)
			}
			if s.MaxConcurrency != tc.conc || s.MaxBodyBytes != tc.max || s.Aggregation != nil {
				t.Errorf("conc %d maxBody %d agg %+v, want %d %d nil", s.MaxConcurrency, s.MaxBodyBytes, s.Aggregation, tc.conc, tc.max)
			}
		})
	}

	aggs := map[string]string{
		"PATTERN_EXTRACT_EXCEPTION_SUMMARY_FROM_ERROR_MSG": `(.*?)\sDetails.*`,
		"DEFAULT_METRIC":            `.*<li>\s*Build\sTimestamp:\s(.*)\s*</li>.*`,
		"FULL_PAYLOAD":              `([\s\S.]*)`,
		"PATTERN_WEATHER_WSDL_WIND": `.*<Wind>(.*?)</Wind>.*`, // trailing spaces trimmed, as REST Commander did
		"PATTERN_VI_SERVER_MEMORY":  `.*<td>Memory-Used-KB</td>\s*<td>(.*?)</td>[\s\S]*`,
	}
	for name, re := range aggs {
		if got := imp.Aggregations[name]; got.Regex != re {
			t.Errorf("aggregation %s: regex %q, want %q", name, got.Regex, re)
		}
	}
	for _, name := range []string{RCStatusCodeAggregation, RCResponseTimeAggregation} {
		if _, ok := imp.Aggregations[name]; ok {
			t.Errorf("aggregation %s imported; want it skipped with a note", name)
		}
	}

	groups := []struct {
		name        string
		n           int
		first, last string
	}{
		{"ADHOC_NODE_LIST_CRAIGLIST", 15, "sfbay.craigslist.org", "honolulu.craigslist.org"},
		{"ADHOC_NODE_LIST_SAMPLE_WEBSERVERS", 3, "www.yangli907.com", "www.restcommander.com"},
		{"ADHOC_NODE_LIST_TOP100WEBSITES", 97, "www.facebook.com", "www.forbes.com"},
		{"ADHOC_NODE_LIST_TOP500WEBSITES", 490, "www.facebook.com", "www.uchicago.edu"},
	}
	for _, g := range groups {
		h := imp.NodeGroups[g.name].Hosts
		if len(h) != g.n || h[0] != g.first || h[len(h)-1] != g.last {
			t.Errorf("node group %s: %d hosts %q … %q, want %d %q … %q", g.name, len(h), first(h), last(h), g.n, g.first, g.last)
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestImportRCShippedAsJava compares every definition imported from the
// shipped files with what a line-for-line transcription of REST
// Commander's loaders (AgentConfigProvider.update*FromConf) reads.
func TestImportRCShippedAsJava(t *testing.T) {
	imp, err := ImportRC(rcShippedDir)
	if err != nil {
		t.Fatalf("ImportRC: %v", err)
	}
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(rcShippedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	headers := javaHeaders(read(RCHTTPHeaderFile))
	if !reflect.DeepEqual(imp.HeaderSets, headers) {
		t.Errorf("header sets %v, REST Commander %v", imp.HeaderSets, headers)
	}
	aggs := javaAggregations(read(RCAggregationFile))
	delete(aggs, RCStatusCodeAggregation)
	delete(aggs, RCResponseTimeAggregation)
	got := map[string]string{}
	for name, a := range imp.Aggregations {
		got[name] = a.Regex
	}
	if !reflect.DeepEqual(got, aggs) {
		t.Errorf("aggregations %v, REST Commander %v", got, aggs)
	}
	groups := javaNodeGroups(read(RCNodeGroupFile))
	if len(groups) != len(imp.NodeGroups) {
		t.Errorf("%d node groups, REST Commander %d", len(imp.NodeGroups), len(groups))
	}
	for name, hosts := range groups {
		if !slices.Equal(imp.NodeGroups[name].Hosts, hosts) {
			t.Errorf("node group %s: %q, REST Commander %q", name, imp.NodeGroups[name].Hosts, hosts)
		}
	}
	cmds := javaCommands(read(RCAgentCommandFile))
	if got, want := slices.Sorted(maps.Keys(imp.Commands)), slices.Sorted(maps.Keys(cmds)); !slices.Equal(got, want) {
		t.Fatalf("commands %v, REST Commander %v", got, want)
	}
	// What REST Commander sent: $NULL_URL and $AM_FULL_CONTENT empty, a
	// replacementVarMap value for every other $VAR.
	vals := map[string]string{"APIVARREPLACE_ZIP_VAR": "95125"}
	rcSent := func(s string) string {
		s = strings.ReplaceAll(s, "$"+RCNullURLVar, "")
		s = strings.ReplaceAll(s, "$"+RCFullContentVar, "")
		return rcReplace(s, vals)
	}
	expand := func(tmpl string) string {
		c, err := job.Compile(tmpl)
		if err != nil {
			t.Fatalf("compile %q: %v", tmpl, err)
		}
		s, err := c.Expand(func(n string) (string, bool) { v, ok := vals[n]; return v, ok })
		if err != nil {
			t.Fatalf("expand %q: %v", tmpl, err)
		}
		return s
	}
	for name, rc := range cmds {
		t.Run(name, func(t *testing.T) {
			s := imp.Commands[name]
			h := s.HTTP
			if h.Method != rc.method || h.Scheme != rc.protocol || h.Port != rc.port {
				t.Errorf("%s %s %s, REST Commander %s %s %s", h.Method, h.Scheme, h.Port, rc.method, rc.protocol, rc.port)
			}
			if got, want := expand(h.Path), rcSent(rc.url); got != want {
				t.Errorf("path %q, REST Commander %q", got, want)
			}
			if got, want := expand(h.Body), strings.TrimSpace(rcSent(rc.body)); got != want {
				t.Errorf("body %q, REST Commander %q", got, want)
			}
			if s.MaxConcurrency != max(rc.maxConc, 0) || s.MaxBodyBytes != max(rc.extractEnd, 0) || (rc.extractStart <= 0) != (s.Aggregation == nil) {
				t.Errorf("conc %d maxBody %d agg %+v, REST Commander %d %d..%d", s.MaxConcurrency, s.MaxBodyBytes, s.Aggregation, rc.maxConc, rc.extractStart, rc.extractEnd)
			}
			if !reflect.DeepEqual(h.Headers, headers[rc.headerType]) {
				t.Errorf("headers %v, REST Commander %v (%s)", h.Headers, headers[rc.headerType], rc.headerType)
			}
		})
	}
}

// javaSkip is the test REST Commander's loaders skip a line with.
func javaSkip(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "%") || strings.HasPrefix(t, "```")
}

// javaSplit is Java's line.split(" ").
func javaSplit(line string) []string {
	f := strings.Split(line, " ")
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return f
}

type javaCommand struct {
	method, protocol, port, url, body, headerType string
	maxConc, extractStart, extractEnd             int
}

// javaCommands transcribes updateAgentCommandMetadatasFromConf.
func javaCommands(lines []string) map[string]javaCommand {
	out := map[string]javaCommand{}
	vars := map[string]string{}
	varLine := regexp.MustCompile(`^(.*)=(.*)$`)
	replace := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if javaSkip(line) {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(line), "VARIABLES_PREDEFINED") {
			started := false
			for i++; i < len(lines); i++ {
				l := lines[i]
				if strings.EqualFold(l, "```VARIABLES_PREDEFINED_LIST_START") {
					started = true
				} else if strings.EqualFold(l, "```VARIABLES_PREDEFINED_LIST_END") {
					break
				} else if strings.TrimSpace(l) != "" && started {
					if m := varLine.FindStringSubmatch(l); m != nil {
						vars[m[1]] = m[2]
					}
				}
			}
			for i++; lines[i] == "" || strings.HasPrefix(strings.TrimSpace(lines[i]), "%"); i++ {
			}
			line = lines[i]
		}
		i++
		body := replace(strings.ReplaceAll(lines[i], "```", ""))
		w := javaSplit(line)
		if len(w) < 8 {
			continue
		}
		atoi := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil {
				panic(err) // REST Commander stopped reading the file
			}
			return n
		}
		c := javaCommand{method: w[1], protocol: w[2], port: w[3], url: replace(w[4]), body: body,
			maxConc: atoi(w[5]), extractStart: atoi(w[6]), extractEnd: atoi(w[7]), headerType: RCDefaultHeaderSet}
		if len(w) > 8 {
			c.headerType = strings.TrimSpace(w[8])
		}
		out[w[0]] = c
	}
	return out
}

// javaAggregations transcribes updateAggregationMetadatasFromConf.
func javaAggregations(lines []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(lines); i++ {
		if javaSkip(lines[i]) {
			continue
		}
		name := strings.TrimSpace(lines[i])
		i++
		out[name] = strings.ReplaceAll(strings.TrimSpace(lines[i]), "```", "")
	}
	return out
}

// javaHeaders transcribes updateCommonHttpHeaderFromConf.
func javaHeaders(lines []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for i := 0; i < len(lines); i++ {
		if javaSkip(lines[i]) {
			continue
		}
		name := strings.TrimSpace(lines[i])
		h := map[string]string{}
		started := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if strings.EqualFold(l, "```HTTP_HEADER_LIST_START") {
				started = true
			} else if strings.EqualFold(l, "```HTTP_HEADER_LIST_END") {
				break
			} else if started && strings.TrimSpace(l) != "" {
				i++
				h[strings.TrimSpace(l)] = strings.ReplaceAll(strings.TrimSpace(lines[i]), "```", "")
			}
		}
		out[name] = h
	}
	return out
}

// javaNodeGroups transcribes updateNodeGroupSourceMetadatasFromConf.
func javaNodeGroups(lines []string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i < len(lines); i++ {
		if javaSkip(lines[i]) {
			continue
		}
		w := javaSplit(lines[i])
		if len(w) < 4 || !strings.EqualFold(w[0], "ADHOC") {
			continue
		}
		var hosts []string
		started := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if strings.EqualFold(l, "```ADHOC_NODE_LIST_START") {
				started = true
			} else if strings.EqualFold(l, "```ADHOC_NODE_LIST_END") {
				break
			} else if started && !slices.Contains(hosts, strings.TrimSpace(l)) {
				hosts = append(hosts, strings.TrimSpace(l))
			}
		}
		out[w[1]] = hosts
	}
	return out
}

// Lines REST Commander ignored are ignored with a warning naming file and
// line; the rest of the file imports.
func TestParseRCIgnoredLines(t *testing.T) {
	cases := []struct {
		name, file, text string
		warnings         []string // each the start of a warning, in order
		defs             []string // "kind/name" of every definition
	}{
		{
			name: "END CMS line after the predefined variables",
			file: "agentcommand.conf",
			text: "VARIABLES_PREDEFINED\n```VARIABLES_PREDEFINED_LIST_START\n${U}=/u\n```VARIABLES_PREDEFINED_LIST_END\n" +
				"######## END CMS Update 20130916 ###############################\n\n" +
				"CMD GET http 80 ${U} 0 -1 -1\n```$AM_FULL_CONTENT\n",
			warnings: []string{"agentcommand.conf:5: ignored: 6 fields"},
			defs:     []string{"command/CMD"},
		},
		{
			name:     "END line between commands",
			file:     "agentcommand.conf",
			text:     "A GET http 80 /a 0 -1 -1\n```\n######## END ####\n\nB GET http 80 /b 0 -1 -1\n```\n",
			warnings: []string{"agentcommand.conf:3: ignored: 3 fields"},
			defs:     []string{"command/A", "command/B"},
		},
		{
			name:     "seven fields",
			file:     "agentcommand.conf",
			text:     "SHORT GET http 80 /x 0 -1\n```$AM_FULL_CONTENT\nOK GET http 80 /y 0 -1 -1\n```\n",
			warnings: []string{"agentcommand.conf:1: ignored: 7 fields, a command line has 8 or 9"},
			defs:     []string{"command/OK"},
		},
		{
			name:     "short line eats the next line as its body",
			file:     "agentcommand.conf",
			text:     "BAD GET http\nLOST GET http 80 /x 0 -1 -1\n```\nOK GET http 80 /y 0 -1 -1\n```\n",
			warnings: []string{"agentcommand.conf:1: ignored: 3 fields, a command line has 8 or 9 (NAME METHOD PROTOCOL PORT URL_POSTFIX MAX_CONC EXTRACT_START EXTRACT_END [HEADER_SET]); REST Commander read line 2 as its body"},
			defs:     []string{"command/OK"},
		},
		{
			name:     "two spaces make an empty field for REST Commander",
			file:     "agentcommand.conf",
			text:     "CMD  GET http 80 /x 0 -1\n```\n",
			warnings: []string{"agentcommand.conf:1: ignored: 7 fields"},
		},
		{
			name:     "body line without backticks",
			file:     "agentcommand.conf",
			text:     "%c\nCMD GET http 80 /x 0 -1 -1\n\nNEXT GET http 80 /y 0 -1 -1\n```\n",
			warnings: []string{"agentcommand.conf:3: command CMD: this line is its body"},
			defs:     []string{"command/CMD", "command/NEXT"},
		},
		{
			name:     "command at the end of the file",
			file:     "agentcommand.conf",
			text:     "A GET http 80 /a 0 -1 -1\n```\nLAST GET http 80 /x 0 -1 -1",
			warnings: []string{"agentcommand.conf:3: command LAST ignored: the file ends before its body line"},
			defs:     []string{"command/A"},
		},
		{
			name: "predefined variable lines",
			file: "agentcommand.conf",
			text: "VARIABLES_PREDEFINED\nstray\n```VARIABLES_PREDEFINED_LIST_START\nno equals sign\n${Q}=a=b\n```VARIABLES_PREDEFINED_LIST_END\n" +
				"CMD GET http 80 /x 0 -1 -1\n```\n",
			warnings: []string{
				"agentcommand.conf:2: ignored: before ```VARIABLES_PREDEFINED_LIST_START",
				"agentcommand.conf:4: ignored: want a predefined variable",
				"agentcommand.conf:5: predefined variable ${Q}: its value has a '='",
			},
			defs: []string{"command/CMD"},
		},
		{
			name:     "node group line of fewer than 4 fields",
			file:     "nodegroup.conf",
			text:     "ADHOC G\n",
			warnings: []string{"nodegroup.conf:1: ignored: 2 fields, a node group line has 4"},
		},
		{
			name:     "node group line of fewer than 4 fields with its hosts",
			file:     "nodegroup.conf",
			text:     "ADHOC G NA\n```ADHOC_NODE_LIST_START\nh1\n```ADHOC_NODE_LIST_END\n######## END\nADHOC H NA NA\n```ADHOC_NODE_LIST_START\nh2\n```ADHOC_NODE_LIST_END\n",
			warnings: []string{"nodegroup.conf:1: ignored with its host list: 3 fields", "nodegroup.conf:5: ignored: 2 fields"},
			defs:     []string{"nodegroup/H"},
		},
		{
			name:     "END line in aggregation.conf",
			file:     "aggregation.conf",
			text:     "######## END CMS Update ####\n\nRULE\n```v=(.*)\n",
			warnings: []string{`aggregation.conf:1: ignored: "######## END CMS Update ####" has spaces, so it is no aggregation name`},
			defs:     []string{"aggregation/RULE"},
		},
		{
			name:     "aggregation line with spaces eats the next line",
			file:     "aggregation.conf",
			text:     "## a b\nLOST\n```(x)\nRULE\n```v=(.*)\n",
			warnings: []string{`aggregation.conf:1: ignored: "## a b" has spaces, so it is no aggregation name; REST Commander read line 2 as its regex`},
			defs:     []string{"aggregation/RULE"},
		},
		{
			name:     "END line in httpheader.conf",
			file:     "httpheader.conf",
			text:     "######## END ####\nH\n```HTTP_HEADER_LIST_START\nAccept\n```text/plain\n```HTTP_HEADER_LIST_END\n",
			warnings: []string{`httpheader.conf:1: ignored: "######## END ####" has spaces`},
			defs:     []string{"headerset/H"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			imp := &RCImport{Definitions: newDefinitions()}
			if err := ParseRC(tc.file, strings.NewReader(tc.text), imp); err != nil {
				t.Fatalf("ParseRC: %v", err)
			}
			if len(imp.Warnings) != len(tc.warnings) {
				t.Errorf("warnings %q, want %d", imp.Warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if i < len(imp.Warnings) && !strings.HasPrefix(imp.Warnings[i], w) {
					t.Errorf("warning %q, want it to start with %q", imp.Warnings[i], w)
				}
			}
			if got := slices.Sorted(maps.Keys(imp.Origins)); !slices.Equal(got, tc.defs) {
				t.Errorf("definitions %v, want %v", got, tc.defs)
			}
		})
	}

	// The body REST Commander read is the command's, and ${VAR}s are
	// replaced in the URL postfix only, not in other fields.
	imp := &RCImport{Definitions: newDefinitions()}
	text := "VARIABLES_PREDEFINED\n```VARIABLES_PREDEFINED_LIST_START\n${P}=8080\n${U}=/u\n```VARIABLES_PREDEFINED_LIST_END\n" +
		"CMD POST http 80 ${U} 0 -1 -1\n{\"port\": \"${P}\"}\n"
	if err := ParseRC("agentcommand.conf", strings.NewReader(text), imp); err != nil {
		t.Fatalf("ParseRC: %v", err)
	}
	if h := imp.Commands["CMD"].HTTP; h.Path != "/u" || h.Body != `{"port": "8080"}` || h.Port != "80" {
		t.Errorf("path %q body %q port %q", h.Path, h.Body, h.Port)
	}
}

// At a node's start, entries REST Commander loaded but salvo cannot use are
// left out with a warning instead of failing the import.
func TestImportRCSkippingLeavesOutWhatSalvoRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A lookahead RE2 cannot compile, and a good aggregation beside it.
	write(RCAggregationFile, "BAD_RE\n```.*(?=x)(\\d+).*\nGOOD_RE\n```.*v=(\\d+).*\n")
	if _, err := ImportRC(dir); err == nil {
		t.Fatal("ImportRC accepted a regex RE2 cannot compile")
	}
	imp, err := ImportRCSkipping(dir)
	if err != nil {
		t.Fatalf("ImportRCSkipping: %v", err)
	}
	if _, ok := imp.Aggregations["GOOD_RE"]; !ok {
		t.Errorf("the good aggregation is missing: %v", imp.Aggregations)
	}
	if _, ok := imp.Aggregations["BAD_RE"]; ok {
		t.Error("the refused aggregation was imported")
	}
	found := false
	for _, w := range imp.Warnings {
		found = found || (strings.Contains(w, RCAggregationFile+":") && strings.Contains(w, "left out"))
	}
	if !found {
		t.Errorf("no warning names the file and says it was left out: %v", imp.Warnings)
	}
}
