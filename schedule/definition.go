// Package schedule runs jobs on cron schedules (docs/schedules.md). A
// schedule is a named definition (store.KindSchedule): a cron expression,
// a command template or a job spec, the node group it targets, whether it
// is enabled and what happens to the slots missed while no master ran. The
// Scheduler, on the master that writes (the leader of a Raft group),
// submits each due slot's job through the engine; the job's record names
// its schedule and slot, and the store refuses a second job for a slot
// (store.ErrSlotTaken), which makes a slot run once across failovers: the
// job's creation is one entry of the Raft log.
package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Catch-up modes: what a schedule does with the slots it missed while no
// master ran.
const (
	// CatchUpOnce runs the latest missed slot once (the default).
	CatchUpOnce = "once"
	// CatchUpSkip runs no slot later than Config.Late after its time.
	CatchUpSkip = "skip"
)

// DefaultTimezone is the zone of a schedule that names none.
const DefaultTimezone = "UTC"

// MaxDefinitionBytes bounds a schedule's definition as sent and stored: a
// large target list belongs in a node group.
const MaxDefinitionBytes = 1 << 20

// MaxSchedules bounds the schedules a store holds: every wake of the
// scheduler reads them all.
const MaxSchedules = 1000

// Definition is a schedule as it is stored (store.KindSchedule).
type Definition struct {
	// Cron is a five-field cron expression (minute hour day-of-month month
	// day-of-week) or a descriptor: @yearly, @monthly, @weekly, @daily,
	// @hourly, @every DURATION.
	Cron string `json:"cron"`
	// Command names a command template (store.KindCommand); Spec is a job
	// spec instead. Exactly one is set.
	Command string    `json:"command,omitempty"`
	Spec    *job.Spec `json:"spec,omitempty"`
	// NodeGroup names the node group the jobs target (required with
	// Command; with Spec, when the spec has neither targets nor nodeGroup).
	NodeGroup string `json:"nodeGroup,omitempty"`
	Enabled   bool   `json:"enabled"`
	CatchUp   string `json:"catchUp"`
	// Timezone is the IANA zone the cron fields are read in.
	Timezone string `json:"timezone"`
	// UpdatedAt is when the schedule was last put: slots before it are
	// never run. UpdatedBy names the token that put it.
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
	// PathAuthority says the schedule was put by a caller who may name
	// server paths (job.WithPathAuthority): its runs may too.
	PathAuthority bool `json:"pathAuthority,omitempty"`
}

// Input is the body of PUT /api/v1/schedules/NAME.
type Input struct {
	Cron      string          `json:"cron"`
	Command   string          `json:"command"`
	Spec      json.RawMessage `json:"spec"`
	NodeGroup string          `json:"nodeGroup"`
	// Enabled defaults to true.
	Enabled  *bool  `json:"enabled"`
	CatchUp  string `json:"catchUp"`
	Timezone string `json:"timezone"`
}

// Definitions reads named definitions (a store.Store).
type Definitions = store.DefinitionReader

// parser reads the standard five fields and the descriptors.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a cron expression read in loc (nil: UTC). Its errors are
// *job.FieldError on "cron" with the parser's message.
func Parse(expr string, loc *time.Location) (sched cron.Schedule, err error) {
	if loc == nil {
		loc = time.UTC
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, &job.FieldError{Field: "cron", Msg: "a schedule needs a cron expression"}
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, &job.FieldError{Field: "cron", Msg: "give the zone in timezone, not in the expression"}
	}
	defer func() {
		if r := recover(); r != nil { // the parser's own bug is a refusal, not a crash
			sched, err = nil, &job.FieldError{Field: "cron", Msg: fmt.Sprintf("cannot parse %q", expr)}
		}
	}()
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, &job.FieldError{Field: "cron", Msg: err.Error()}
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return s, nil
}

// Location loads a schedule's zone ("" is UTC). Its errors are
// *job.FieldError on "timezone".
func Location(name string) (*time.Location, error) {
	switch name {
	case "":
		return time.UTC, nil
	case "Local":
		// Each master's own: two leaders would read the fields apart.
		return nil, &job.FieldError{Field: "timezone", Msg: `"Local" depends on the master: name an IANA zone such as Europe/Paris, or UTC`}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, &job.FieldError{Field: "timezone", Msg: fmt.Sprintf("unknown time zone %q: %v", name, err)}
	}
	return loc, nil
}

// Schedule parses the definition's cron expression in its zone.
func (d *Definition) Schedule() (cron.Schedule, error) {
	loc, err := Location(d.Timezone)
	if err != nil {
		return nil, err
	}
	return Parse(d.Cron, loc)
}

// NodeGroupOf is the node group the definition's jobs target: its own, or
// its spec's ("" when the spec lists targets).
func (d *Definition) NodeGroupOf() string {
	if d.NodeGroup != "" || d.Spec == nil {
		return d.NodeGroup
	}
	return d.Spec.NodeGroup
}

