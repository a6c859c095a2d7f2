package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// compatRoutes registers REST Commander's endpoints (docs/rest-commander.md),
// each for GET and POST, under its own name and in lower case.
func (s *Server) compatRoutes(r *gin.Engine) {
	routes := []struct {
		path string
		need auth.Role
		h    gin.HandlerFunc
	}{
		{"/commands/generateUpdateSendAgentCommandToNodeGroupForAsyncPolling", auth.Operator, s.rcSendToNodeGroup},
		{"/commands/genUpdateSendCommandWithReplaceVarMapAdhocJson", auth.Operator, s.rcSendAdhoc},
		{"/commands/genUpdateSendCommandWithReplaceVarMapNodeSpecificAdhocJson", auth.Operator, s.rcSendAdhoc},
		{"/distributedAgents/queryJobInfo", auth.Viewer, s.rcQueryJobInfo},
		{"/distributedAgents/queryJobQ", auth.Viewer, s.rcQueryJobQ},
		{"/distributedAgents/searchFqdn", auth.Viewer, s.rcSearchFqdn},
		{"/distributedAgents/queryProgress", auth.Viewer, s.rcQueryProgress},
		{"/distributedAgents/queryWorkerLoad", auth.Viewer, s.rcQueryWorkerLoad},
		{"/distributedAgents/resetScheduler", auth.Admin, s.rcResetScheduler},
		{"/distributedAgents/getClusterList", auth.Viewer, s.rcGetClusterList},
		{"/distributedAgents/enableClusterMember", auth.Admin, s.rcSetMember(true)},
		{"/distributedAgents/disableClusterMember", auth.Admin, s.rcSetMember(false)},
		{"/distributedAgents/shutdownNode", auth.Admin, s.rcShutdownNode},
		{"/distributedAgents/createNode", auth.Admin, s.rcCreateNode},
	}
	for _, rt := range routes {
		s.routeAny(&r.RouterGroup, rt.need, rt.path, rt.h)
		if lower := strings.ToLower(rt.path); lower != rt.path {
			s.routeAny(&r.RouterGroup, rt.need, lower, rt.h)
		}
	}
}

// params reads the request's parameters, failing the request on error.
func params(c *gin.Context) (rcParams, bool) {
	p, err := readRCParams(c)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	return p, true
}

// required returns a string parameter that must be given.
func (p rcParams) required(name string) (string, error) {
	s, err := p.str(name)
	if err == nil && s == "" {
		err = badRequest(name, name+" is required")
	}
	return s, err
}

// rcJob reads the job named by the jobId parameter.
func (s *Server) rcJob(c *gin.Context, p rcParams) (*store.Job, bool) {
	id, err := p.required("jobId")
	if err != nil {
		fail(c, err)
		return nil, false
	}
	j, err := s.st.GetJob(c.Request.Context(), id)
	if err != nil {
		fail(c, notFound(err, "job", id))
		return nil, false
	}
	return j, true
}

// rcJobParams reads a request's parameters and the job its jobId names;
// false when it has answered with an error.
func (s *Server) rcJobParams(c *gin.Context) (rcParams, *store.Job, bool) {
	p, ok := params(c)
	if !ok {
		return p, nil, false
	}
	j, ok := s.rcJob(c, p)
	return p, j, ok
}

