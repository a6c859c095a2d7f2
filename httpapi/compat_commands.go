package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// rcMaxWait bounds the wait of the synchronous REST Commander endpoints for
// their job (REST Commander's own bound was 42 minutes).
const rcMaxWait = 30 * time.Minute

// JobIDHeader carries the job id on the answers of the synchronous REST
// Commander endpoints.
const JobIDHeader = "X-Salvo-Job-Id"

// rcSendToNodeGroup runs a named command on a named node group and answers
// the job id as plain text at once.
func (s *Server) rcSendToNodeGroup(c *gin.Context) {
	c.Set(submitKey, true)
	p, ok := params(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	spec, err := s.rcToNodeGroupSpec(ctx, p)
	if err != nil {
		fail(c, err)
		return
	}
	if err := checkScope(c, spec.NodeGroup, 0); err != nil {
		fail(c, err)
		return
	}
	st, err := s.engine.Submit(s.submitContext(c), spec)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(auditTargetKey, st.ID)
	s.logSubmit(c, st)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(st.ID))
}

func (s *Server) rcToNodeGroupSpec(ctx context.Context, p rcParams) (*job.Spec, error) {
	group, err := p.required("nodeGroupType")
	if err != nil {
		return nil, err
	}
	name, err := p.required("agentCommandType")
	if err != nil {
		return nil, err
	}
	if _, err := p.flag("localMode", false); err != nil {
		return nil, err // accepted: a single node always runs its jobs locally
	}
	spec, name, err := s.rcCommand(ctx, name)
	if err != nil {
		return nil, err
	}
	hosts, group, err := s.rcNodeGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	spec.ResolveNodeGroup(hosts)
	spec.Origin = &job.Origin{NodeGroup: group, Command: name}
	if p.has("failOver") {
		v, err := p.flag("failOver", true)
		if err != nil {
			return nil, err
		}
		spec.FailOver = &v
	}
	if err := s.rcMaxConc(p, spec); err != nil {
		return nil, err
	}
	rcFillUnknownVars(spec)
	return spec, nil
}

// rcMaxConc applies maxConcNum, and bounds the concurrency by the worker
// capacity as REST Commander did (instead of refusing the job).
func (s *Server) rcMaxConc(p rcParams, spec *job.Spec) error {
	n, given, err := p.integer("maxConcNum")
	if err != nil {
		return err
	}
	if given && n > 0 {
		spec.MaxConcurrency = n
	}
	if c := s.engine.Capacity(); c > 0 && spec.MaxConcurrency > c {
		spec.MaxConcurrency = c
	}
	return nil
}