// Targets is the number of targets the definition's spec lists itself.
func (d *Definition) Targets() int {
	if d.Spec == nil {
		return 0
	}
	return len(d.Spec.Targets)
}

// DecodeInput reads a PUT body strictly: an unknown field is an error.
func DecodeInput(body []byte) (*Input, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in Input
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &job.FieldError{Field: te.Field, Msg: "must be a " + te.Type.String()}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return nil, &job.FieldError{Field: f, Msg: fmt.Sprintf("unknown field %q (a schedule has cron, command, spec, nodeGroup, enabled, catchUp and timezone)", f)}
		}
		return nil, &job.FieldError{Msg: "invalid JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &job.FieldError{Msg: "invalid JSON: unexpected data after the schedule"}
	}
	return &in, nil
}

// CheckOptions is what Check validates a spec against.
type CheckOptions struct {
	// Capacity bounds maxConcurrency as the engine does (0: job.DefaultCapacity).
	Capacity int
	// MaxTargets bounds a spec's own targets once expanded (0: job.DefaultMaxTargets).
	MaxTargets int
	// Credential, when set, reads an SSH credential (store.ErrNotFound
	// for an unknown one).
	Credential func(ctx context.Context, name string) (*job.Credential, error)
}

// Check validates an input and returns its definition (enabled, catch-up
// and zone defaulted; UpdatedAt and the rest left for the caller). A
// command, node group, aggregation or credential it names must exist.
// Errors are *job.FieldError naming the field (spec fields as "spec.…").
func Check(ctx context.Context, in *Input, defs Definitions, opts CheckOptions) (*Definition, error) {
	d := &Definition{Cron: strings.TrimSpace(in.Cron), Command: in.Command, NodeGroup: in.NodeGroup,
		Enabled: in.Enabled == nil || *in.Enabled, CatchUp: in.CatchUp, Timezone: in.Timezone}
	if d.Timezone == "" {
		d.Timezone = DefaultTimezone
	}
	sched, err := d.Schedule()
	if err != nil {
		return nil, err
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, &job.FieldError{Field: "cron", Msg: fmt.Sprintf("%q never comes in the next five years", d.Cron)}
	}
	switch d.CatchUp {
	case "":
		d.CatchUp = CatchUpOnce
	case CatchUpOnce, CatchUpSkip:
	default:
		return nil, &job.FieldError{Field: "catchUp", Msg: fmt.Sprintf("unknown catch-up %q (want %q or %q)", d.CatchUp, CatchUpOnce, CatchUpSkip)}
	}
	hasSpec := len(bytes.TrimSpace(in.Spec)) > 0 && !bytes.Equal(bytes.TrimSpace(in.Spec), []byte("null"))
	if (d.Command == "") == !hasSpec {
		return nil, &job.FieldError{Field: "command", Msg: "give exactly one of command (a command template's name) and spec (a job spec)"}
	}
	if d.NodeGroup != "" {
		if err := exists(ctx, defs, store.KindNodeGroup, d.NodeGroup, "nodeGroup", "node group"); err != nil {
			return nil, err
		}
	}
	if d.Command != "" {
		if d.NodeGroup == "" {
			return nil, &job.FieldError{Field: "nodeGroup", Msg: "a schedule of a command needs the node group it runs on"}
		}
		if _, err := command(ctx, defs, d.Command); err != nil {
			return nil, err
		}
		return d, nil
	}
	spec, err := job.DecodeSpec(bytes.NewReader(in.Spec))
	if err != nil {
		return nil, prefix(err)
	}
	targets := len(spec.Targets) > 0
	switch {
	case d.NodeGroup != "" && (targets || spec.NodeGroup != ""):
		return nil, &job.FieldError{Field: "nodeGroup", Msg: "the spec has its own targets or nodeGroup: give the schedule's nodeGroup or the spec's, not both"}
	case d.NodeGroup == "" && !targets && spec.NodeGroup == "":
		return nil, &job.FieldError{Field: "spec.targets", Msg: "give the spec targets or a nodeGroup, or the schedule a nodeGroup"}
	case targets && spec.NodeGroup != "":
		return nil, &job.FieldError{Field: "spec.targets", Msg: "give exactly one of targets and nodeGroup"}
	}
	if err := checkSpec(ctx, spec, defs, opts); err != nil {
		return nil, prefix(err)
	}
	d.Spec = spec
	return d, nil
}