func (s *Server) rcQueryJobInfo(c *gin.Context) {
	_, j, ok := s.rcJobParams(c)
	if !ok {
		return
	}
	info, err := s.rcJobInfo(c.Request.Context(), j)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

// rcQueueLimit is how many jobs queryJobQ lists by default: each ended job
// costs a pass over its stored results.
const rcQueueLimit = 100

// rcQueryJobQ lists the latest jobs (limit, default 100, at most 10,000)
// in the order they were submitted, as REST Commander's job list.
func (s *Server) rcQueryJobQ(c *gin.Context) {
	p, ok := params(c)
	if !ok {
		return
	}
	limit, given, err := p.integer("limit")
	switch {
	case err != nil:
		fail(c, err)
		return
	case !given:
		limit = rcQueueLimit
	case limit < 1 || limit > maxLimit:
		fail(c, badRequest("limit", fmt.Sprintf("limit must be a number from 1 to %d", maxLimit)))
		return
	}
	ctx := c.Request.Context()
	var jobs []*store.Job
	cursor := ""
	for len(jobs) < limit {
		page, next, err := s.st.ListJobs(ctx, store.JobQuery{Cursor: cursor, Limit: limit - len(jobs)})
		if err != nil {
			fail(c, err)
			return
		}
		jobs = append(jobs, page...)
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	slices.Reverse(jobs)
	out := make([]*rcJobInfo, 0, len(jobs))
	for _, j := range jobs {
		info, err := s.rcJobInfo(ctx, j)
		if err != nil {
			fail(c, err)
			return
		}
		out = append(out, info)
	}
	c.JSON(http.StatusOK, out)
}

// rcNoneExist is searchFqdn's answer when the job or the host has no
// result, as REST Commander wrote it.
const rcNoneExist = "None exist!"

// rcNodeData is REST Commander's NodeData, searchFqdn's answer: a host and
// its record, keyed by the job's command.
type rcNodeData struct {
	Fqdn    string                    `json:"fqdn"`
	DataMap map[string]rcNodeResponse `json:"dataMap"`
}

// rcSearchFqdn answers a host's result in a job as REST Commander's
// NodeData, pretty-printed as REST Commander's Gson wrote it; the host is
// matched without its port, and the first target of that host answers.
// An unknown job or a host without a result answers "None exist!".
func (s *Server) rcSearchFqdn(c *gin.Context) {
	p, ok := params(c)
	if !ok {
		return
	}
	id, err := p.required("jobId")
	if err != nil {
		fail(c, err)
		return
	}
	fqdn, err := p.required("fqdn")
	if err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	none := func() { c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(rcNoneExist)) }
	j, err := s.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		none()
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	host := fqdn
	if t, err := job.ParseTarget(fqdn, job.ProtocolHTTP); err == nil {
		host = t.Host
	}
	items, _, err := s.st.Results(ctx, j.ID, store.ResultQuery{Host: host, Limit: 1})
	if err != nil {
		fail(c, err)
		return
	}
	if len(items) == 0 {
		none()
		return
	}
	cmd := job.NA
	if sp := j.Spec; sp != nil {
		switch {
		case sp.Origin != nil && sp.Origin.Command != "":
			cmd = sp.Origin.Command
		case sp.Name != "":
			cmd = sp.Name
		}
	}
	out := rcNodeData{Fqdn: fqdn, DataMap: map[string]rcNodeResponse{cmd: rcNodeRecord(&items[0], rcJobVars(j.Spec))}}
	body, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// rcJobVars are the replacements a stored job was given for every node:
// its variables but those that stand for their own text and salvo's
// private names. A node's own replacements are not stored.
func rcJobVars(spec *job.Spec) map[string]string {
	out := map[string]string{}
	if spec == nil {
		return out
	}
	for k, v := range spec.Vars {
		if v != "$"+k && !strings.HasPrefix(k, rcPrivateVar) {
			out[k] = v
		}
	}
	return out
}

// rcQueryProgress answers the share of a job's targets with a result, 0
// to 1, as a plain number.
func (s *Server) rcQueryProgress(c *gin.Context) {
	_, j, ok := s.rcJobParams(c)
	if !ok {
		return
	}
	st := s.engine.StatusOf(c.Request.Context(), j)
	frac := 0.0
	switch {
	case st.Total > 0:
		frac = min(float64(st.Done)/float64(st.Total), 1)
	case st.Terminal():
		frac = 1
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(strconv.FormatFloat(frac, 'f', -1, 64)))
}

// rcWorkerLoad is queryWorkerLoad's answer: parallel lists, one entry per
// member, as REST Commander's helper had them.
type rcWorkerLoad struct {
	Names       []string `json:"names"`
	Capacity    []int    `json:"capacity"`
	Reserved    []int    `json:"reserved"`
	InFlight    []int    `json:"inFlight"`
	RunningJobs []int    `json:"runningJobs"`
	Enabled     []bool   `json:"enabled"`
	// Status is "active" for an enabled, alive member, else "passive".
	Status []string `json:"status"`
	// Loads and Requests are, with a jobId, the job's responses and
	// requests on each member.
	Loads    []int64 `json:"loads,omitempty"`
	Requests []int64 `json:"requests,omitempty"`
}

func (s *Server) rcQueryWorkerLoad(c *gin.Context) {
	p, ok := params(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var info *rcJobInfo
	if p.has("jobId") {
		j, ok := s.rcJob(c, p)
		if !ok {
			return
		}
		var err error
		if info, err = s.rcJobInfo(ctx, j); err != nil {
			fail(c, err)
			return
		}
	}
	ms, err := s.engine.Members(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	out := rcWorkerLoad{Names: []string{}, Capacity: []int{}, Reserved: []int{}, InFlight: []int{},
		RunningJobs: []int{}, Enabled: []bool{}, Status: []string{}}
	for _, m := range ms {
		out.Names = append(out.Names, m.Name)
		out.Capacity = append(out.Capacity, m.Capacity)
		out.Reserved = append(out.Reserved, m.Reserved)
		out.InFlight = append(out.InFlight, m.InFlight)
		out.RunningJobs = append(out.RunningJobs, m.RunningJobs)
		out.Enabled = append(out.Enabled, m.Enabled)
		status := "passive"
		if m.Enabled && m.State == "alive" {
			status = "active"
		}
		out.Status = append(out.Status, status)
		if info != nil {
			out.Loads = append(out.Loads, info.WorkerResponseCount[m.Name])
			out.Requests = append(out.Requests, info.WorkerRequestCount[m.Name])
		}
	}
	c.JSON(http.StatusOK, out)
}

// rcResetScheduler cancels every waiting job (running jobs go on) and
// answers 200 with an empty body, as REST Commander did; the cancelled
// jobs are logged.
func (s *Server) rcResetScheduler(c *gin.Context) {
	ids, err := s.engine.ResetQueue(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	s.cfg.Logger.Info("resetScheduler cancelled the waiting jobs", "jobs", ids)
	rcEmptyOK(c)
}

// rcEmptyOK answers 200 with an empty body, as REST Commander's actions
// that render nothing.
func rcEmptyOK(c *gin.Context) {
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
}

// memberURL is how the compatible API names a member: its gossip address
// (docs/design.md §10), or its API address on a node without a cluster.
func memberURL(m actors.Member) string {
	switch {
	case m.GossipAddr != "":
		return m.GossipAddr
	case m.APIAddr != "":
		return m.APIAddr
	}
	return m.Name
}

// rcClusterList is getClusterList's answer, with REST Commander's strings.
type rcClusterList struct {
	MasterURL []string `json:"masterUrl"`
	Enable    []string `json:"enable"`
	State     []string `json:"state"`
	URL       []string `json:"url"`
}

func (s *Server) rcGetClusterList(c *gin.Context) {
	ms, err := s.engine.Members(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	out := rcClusterList{MasterURL: []string{}, Enable: []string{}, State: []string{}, URL: []string{}}
	// With a Raft group, the master is its leader (docs/ha.md).
	ha := slices.ContainsFunc(ms, func(m actors.Member) bool { return m.Leader })
	for _, m := range ms {
		u := memberURL(m)
		if slices.Contains(m.Roles, "master") && (!ha || m.Leader) {
			out.MasterURL = append(out.MasterURL, u)
		}
		out.URL = append(out.URL, u)
		out.Enable = append(out.Enable, strconv.FormatBool(m.Enabled))
		out.State = append(out.State, strconv.FormatBool(m.State == "alive"))
	}
	c.JSON(http.StatusOK, out)
}

// rcSetMember enables or disables the member at url:port: the one whose
// gossip or API address or name it is; on a single node, that node.
func (s *Server) rcSetMember(enable bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := params(c)
		if !ok {
			return
		}
		u, err := p.required("url")
		if err != nil {
			fail(c, err)
			return
		}
		port, err := p.required("port")
		if err != nil {
			fail(c, err)
			return
		}
		ctx := c.Request.Context()
		ms, err := s.engine.Members(ctx)
		if err != nil {
			fail(c, err)
			return
		}
		addr := net.JoinHostPort(u, port)
		i := slices.IndexFunc(ms, func(m actors.Member) bool {
			return m.GossipAddr == addr || m.APIAddr == addr || m.Name == u || m.Name == addr
		})
		if i < 0 && len(ms) == 1 {
			i = 0 // a single node answers for itself
		}
		if i < 0 {
			fail(c, &Error{Status: http.StatusNotFound, Field: "url", Msg: fmt.Sprintf("no cluster member at %s", addr)})
			return
		}
		if _, err := s.engine.SetEnabled(ctx, ms[i].Name, enable); err != nil {
			fail(c, notFound(err, "member", ms[i].Name))
			return
		}
		word := "disabled"
		if enable {
			word = "enabled"
		}
		c.JSON(http.StatusOK, fmt.Sprintf("%s:%s has been %s.", u, port, word))
	}
}

// nodeName is this node's name, when the engine tells it.
func (s *Server) nodeName() string {
	if n, ok := s.engine.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "this node"
}

// rcShutdownNode answers 200 with an empty body, as REST Commander did,
// then asks the node to stop its cluster part (Config.Shutdown).
func (s *Server) rcShutdownNode(c *gin.Context) {
	if s.cfg.Shutdown == nil {
		// Not a server fault: answered here, not logged as an error.
		c.AbortWithStatusJSON(http.StatusNotImplemented, errBody{Error: "shutdownNode is not available: this server was started without a shutdown hook"})
		return
	}
	s.cfg.Logger.Info("shutdownNode", "node", s.nodeName())
	rcEmptyOK(c)
	c.Writer.Flush()
	s.cfg.Shutdown()
}

// rcCreateNode joins this node to the cluster of the master at masterUrl,
// or, on a master called without masterUrl, asks each of its configured
// peers to join it (Config.CreateNode), and answers 200 with an empty
// body, as REST Commander did; what it did is logged. A node without that
// hook, or without a cluster (no member has a gossip address), runs alone
// and answers 501.
func (s *Server) rcCreateNode(c *gin.Context) {
	p, ok := params(c)
	if !ok {
		return
	}
	master, _ := p.str("masterUrl")
	port, _ := p.str("port")
	invited, _ := p.str("invited")
	clustered := s.cfg.CreateNode != nil
	if clustered && s.engine != nil { // a forwarding worker has no engine: it is clustered
		// An engine that does not answer (its cluster part shut down)
		// leaves it to the hook, which starts it again.
		if ms, err := s.engine.Members(c.Request.Context()); err == nil {
			clustered = slices.ContainsFunc(ms, func(m actors.Member) bool { return m.GossipAddr != "" })
		}
	}
	if !clustered {
		msg := "createNode: clustering is not enabled on this node: it runs as a single node (master and worker) and cannot join a cluster"
		if master != "" {
			msg += fmt.Sprintf(" (masterUrl %s)", master)
		}
		c.AbortWithStatusJSON(http.StatusNotImplemented, errBody{Error: msg}) // not a server fault: not logged as an error
		return
	}
	ctx := context.WithValue(c.Request.Context(), credentialKey{}, Credential(c.Request))
	by := ""
	switch invited {
	case "true", CreateNodeInvite:
		by = CreateNodeInvite
	case CreateNodeWatch:
		by = CreateNodeWatch
	}
	msg, err := s.cfg.CreateNode(ctx, port, master, by)
	if err != nil {
		fail(c, err)
		return
	}
	s.cfg.Logger.Info("createNode", "masterUrl", master, "port", port, "result", msg)
	rcEmptyOK(c)
}