// rcCommand reads a named command template and its stored name
// (rcDefinition: the name's case may differ).
func (s *Server) rcCommand(ctx context.Context, name string) (*job.Spec, string, error) {
	body, stored, err := s.rcDefinition(ctx, store.KindCommand, "agentCommandType", name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", badRequest("agentCommandType", fmt.Sprintf("unknown command %q", name))
	}
	if err != nil {
		return nil, "", err
	}
	name = stored
	spec, err := job.DecodeSpec(bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("stored command %q: %w", name, err)
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if what := redactedPart(spec); what != "" {
		return nil, "", badRequest("agentCommandType", fmt.Sprintf("command %q holds secrets, which are not stored (%s is %s): "+
			"give the command in the request (useNewAgentCommand) with a header set, or submit it through /api/v1/jobs", name, what, job.Redacted))
	}
	return spec, name, nil
}

// redactedPart names a part of a stored spec whose secret was redacted, or
// returns "".
func redactedPart(spec *job.Spec) string {
	if h := spec.HTTP; h != nil {
		for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
			if h.Headers[k] == job.Redacted {
				return "header " + k
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Vars)) {
		if spec.Vars[k] == job.Redacted {
			return "variable " + k
		}
	}
	if ss := spec.SSH; ss != nil && (ss.Auth.Password == job.Redacted || ss.Auth.Passphrase == job.Redacted) {
		return "the SSH password or passphrase"
	}
	return ""
}

// rcNodeGroup reads a named node group's hosts and its stored name
// (rcDefinition: the name's case may differ).
func (s *Server) rcNodeGroup(ctx context.Context, name string) ([]string, string, error) {
	body, stored, err := s.rcDefinition(ctx, store.KindNodeGroup, "nodeGroupType", name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", badRequest("nodeGroupType", fmt.Sprintf("unknown node group %q", name))
	}
	if err != nil {
		return nil, "", err
	}
	var ng conf.NodeGroup
	if err := json.Unmarshal(body, &ng); err != nil {
		return nil, "", fmt.Errorf("stored node group %q: %w", stored, err)
	}
	if len(ng.Hosts) == 0 {
		return nil, "", badRequest("nodeGroupType", fmt.Sprintf("node group %q has no hosts", stored))
	}
	return ng.Hosts, stored, nil
}

// rcAggregation reads a named aggregation rule's regex (rcDefinition:
// the name's case may differ; field names the parameter in errors).
func (s *Server) rcAggregation(ctx context.Context, field, name string) (string, bool, error) {
	body, stored, err := s.rcDefinition(ctx, store.KindAggregation, field, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var a conf.Aggregation
	if err := json.Unmarshal(body, &a); err != nil {
		return "", false, fmt.Errorf("stored aggregation %q: %w", stored, err)
	}
	return a.Regex, true, nil
}

// rcLookup resolves the header sets and aggregations of newAgentCommandLine
// from the store, names matched as rcDefinition does. failed returns the
// first error met (an ambiguous name), which the lookup itself cannot
// report.
func (s *Server) rcLookup(ctx context.Context) (lk conf.RCLookup, failed func() error) {
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	lk = conf.RCLookup{
		HeaderSet: func(name string) (map[string]string, bool) {
			body, _, err := s.rcDefinition(ctx, store.KindHeaderSet, "newAgentCommandLine", name)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					keep(err)
				}
				return nil, false
			}
			var h map[string]string
			return h, json.Unmarshal(body, &h) == nil
		},
		Aggregation: func(name string) (string, bool) {
			re, ok, err := s.rcAggregation(ctx, "newAgentCommandLine", name)
			if err != nil {
				keep(err)
			}
			return re, ok && err == nil
		},
	}
	return lk, func() error { return first }
}

// rcFillUnknownVars defines every variable the templates use that has no
// value as its own text, "$NAME": on the REST Commander endpoints an
// unknown "$WORD" is sent as it is.
func rcFillUnknownVars(spec *job.Spec) {
	var srcs []string
	if h := spec.HTTP; h != nil {
		srcs = append(srcs, h.Port, h.Path, h.Body)
		for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
			srcs = append(srcs, h.Headers[k])
		}
	}
	if spec.SSH != nil {
		srcs = append(srcs, spec.SSH.Command)
	}
	for _, src := range srcs {
		t, err := job.Compile(src)
		if err != nil {
			continue // Normalize reports it
		}
		for _, name := range t.Vars() {
			if job.IsBuiltinVar(name) {
				continue
			}
			if _, ok := spec.Vars[name]; ok {
				continue
			}
			if spec.Vars == nil {
				spec.Vars = map[string]string{}
			}
			spec.Vars[name] = "$" + name
		}
	}
}

// rcPrivateVar starts the salvo variable names given to replacement keys
// that are no valid variable names.
const rcPrivateVar = "_rc"

// rcAdhoc is a synchronous request's job: its spec and, by target index,
// the node names and replacements given.
type rcAdhoc struct {
	spec  *job.Spec
	nodes []string
	vars  []map[string]string // replacements per node, by their REST Commander keys
	// aggregate is willAggregateResponse.
	aggregate bool
}

// rcSendAdhoc runs a command (named, or given by newAgentCommandLine) on
// targetNodes with replacement variables, waits for the job and answers
// its aggregation, or every node's response when willAggregateResponse is
// false.
func (s *Server) rcSendAdhoc(c *gin.Context) {
	c.Set(submitKey, true)
	p, ok := params(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	j, err := s.rcAdhocJob(ctx, p)
	if err != nil {
		fail(c, err)
		return
	}
	if err := checkScope(c, j.spec.NodeGroup, len(j.spec.Targets)); err != nil {
		fail(c, err)
		return
	}
	st, err := s.engine.Submit(s.submitContext(c), j.spec)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(auditTargetKey, st.ID)
	s.logSubmit(c, st)
	c.Header(JobIDHeader, st.ID)
	if err := s.rcWait(ctx, st.ID); err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
			s.cfg.Logger.Info("client left before its job finished; the job goes on", "job", st.ID)
			c.Abort()
			return
		}
		fail(c, err)
		return
	}
	if !j.aggregate {
		s.rcWriteNodeMap(c, st.ID, j)
		return
	}
	out, err := s.rcAggregate(ctx, st.ID, j.nodes)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// rcAdhocJob builds the job of a synchronous request.