// checkSpec validates a schedule's spec as a submit would, but for what
// may change until a run (a node group's hosts, the target policy, SSH
// paths: a run that fails on them is recorded as a failed run).
func checkSpec(ctx context.Context, spec *job.Spec, defs Definitions, opts CheckOptions) error {
	if f := SecretField(spec, func(v string) bool { return v != "" }); f != "" {
		return &job.FieldError{Field: f, Msg: "a schedule is stored, and so must not hold secrets: give SSH secrets in a credential (ssh.credential)"}
	}
	targets := len(spec.Targets) > 0
	if spec.NodeGroup != "" {
		if err := exists(ctx, defs, store.KindNodeGroup, spec.NodeGroup, "nodeGroup", "node group"); err != nil {
			return err
		}
	}
	c := spec.Clone()
	if err := store.ResolveAggregation(ctx, defs, c.Aggregation); err != nil {
		return err
	}
	if c.SSH != nil && c.SSH.Credential != "" && opts.Credential != nil {
		if _, err := opts.Credential(ctx, c.SSH.Credential); errors.Is(err, store.ErrNotFound) {
			return &job.FieldError{Field: "ssh.credential", Msg: fmt.Sprintf("unknown credential %q", c.SSH.Credential)}
		} else if err != nil {
			return fmt.Errorf("read credential %q: %w", c.SSH.Credential, err)
		}
	}
	capacity, maxTargets := opts.Capacity, opts.MaxTargets
	if capacity <= 0 {
		capacity = job.DefaultCapacity
	}
	if maxTargets <= 0 {
		maxTargets = job.DefaultMaxTargets
	}
	if targets {
		return c.NormalizeFor(capacity, maxTargets, nil)
	}
	c.NodeGroup = ""
	_, err := c.NormalizeTemplate(capacity)
	return err
}

// prefix names a spec's field as the schedule's: "http.path" is "spec.http.path".
func prefix(err error) error {
	var fe *job.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	f := "spec"
	if fe.Field != "" {
		f += "." + fe.Field
	}
	return &job.FieldError{Field: f, Msg: fe.Msg}
}

// exists refuses an unknown definition, naming field.
func exists(ctx context.Context, defs Definitions, kind, name, field, label string) error {
	_, err := defs.GetDefinition(ctx, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return &job.FieldError{Field: field, Msg: fmt.Sprintf("unknown %s %q", label, name)}
	}
	if err != nil {
		return fmt.Errorf("read %s %q: %w", label, name, err)
	}
	return nil
}

// command reads a command template. One that holds redacted secrets
// cannot run (commands are stored redacted).
func command(ctx context.Context, defs Definitions, name string) (*job.Spec, error) {
	body, err := defs.GetDefinition(ctx, store.KindCommand, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &job.FieldError{Field: "command", Msg: fmt.Sprintf("unknown command %q", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("read command %q: %w", name, err)
	}
	spec, err := job.DecodeSpec(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("stored command %q: %w", name, err)
	}
	if f := SecretField(spec, func(v string) bool { return v == job.Redacted }); f != "" {
		return nil, &job.FieldError{Field: "command", Msg: fmt.Sprintf("command %q held secrets, which are not stored (%s is %s): give SSH secrets in a credential (ssh.credential)", name, f, job.Redacted)}
	}
	return spec, nil
}

// SecretField names the first secret field of a spec (job.Spec.Redacted's
// fields) whose value has, or "".
func SecretField(s *job.Spec, has func(string) bool) string {
	if ss := s.SSH; ss != nil {
		if has(ss.Auth.Password) {
			return "ssh.auth.password"
		}
		if has(ss.Auth.Passphrase) {
			return "ssh.auth.passphrase"
		}
	}
	if h := s.HTTP; h != nil {
		for _, k := range slices.Sorted(maps.Keys(h.Headers)) {
			if job.IsSecretName(k) && has(h.Headers[k]) {
				return "http.headers." + k
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Vars)) {
		if job.IsSecretName(k) && has(s.Vars[k]) {
			return "vars." + k
		}
	}
	return ""
}

// Load reads a stored schedule (store.ErrNotFound for an unknown one).
func Load(ctx context.Context, defs Definitions, name string) (*Definition, error) {
	body, err := defs.GetDefinition(ctx, store.KindSchedule, name)
	if err != nil {
		return nil, err
	}
	var d Definition
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("stored schedule %q: %w", name, err)
	}
	return &d, nil
}

// Build makes the job spec of a run of schedule name: its command
// template or its spec (a copy), on its node group, named after the
// schedule unless the spec has a name. Its errors are *job.FieldError
// when a definition it names is gone or unusable.
func Build(ctx context.Context, defs Definitions, name string, d *Definition) (*job.Spec, error) {
	var spec *job.Spec
	if d.Command != "" {
		s, err := command(ctx, defs, d.Command)
		if err != nil {
			return nil, err
		}
		s.Targets, s.NodeGroup = nil, d.NodeGroup
		s.Origin = &job.Origin{Command: d.Command}
		spec = s
	} else {
		if d.Spec == nil {
			return nil, &job.FieldError{Field: "spec", Msg: "the schedule has neither a command nor a spec"}
		}
		spec = d.Spec.Clone()
		if d.NodeGroup != "" {
			spec.NodeGroup = d.NodeGroup
		}
	}
	if spec.Name == "" {
		spec.Name = name
	}
	return spec, nil
}
