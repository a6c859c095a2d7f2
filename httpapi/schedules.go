package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/schedule"
	"github.com/salvo-sh/salvo/store"
)

// Page limits of a schedule's history: each run is compared with the one
// before it (schedule.Compare), which reads up to schedule.MaxChangeScan
// results of each.
const (
	defaultHistoryLimit = 20
	maxHistoryLimit     = 100
)

// scheduleView is a schedule as the API shows it.
type scheduleView struct {
	Name      string    `json:"name"`
	Cron      string    `json:"cron"`
	Command   string    `json:"command,omitempty"`
	Spec      *job.Spec `json:"spec,omitempty"`
	NodeGroup string    `json:"nodeGroup,omitempty"`
	Enabled   bool      `json:"enabled"`
	CatchUp   string    `json:"catchUp"`
	Timezone  string    `json:"timezone"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
	// NextRun is the next slot of an enabled schedule.
	NextRun *time.Time `json:"nextRun,omitempty"`
	// LastRun is the latest run, manual or not.
	LastRun *runView `json:"lastRun,omitempty"`
}

// runView is a run in a schedule's list entry.
type runView struct {
	Slot   time.Time `json:"slot"`
	Manual bool      `json:"manual,omitempty"`
	Job    string    `json:"job"`
	State  string    `json:"state"`
}

// historyEntry is one run in a schedule's history.
type historyEntry struct {
	Slot    time.Time         `json:"slot"`
	Manual  bool              `json:"manual,omitempty"`
	Job     *actors.JobStatus `json:"job"`
	Changes *schedule.Changes `json:"changes,omitempty"`
}

func (s *Server) scheduleRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Viewer, http.MethodGet, "/schedules", s.listSchedules)
	s.route(v1, auth.Viewer, http.MethodGet, "/schedules/:name", s.getSchedule)
	s.route(v1, auth.Operator, http.MethodPut, "/schedules/:name", s.putSchedule)
	s.route(v1, auth.Operator, http.MethodDelete, "/schedules/:name", s.deleteSchedule)
	s.route(v1, auth.Viewer, http.MethodGet, "/schedules/:name/history", s.scheduleHistory)
	s.route(v1, auth.Operator, http.MethodPost, "/schedules/:name/run", s.runSchedule)
}

// view shows schedule name with its next slot and its latest run.
func (s *Server) view(c *gin.Context, name string, d *schedule.Definition) (scheduleView, error) {
	v := scheduleView{Name: name, Cron: d.Cron, Command: d.Command, Spec: d.Spec, NodeGroup: d.NodeGroup, Enabled: d.Enabled,
		CatchUp: d.CatchUp, Timezone: d.Timezone, UpdatedAt: d.UpdatedAt, UpdatedBy: d.UpdatedBy}
	if sched, err := d.Schedule(); err == nil && d.Enabled {
		if next := sched.Next(time.Now()); !next.IsZero() {
			next = next.UTC()
			v.NextRun = &next
		}
	}
	runs, _, err := s.st.ScheduleRuns(c.Request.Context(), store.RunQuery{Schedule: name, Limit: 1})
	if err != nil {
		return v, err
	}
	if len(runs) > 0 {
		j := runs[0]
		v.LastRun = &runView{Slot: j.Slot, Manual: j.Manual, Job: j.ID, State: s.engine.StatusOf(c.Request.Context(), j).State}
	}
	return v, nil
}

// loadSchedule reads the schedule the route names; on error it fails the
// request (404 for an unknown one).
func (s *Server) loadSchedule(c *gin.Context) (string, *schedule.Definition, bool) {
	name := c.Param("name")
	d, err := schedule.Load(c.Request.Context(), s.st, name)
	if err != nil {
		fail(c, notFound(err, "schedule", name))
		return "", nil, false
	}
	return name, d, true
}

// listSchedules answers every schedule (at most schedule.MaxSchedules),
// by name.
func (s *Server) listSchedules(c *gin.Context) {
	names, err := s.st.ListDefinitions(c.Request.Context(), store.KindSchedule)
	if err != nil {
		fail(c, err)
		return
	}
	out := page[scheduleView]{Items: make([]scheduleView, 0, len(names))}
	for _, name := range names {
		d, err := schedule.Load(c.Request.Context(), s.st, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			fail(c, err)
			return
		}
		v, err := s.view(c, name, d)
		if err != nil {
			fail(c, err)
			return
		}
		out.Items = append(out.Items, v)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getSchedule(c *gin.Context) {
	name, d, ok := s.loadSchedule(c)
	if !ok {
		return
	}
	v, err := s.view(c, name, d)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// putSchedule creates or replaces a schedule: its slots from now on run
// (docs/schedules.md). A scoped token may put only schedules of its node
// groups.
func (s *Server) putSchedule(c *gin.Context) {
	ctx := c.Request.Context()
	name := c.Param("name")
	if !namePattern.MatchString(name) || store.CheckDefinitionName(name) != nil {
		fail(c, badRequest("name", "a name is 1 to 128 letters, digits, '_', '.' or '-', and not \".\" or \"..\""))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, schedule.MaxDefinitionBytes+1))
	if err != nil {
		fail(c, err)
		return
	}
	if len(raw) > schedule.MaxDefinitionBytes {
		fail(c, &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("a schedule takes at most %d bytes: put a large target list in a node group", schedule.MaxDefinitionBytes)})
		return
	}
	names, err := s.st.ListDefinitions(ctx, store.KindSchedule)
	if err != nil {
		fail(c, err)
		return
	}
	exists := false
	for _, other := range names {
		exists = exists || other == name
		if other != name && strings.EqualFold(other, name) {
			fail(c, badRequest("name", fmt.Sprintf("%q differs from the existing %q only by case", name, other)))
			return
		}
	}
	if !exists && len(names) >= schedule.MaxSchedules {
		fail(c, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("there are %d schedules, the most a node keeps: delete one first", len(names))})
		return
	}
	in, err := schedule.DecodeInput(raw)
	if err != nil {
		fail(c, err)
		return
	}
	opts := schedule.CheckOptions{MaxTargets: s.cfg.MaxTargets}
	if s.engine != nil {
		opts.Capacity = s.engine.Capacity()
	}
	if s.cfg.Credentials != nil {
		opts.Credential = s.cfg.Credentials.GetCredential
	}
	d, err := schedule.Check(ctx, in, s.st, opts)
	if err != nil {
		fail(c, err)
		return
	}
	if err := checkScope(c, d.NodeGroupOf(), d.Targets()); err != nil {
		fail(c, err)
		return
	}
	if exists && !s.mayTouch(c, name) {
		return
	}
	t := callerOf(c)
	d.UpdatedAt = time.Now().UTC()
	d.PathAuthority = t == nil || t.Role.Allows(auth.Admin)
	if t != nil {
		d.UpdatedBy = t.Name
	}
	body, err := json.Marshal(d)
	if err != nil {
		fail(c, err)
		return
	}
	if err := s.st.PutDefinition(ctx, store.KindSchedule, name, body); err != nil {
		fail(c, err)
		return
	}
	s.schedulesChanged()
	v, err := s.view(c, name, d)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// mayTouch refuses (failing the request) a scoped token a stored
// schedule outside its node groups.
func (s *Server) mayTouch(c *gin.Context, name string) bool {
	d, err := schedule.Load(c.Request.Context(), s.st, name)
	if err != nil {
		fail(c, notFound(err, "schedule", name))
		return false
	}
	if err := checkScope(c, d.NodeGroupOf(), d.Targets()); err != nil {
		fail(c, err)
		return false
	}
	return true
}

func (s *Server) schedulesChanged() {
	if s.cfg.SchedulesChanged != nil {
		s.cfg.SchedulesChanged()
	}
}

// deleteSchedule deletes a schedule; its runs stay, as jobs.
func (s *Server) deleteSchedule(c *gin.Context) {
	name := c.Param("name")
	if !s.mayTouch(c, name) {
		return
	}
	ctx := c.Request.Context()
	if err := s.st.DeleteDefinition(ctx, store.KindSchedule, name); err != nil {
		fail(c, notFound(err, "schedule", name))
		return
	}
	if err := s.st.DeleteDefinition(ctx, store.KindScheduleState, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		fail(c, err)
		return
	}
	s.schedulesChanged()
	c.Status(http.StatusNoContent)
}

// scheduleHistory answers a page of a schedule's runs, the latest slot
// first, each with how its aggregation changed since the run before:
// ?limit= (default 20, at most 100), ?cursor=.
func (s *Server) scheduleHistory(c *gin.Context) {
	limit := defaultHistoryLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryLimit {
			fail(c, badRequest("limit", fmt.Sprintf("limit must be a number from 1 to %d", maxHistoryLimit)))
			return
		}
		limit = n
	}
	name, _, ok := s.loadSchedule(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	entries, next, err := schedule.History(ctx, s.st, name, c.Query("cursor"), limit)
	if err != nil {
		fail(c, err)
		return
	}
	out := page[historyEntry]{Items: make([]historyEntry, 0, len(entries)), NextCursor: next}
	for _, e := range entries {
		out.Items = append(out.Items, historyEntry{Slot: e.Job.Slot, Manual: e.Job.Manual, Job: s.engine.StatusOf(ctx, e.Job), Changes: e.Changes})
	}
	c.JSON(http.StatusOK, out)
}

// runSchedule submits a run of a schedule now, outside its slots: an
// ordinary job linked to it, marked manual, submitted by the caller.
func (s *Server) runSchedule(c *gin.Context) {
	c.Set(submitKey, true)
	name, d, ok := s.loadSchedule(c)
	if !ok {
		return
	}
	if err := checkScope(c, d.NodeGroupOf(), d.Targets()); err != nil {
		fail(c, err)
		return
	}
	spec, err := schedule.Build(c.Request.Context(), s.st, name, d)
	if err != nil {
		fail(c, err)
		return
	}
	ctx := actors.WithScheduleRun(s.submitContext(c), actors.ScheduleRun{Schedule: name, Slot: time.Now().UTC(), Manual: true})
	st, err := s.engine.Submit(ctx, spec) // two in the same millisecond: 409 (store.ErrSlotTaken)
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(auditTargetKey, st.ID)
	s.logSubmit(c, st)
	c.JSON(http.StatusAccepted, st)
}