func (s *Server) rcAdhocJob(ctx context.Context, p rcParams) (*rcAdhoc, error) {
	nodes, err := p.list("targetNodes")
	if err != nil {
		return nil, err
	}
	nodes = dedupNodes(nodes)
	if len(nodes) == 0 {
		return nil, badRequest("targetNodes", "targetNodes lists no node")
	}
	global, err := p.strMap("replacementVarMap")
	if err != nil {
		return nil, err
	}
	perNode, err := p.nodeMap("replacementVarMapNodeSpecific")
	if err != nil {
		return nil, err
	}
	// Every replacement key becomes a salvo variable: its own name when it
	// is a valid one that vars may set, else a private name.
	names := map[string]string{}
	addKeys := func(m map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if _, ok := names[k]; ok || k == "" {
				continue
			}
			if job.ValidVarName(k) && !job.IsReservedVar(k) {
				names[k] = k
			} else {
				names[k] = rcPrivateVar + strconv.Itoa(len(names))
			}
		}
	}
	addKeys(global)
	for _, h := range slices.Sorted(maps.Keys(perNode)) {
		addKeys(perNode[h])
	}

	spec, err := s.rcAdhocSpec(ctx, p, names)
	if err != nil {
		return nil, err
	}
	j := &rcAdhoc{spec: spec, nodes: nodes, vars: make([]map[string]string, len(nodes))}
	if j.aggregate, err = p.flag("willAggregateResponse", false); err != nil {
		return nil, err
	}
	if j.aggregate {
		if err := s.rcAdhocAggregation(ctx, p, spec); err != nil {
			return nil, err
		}
	}
	if err := s.rcMaxConc(p, spec); err != nil {
		return nil, err
	}
	for k, v := range global {
		if spec.Vars == nil {
			spec.Vars = map[string]string{}
		}
		spec.Vars[names[k]] = v
	}
	spec.Targets = make([]job.TargetSpec, len(nodes))
	for i, n := range nodes {
		t := job.TargetSpec{Host: n}
		j.vars[i] = maps.Clone(global)
		if nv := perNode[n]; len(nv) > 0 {
			t.Vars = make(map[string]string, len(nv))
			for k, v := range nv {
				t.Vars[names[k]] = v
			}
			if h := nv[conf.RCTargetNodeVar]; h != "" && h != job.NA {
				t.Host = h // REST Commander sends this node's request to another host
			}
			if j.vars[i] == nil {
				j.vars[i] = map[string]string{}
			}
			maps.Copy(j.vars[i], nv)
		}
		spec.Targets[i] = t
	}
	spec.NodeGroup = ""
	rcFillUnknownVars(spec)
	return j, nil
}

// dedupNodes trims nodes and drops empty and repeated ones, keeping the
// first occurrence, as REST Commander does.
func dedupNodes(nodes []string) []string {
	seen := make(map[string]bool, len(nodes))
	out := nodes[:0]
	for _, n := range nodes {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// rcAdhocSpec returns the command of a synchronous request: the one given
// by newAgentCommandLine, or the named one.
func (s *Server) rcAdhocSpec(ctx context.Context, p rcParams, names map[string]string) (*job.Spec, error) {
	useNew, err := p.flag("useNewAgentCommand", false)
	if err != nil {
		return nil, err
	}
	if !useNew {
		name, err := p.str("agentCommandType")
		if err != nil {
			return nil, err
		}
		if name == "" {
			return nil, badRequest("agentCommandType", "give agentCommandType, or useNewAgentCommand with newAgentCommandLine")
		}
		spec, name, err := s.rcCommand(ctx, name)
		if err != nil {
			return nil, err
		}
		spec.Origin = &job.Origin{Command: name}
		return spec, nil
	}
	line, err := p.required("newAgentCommandLine")
	if err != nil {
		return nil, err
	}
	body, err := p.str("newAgentCommandContentTemplate")
	if err != nil {
		return nil, err
	}
	lk, failed := s.rcLookup(ctx)
	cmd, err := conf.ParseRCCommand(line, body, conf.RCVars{Keys: names}, lk)
	if err != nil {
		if ferr := failed(); ferr != nil {
			return nil, ferr
		}
		return nil, badRequest("newAgentCommandLine", err.Error())
	}
	if cmd.Name != "" {
		cmd.Spec.Origin = &job.Origin{Command: cmd.Name}
	}
	return cmd.Spec, nil
}

// rcPercentEscape finds a %XX escape.
var rcPercentEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// rcDecodeExpression undoes the URL encoding REST Commander expected of
// newAggregationExpression. An expression without a %XX escape is taken
// as it is, and '+' is never turned into a space.
func rcDecodeExpression(expr string) string {
	if !rcPercentEscape.MatchString(expr) {
		return expr
	}
	if d, err := url.PathUnescape(expr); err == nil {
		return d
	}
	return expr
}

// rcAdhocAggregation sets the regex that gives each response its value.
func (s *Server) rcAdhocAggregation(ctx context.Context, p rcParams, spec *job.Spec) error {
	useNew, err := p.flag("useNewAggregation", false)
	if err != nil {
		return err
	}
	typ, err := p.str("aggregationType")
	if err != nil {
		return err
	}
	if useNew {
		expr, err := p.required("newAggregationExpression")
		if err != nil {
			return err
		}
		expr = rcDecodeExpression(expr)
		re, err := regexp.Compile(expr)
		if err != nil {
			return badRequest("newAggregationExpression", fmt.Sprintf("invalid newAggregationExpression %q: %v", expr, err))
		}
		if re.NumSubexp() < 1 {
			return badRequest("newAggregationExpression", "newAggregationExpression needs a capture group: group 1 is the value")
		}
		spec.Aggregation = &job.Aggregation{Name: typ, Regex: expr}
		return nil
	}
	switch {
	case strings.EqualFold(typ, conf.RCStatusCodeAggregation):
		spec.Aggregation = nil
		return nil
	case strings.EqualFold(typ, conf.RCResponseTimeAggregation):
		return badRequest("aggregationType", fmt.Sprintf("aggregationType %s is not supported", typ))
	case typ == "":
		if spec.Aggregation != nil {
			return nil // the command's own rule
		}
		typ = conf.RCDefaultAggregation
	}
	re, ok, err := s.rcAggregation(ctx, "aggregationType", typ)
	switch {
	case err != nil:
		return err
	case ok:
		spec.Aggregation = &job.Aggregation{Name: typ, Regex: re}
	case typ == conf.RCDefaultAggregation:
		spec.Aggregation = nil // no default rule: by status code
	default:
		return badRequest("aggregationType", fmt.Sprintf("unknown aggregation %q", typ))
	}
	return nil
}

// rcWait waits until a job is terminal, bounded by the request and by
// rcMaxWait.
func (s *Server) rcWait(ctx context.Context, id string) error {
	wctx, cancel := s.waitContext(ctx, rcMaxWait)
	defer cancel()
	st, err := s.engine.Wait(wctx, id)
	switch {
	case err != nil:
		return err
	case st.Terminal():
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	select {
	case <-s.done:
		return &Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("server shutting down; job %s goes on", id)}
	default:
		return &Error{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("job %s did not finish within %s: poll /distributedAgents/queryJobInfo?jobId=%s", id, rcMaxWait, id)}
	}
}

// rcValueNodes is one value of an aggregation and the nodes that answered it.
type rcValueNodes struct {
	Value    string   `json:"value"`
	NodeList []string `json:"nodeList"`
	IsError  bool     `json:"isError"`
}

// rcAggregationResponse is REST Commander's AggregationResponse: the count
// of each value (a string, as REST Commander wrote it) and the nodes of
// each value, sorted by value.
type rcAggregationResponse struct {
	AggregationMap              map[string]string `json:"aggregationMap"`
	AggregationValueToNodesList []rcValueNodes    `json:"aggregationValueToNodesList"`
}

// rcAggregate groups a job's results by value, naming each result by its
// node in nodes (by index). No body is read.
func (s *Server) rcAggregate(ctx context.Context, id string, nodes []string) (*rcAggregationResponse, error) {
	groups := map[string]*rcValueNodes{}
	err := s.st.ScanValues(ctx, id, func(r store.ValueRow) error {
		g := groups[r.Value]
		if g == nil {
			g = &rcValueNodes{Value: r.Value}
			groups[r.Value] = g
		}
		name := r.Host
		if r.Index >= 0 && r.Index < len(nodes) {
			name = nodes[r.Index]
		}
		g.NodeList = append(g.NodeList, name)
		g.IsError = g.IsError || r.State == job.StateError || r.State == job.StateTimeout
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &rcAggregationResponse{AggregationMap: make(map[string]string, len(groups)),
		AggregationValueToNodesList: make([]rcValueNodes, 0, len(groups))}
	for _, v := range slices.Sorted(maps.Keys(groups)) {
		out.AggregationMap[v] = strconv.Itoa(len(groups[v].NodeList))
		out.AggregationValueToNodesList = append(out.AggregationValueToNodesList, *groups[v])
	}
	return out, nil
}

// rcNodeResponse is REST Commander's per-node record (NodeReqResponse).
type rcNodeResponse struct {
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseContent   rcResponseContent `json:"responseContent"`
}

// rcResponseContent is one node's response as REST Commander reported it.
type rcResponseContent struct {
	Response     string `json:"response"`
	ResponseTime string `json:"responseTime"`
	ErrorMessage string `json:"errorMessage"`
	StatusCode   string `json:"statusCode"`
	IsError      bool   `json:"isError"`
	// State and Value are salvo's result state and extracted value.
	State string `json:"state"`
	Value string `json:"value"`
}

// rcResponseTime is the layout of rcResponseContent.ResponseTime.
const rcResponseTime = "2006.01.02.15.04.05.000-0700"

func rcNodeRecord(r *job.Result, vars map[string]string) rcNodeResponse {
	if vars == nil {
		vars = map[string]string{}
	}
	rc := rcResponseContent{
		Response:     r.Body,
		ResponseTime: r.FinishedAt.UTC().Format(rcResponseTime),
		ErrorMessage: r.Error,
		StatusCode:   job.NA,
		IsError:      r.State == job.StateError || r.State == job.StateTimeout,
		State:        r.State,
		Value:        r.Value,
	}
	if r.StatusCode > 0 {
		rc.StatusCode = strconv.Itoa(r.StatusCode)
	}
	return rcNodeResponse{RequestParameters: vars, ResponseContent: rc}
}

// rcWriteNodeMap streams {node: record} for every result of a job, one
// page of results in memory at a time.
func (s *Server) rcWriteNodeMap(c *gin.Context, id string, j *rcAdhoc) {
	ctx := c.Request.Context()
	q := store.ResultQuery{Limit: defaultLimit}
	items, next, err := s.st.Results(ctx, id, q)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	w := c.Writer
	sep := "{"
	for {
		for i := range items {
			r := &items[i]
			name, vars := r.Host, map[string]string(nil)
			if r.Index >= 0 && r.Index < len(j.nodes) {
				name, vars = j.nodes[r.Index], j.vars[r.Index]
			}
			k, _ := json.Marshal(name)
			v, err := json.Marshal(rcNodeRecord(r, vars))
			if err != nil {
				s.cfg.Logger.Warn("node map ended early", "job", id, "err", err)
				return
			}
			if _, err := fmt.Fprintf(w, "%s%s:%s", sep, k, v); err != nil {
				return // client went away
			}
			sep = ","
		}
		if next == 0 || ctx.Err() != nil {
			break
		}
		w.Flush()
		q.Cursor = next
		if items, next, err = s.st.Results(ctx, id, q); err != nil {
			s.cfg.Logger.Warn("node map ended early", "job", id, "err", err)
			return
		}
	}
	if sep == "{" {
		_, _ = w.WriteString("{")
	}
	_, _ = w.WriteString("}")
}
