package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Rollouts (docs/rollouts.md): a job with a rollout leases its targets in
// consecutive batches of index ranges. The master leases nothing of batch
// k+1 before every target of batch k has a result; it then checks the
// budget over the whole job so far, and once the batch's workers have
// ended their parts it waits (approval, pause) or starts the next batch
// through the queue, as a relaunch does. Over budget, it stores every
// target without a result as skipped (job.RolloutStopped) and the job
// ends failed. Pause and resume work on any job.

// Rollout states of RolloutStatus.State.
const (
	RolloutRunning  = "running"  // a batch runs
	RolloutWaiting  = "waiting"  // the pause between two batches
	RolloutApproval = "approval" // paused after a batch until resumed
	RolloutPaused   = "paused"   // paused by POST /api/v1/jobs/ID/pause
	RolloutStopped  = "stopped"  // the budget was exceeded: the job failed
	RolloutDone     = "done"     // every batch ran
	RolloutEnded    = "ended"    // the job ended otherwise (cancelled, failed)
)

// MaxStatusBatches is how many batches a rollout's status lists: the last
// ones, the batch in progress included (Omitted counts the others).
const MaxStatusBatches = 50

// RolloutStatus is a rollout job's progress in its status (and, as JSON,
// in its stored record).
type RolloutStatus struct {
	// Batch is the batch in progress or the last one that ran, from 1;
	// Batches the number of batches.
	Batch   int    `json:"batch"`
	Batches int    `json:"batches"`
	State   string `json:"state"`
	// NextAt is when the next batch starts (state waiting).
	NextAt *time.Time `json:"nextAt,omitempty"`
	// PerBatch are the last MaxStatusBatches batches, in order; Omitted is
	// the number of earlier ones left out.
	PerBatch []BatchStatus `json:"perBatch"`
	Omitted  int           `json:"omitted,omitempty"`
	Budget   BudgetStatus  `json:"budget"`
}

// BatchStatus is one batch of a rollout: the targets [From, To) and the
// counts of their results per state.
type BatchStatus struct {
	Index  int            `json:"index"` // from 1
	From   int            `json:"from"`
	To     int            `json:"to"`
	Counts map[string]int `json:"counts"`
	// Failures are the batch's failed, error and timeout results but a
	// lost worker's (WorkerLost, error class worker_lost).
	Failures   int  `json:"failures"`
	WorkerLost int  `json:"workerLost,omitempty"`
	Complete   bool `json:"complete"` // every target of the batch has a result
}

// BudgetStatus is a rollout's failure budget over the whole job so far.
type BudgetStatus struct {
	MaxFailures       *int     `json:"maxFailures,omitempty"`
	MaxFailurePercent *float64 `json:"maxFailurePercent,omitempty"`
	Failures          int      `json:"failures"`
	// Ran is the targets that ran (the percentage's base).
	Ran int `json:"ran"`
	// Left is how many more failures the budget takes now (absent without
	// a budget).
	Left     *int `json:"left,omitempty"`
	Exceeded bool `json:"exceeded"`
}

// JobStateError is a pause or resume that does not apply to the job in
// its state (the API's 409).
type JobStateError struct {
	ID, State, Msg string
}

// Error implements error.
func (e *JobStateError) Error() string { return "job " + e.ID + " is " + e.State + ": " + e.Msg }

// Why a job is paused (jobRun.paused).
const (
	pausedByOperator = "operator"
	pausedByApproval = "approval"
)

// rolloutRun is the master's state of a rollout job.
type rolloutRun struct {
	spec *job.Rollout
	plan job.RolloutPlan
	// batch is the batch in progress, from 0; start holds the job's counts
	// when it started (the results of the batches before), lostAtStart
	// the lost workers' results then.
	batch       int
	start       map[string]int
	lost        int // worker_lost results of the whole job (no failures)
	lostAtStart int
	// past are the last finished batches (at most MaxStatusBatches-1),
	// omitted the number of earlier ones.
	past    []BatchStatus
	omitted int
	// checked: the batch is complete and its budget was checked;
	// approved: a resume (or the pause's end) lets the job past it.
	checked, approved bool
	// timer ends the pause between batches with a rolloutTimer of gen.
	timer    *time.Timer
	timerGen int
	nextAt   time.Time
	// stop is the reason of a rollout stopped over budget; filled the
	// results a cancel or a stop stored (in no batch).
	stop   string
	filled map[string]int
}

// rolloutResume is what Engine.resume read of a rollout job's stored
// results, for the master to take the rollout up where it was.
type rolloutResume struct {
	batch       int
	start       map[string]int
	lost        int
	lostAtStart int
	past        []BatchStatus
	omitted     int
}

// rolloutTimer ends the pause between two batches of a job.
type rolloutTimer struct {
	id  string
	gen int
}

// pauseJob and resumeJob are the engine's pause and resume; the reply is
// *pauseReply.
type (
	pauseJob   struct{ id string }
	resumeJob  struct{ id string }
	pauseReply struct {
		status *JobStatus
		err    error
		found  bool
	}
)

func newRolloutRun(spec *job.Rollout, total int, rr *rolloutResume) *rolloutRun {
	ro := &rolloutRun{spec: spec, plan: spec.Plan(total), start: map[string]int{}}
	if rr != nil {
		ro.batch, ro.lost, ro.lostAtStart, ro.past, ro.omitted = rr.batch, rr.lost, rr.lostAtStart, rr.past, rr.omitted
		if rr.start != nil {
			ro.start = rr.start
		}
	}
	return ro
}

// to is the end of the batch in progress: no target at or past it is leased.
func (ro *rolloutRun) to() int { return ro.plan.To(ro.batch) }

// limit is the index no target of the job is leased at or past: the end
// of a rollout's batch in progress, else the total.
func (r *jobRun) limit() int {
	if r.roll == nil {
		return r.job.Total
	}
	return r.roll.to()
}

// atBoundary reports whether a rollout job has every target of its batch
// in progress stored, and batches after it.
func (r *jobRun) atBoundary() bool {
	return r.roll != nil && r.stored >= r.roll.to() && r.roll.to() < r.job.Total
}

// batchLeasable is leasable within the batch in progress: targets of it
// at hand, or on their way (a read of a chunk that may hold some, a lost
// worker's targets being filtered).
func (r *jobRun) batchLeasable() bool {
	if r.roll == nil {
		return r.leasable()
	}
	limit := r.limit()
	switch {
	case len(r.requeue) > 0 || r.filtering > 0:
		return true
	case len(r.ready) > 0 && r.ready[0][0].Index < limit:
		return true
	}
	return (r.reading || r.nextChunk < r.chunks) && r.readEnd < limit
}

// budget is the job's failure budget figures now.
func (r *jobRun) budget() job.Budget {
	c := r.job.Counts
	lost := 0
	if r.roll != nil {
		lost = r.roll.lost
	}
	failures := c[job.StateFailed] + c[job.StateError] + c[job.StateTimeout] - lost
	return job.Budget{Failures: failures, Ran: c[job.StateOK] + failures}
}

// currentBatch is the batch in progress as its status shows it.
func (r *jobRun) currentBatch() BatchStatus {
	ro := r.roll
	counts := make(map[string]int, len(job.ResultStates))
	for _, st := range job.ResultStates {
		counts[st] = max(r.job.Counts[st]-ro.start[st]-ro.filled[st], 0)
	}
	lost := ro.lost - ro.lostAtStart
	return BatchStatus{Index: ro.batch + 1, From: ro.plan.From(ro.batch), To: ro.to(), Counts: counts,
		Failures: max(counts[job.StateFailed]+counts[job.StateError]+counts[job.StateTimeout]-lost, 0), WorkerLost: lost,
		Complete: r.stored >= ro.to()}
}

// closeBatch records the batch in progress as finished.
func (r *jobRun) closeBatch() {
	ro := r.roll
	ro.past = append(ro.past, r.currentBatch())
	if over := len(ro.past) - (MaxStatusBatches - 1); over > 0 {
		ro.past = append(ro.past[:0], ro.past[over:]...)
		ro.omitted += over
	}
}

// rolloutStatus is the rollout part of a job's status.
func (m *Master) rolloutStatus(r *jobRun) *RolloutStatus {
	ro := r.roll
	if ro == nil {
		return nil
	}
	s := &RolloutStatus{Batch: ro.batch + 1, Batches: ro.plan.Batches(), State: RolloutRunning,
		PerBatch: append([]BatchStatus(nil), ro.past...), Omitted: ro.omitted}
	if !ro.checked {
		s.PerBatch = append(s.PerBatch, r.currentBatch()) // in progress, or cut short by a cancel
	}
	b := r.budget()
	s.Budget = BudgetStatus{MaxFailures: ro.spec.MaxFailures, MaxFailurePercent: ro.spec.MaxFailurePercent,
		Failures: b.Failures, Ran: b.Ran}
	if left, ok := ro.spec.Left(b); ok {
		s.Budget.Left = &left
	}
	s.Budget.Exceeded, _ = ro.spec.Exceeded(b)
	switch {
	case ro.stop != "":
		s.State = RolloutStopped
	case r.job.State == store.JobGathered:
		s.State = RolloutDone
	case store.Terminal(r.job.State) || r.cancelled:
		s.State = RolloutEnded
	case r.job.State == store.JobPaused && r.paused == pausedByApproval:
		s.State = RolloutApproval
	case r.job.State == store.JobPaused:
		s.State = RolloutPaused
	case ro.timer != nil:
		s.State = RolloutWaiting
		t := ro.nextAt.UTC()
		s.NextAt = &t
	}
	return s
}

// rolloutStep moves a rollout on at the end of its batch in progress:
// once every target of the batch has a result it checks the budget (once
// per batch), and once none of the job's workers runs a part of it any
// more it waits (approval, pause) or starts the next batch.
func (m *Master) rolloutStep(ctx actor.Context, r *jobRun) {
	ro := r.roll
	if ro == nil || r.cancelled || store.Terminal(r.job.State) || !r.atBoundary() {
		return
	}
	if !ro.checked {
		ro.checked = true
		r.closeBatch()
		r.dirty = true
		if over, why := ro.spec.Exceeded(r.budget()); over {
			m.stopRollout(ctx, r, why)
			return
		}
		m.cfg.Logger.Info("rollout batch done", "job", r.job.ID, "batch", ro.batch+1, "batches", ro.plan.Batches(),
			"failures", r.budget().Failures)
	}
	for _, jw := range r.workers {
		if !jw.finished {
			return // its runner got Last: its JobWorkerDone comes
		}
	}
	if r.job.State == store.JobPaused || ro.timer != nil {
		return
	}
	if !ro.approved {
		name := r.job.ID
		switch {
		case ro.spec.Approve:
			r.paused = pausedByApproval
			m.setState(r, store.JobPaused, fmt.Sprintf("rollout: batch %d/%d done; waiting for approval (POST /api/v1/jobs/%s/resume, or salvo resume %s)",
				ro.batch+1, ro.plan.Batches(), name, name))
			return
		case ro.spec.Pause > 0:
			d := ro.spec.Pause.Std()
			ro.timerGen++
			gen, self, root := ro.timerGen, ctx.Self(), ctx.ActorSystem().Root
			ro.nextAt = time.Now().Add(d)
			ro.timer = time.AfterFunc(d, func() { root.Send(self, &rolloutTimer{id: name, gen: gen}) })
			if r.job.State != store.JobProcessing {
				m.setState(r, store.JobProcessing, "")
			}
			setReason(r, fmt.Sprintf("rollout: batch %d/%d done; batch %d starts in %s", ro.batch+1, ro.plan.Batches(), ro.batch+2, d))
			return
		}
	}
	m.nextBatch(ctx, r)
}

// stopTimer stops the pause between batches, if one runs.
func (ro *rolloutRun) stopTimer() {
	if ro != nil && ro.timer != nil {
		ro.timer.Stop()
		ro.timer = nil
		ro.timerGen++
	}
}

// rolloutTimerDone ends a rollout's pause between batches.
func (m *Master) rolloutTimerDone(ctx actor.Context, msg *rolloutTimer) {
	r := m.jobs[msg.id]
	if r == nil || r.roll == nil || r.roll.timer == nil || r.roll.timerGen != msg.gen {
		return // stopped meanwhile (pause, cancel, end)
	}
	r.roll.timer = nil
	r.roll.approved = true
	m.rolloutStep(ctx, r)
}

// nextBatch starts a rollout's next batch: the job goes to the head of
// the queue, as a relaunched job does, and starts on the workers the
// scheduler picks.
func (m *Master) nextBatch(ctx actor.Context, r *jobRun) {
	ro := r.roll
	ro.batch++
	ro.checked, ro.approved = false, false
	ro.start = make(map[string]int, len(r.job.Counts))
	for k, v := range r.job.Counts {
		ro.start[k] = v
	}
	ro.lostAtStart = ro.lost
	r.job.Workers, r.workers = r.workerFigures(), map[string]*jobWorker{}
	m.setState(r, store.JobWaiting, fmt.Sprintf("rollout: batch %d/%d", ro.batch+1, ro.plan.Batches()))
	m.queue = append([]string{r.job.ID}, m.queue...)
	m.schedule(ctx)
}

// stopRollout ends a rollout over budget: nothing more is leased, every
// target without a result is stored skipped (job.RolloutStopped), and the
// job then ends failed with why.
func (m *Master) stopRollout(ctx actor.Context, r *jobRun, why string) {
	ro := r.roll
	b := r.budget()
	share := 0.0
	if b.Ran > 0 {
		share = float64(b.Failures) * 100 / float64(b.Ran)
	}
	ro.stop = fmt.Sprintf("rollout stopped after batch %d/%d: %d failures in %d targets that ran (%s%%) is %s; targets %d and after were not sent",
		ro.batch+1, ro.plan.Batches(), b.Failures, b.Ran, strconv.FormatFloat(share, 'f', 1, 64), why, ro.to())
	if ro.to() >= r.job.Total {
		ro.stop = fmt.Sprintf("rollout failed in its last batch %d/%d: %d failures in %d targets that ran (%s%%) is %s",
			ro.batch+1, ro.plan.Batches(), b.Failures, b.Ran, strconv.FormatFloat(share, 'f', 1, 64), why)
	}
	m.cfg.Logger.Warn("rollout stopped over its failure budget", "job", r.job.ID, "batch", ro.batch+1,
		"failures", b.Failures, "ran", b.Ran, "why", why)
	ro.stopTimer()
	if r.stored >= r.job.Total {
		m.setState(r, store.JobFailed, ro.stop)
		m.end(ctx, r)
		return
	}
	r.cancelled, r.filling = true, true
	r.requeue, r.ready = nil, nil
	m.releaseParked(ctx, r, true)
	setReason(r, ro.stop)
	m.writer.submit(fillCancelled{jobID: r.job.ID, protocol: r.spec.Protocol, state: job.StateSkipped, msg: job.RolloutStopped})
}

// pause stops leasing a job until resume: its parked lease requests get
// Last, and each of its parts gets JobStop: the runner starts no request
// more (those in flight finish and are stored) and ends, and the targets
// it had queued come back to the master (takeBack) for the resume. A
// waiting job leaves the queue.
func (m *Master) pause(ctx actor.Context, id string) *pauseReply {
	r := m.jobs[id]
	if r == nil {
		return &pauseReply{}
	}
	reply := &pauseReply{found: true}
	switch {
	case r.cancelled:
		reply.err = &JobStateError{ID: id, State: m.status(r).State, Msg: "it is ending: nothing to pause"}
	case r.job.State == store.JobPaused:
		reply.err = &JobStateError{ID: id, State: r.job.State, Msg: "already paused (resume it: POST /api/v1/jobs/" + id + "/resume)"}
	case r.job.State == store.JobFinishedNotGathered:
		reply.err = &JobStateError{ID: id, State: r.job.State, Msg: "every target has been sent: nothing left to pause"}
	default:
		r.roll.stopTimer()
		r.paused = pausedByOperator
		m.setState(r, store.JobPaused, fmt.Sprintf("paused (resume it: POST /api/v1/jobs/%s/resume, or salvo resume %s)", id, id))
		m.serve(ctx, r)
		for _, jw := range r.workers {
			if !jw.finished {
				ctx.Send(jw.pid, &JobStop{JobId: id})
			}
		}
		m.cfg.Logger.Info("job paused", "job", id)
	}
	reply.status = m.status(r)
	return reply
}

// resume lets a paused job lease again: past the end of its batch for a
// rollout at a batch's end, else where it stopped.
func (m *Master) resume(ctx actor.Context, id string) *pauseReply {
	r := m.jobs[id]
	if r == nil {
		return &pauseReply{}
	}
	reply := &pauseReply{found: true}
	if r.cancelled || r.job.State != store.JobPaused {
		reply.err = &JobStateError{ID: id, State: m.status(r).State, Msg: "not paused: nothing to resume"}
		reply.status = m.status(r)
		return reply
	}
	r.paused = ""
	m.cfg.Logger.Info("job resumed", "job", id)
	running := false
	for _, jw := range r.workers {
		running = running || !jw.finished
	}
	switch {
	case r.atBoundary():
		r.roll.approved = true
		m.setState(r, store.JobProcessing, "")
		m.rolloutStep(ctx, r)
	case running:
		// Its parts still run the leases they hold: they lease again, or
		// the job is relaunched once they have ended.
		m.setState(r, store.JobProcessing, "")
	default:
		m.setState(r, store.JobWaiting, "resumed")
		m.queue = append([]string{r.job.ID}, m.queue...)
		m.schedule(ctx)
	}
	reply.status = m.status(r)
	return reply
}

// Pause stops leasing a job's targets until Resume: no new lease is
// granted, leases in flight run to their end, and the job is paused
// (store.JobPaused), also across a restart of the master. It returns
// store.ErrNotFound for an unknown job, ErrJobFinished for a terminal one
// and a *JobStateError when the job cannot be paused in its state.
func (e *Engine) Pause(ctx context.Context, id string) (*JobStatus, error) {
	return e.pauseOrResume(ctx, id, &pauseJob{id: id})
}

// Resume lets a paused job lease again: a rollout waiting after a batch
// (approve) starts its next batch. Errors are Pause's.
func (e *Engine) Resume(ctx context.Context, id string) (*JobStatus, error) {
	return e.pauseOrResume(ctx, id, &resumeJob{id: id})
}

func (e *Engine) pauseOrResume(ctx context.Context, id string, msg any) (*JobStatus, error) {
	res, err := e.ask(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	reply := res.(*pauseReply)
	if !reply.found {
		j, err := e.st.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		return StatusFromJob(j), ErrJobFinished
	}
	return reply.status, reply.err
}

// resumeRollout reads what the master needs to take up a rollout job
// where it was: its batch in progress (from its stored results, and the
// record's batch when every result of a batch is stored), the counts of
// the batches before, and its lost workers' results. It reads each stored
// result once, without bodies.
func (e *Engine) resumeRollout(ctx context.Context, j *store.Job, ro *job.Rollout, stored int) (*rolloutResume, error) {
	plan := ro.Plan(j.Total)
	rr := &rolloutResume{start: map[string]int{}}
	if stored > 0 {
		rr.batch = plan.BatchOf(min(stored, j.Total) - 1)
	}
	if len(j.Rollout) > 0 {
		var rec RolloutStatus
		if err := json.Unmarshal(j.Rollout, &rec); err == nil && rec.Batch-1 > rr.batch && plan.From(rec.Batch-1) <= stored {
			rr.batch = rec.Batch - 1 // the next batch had started: nothing of it is stored yet
		}
	}
	first := max(rr.batch-(MaxStatusBatches-1), 0)
	rr.omitted = first
	past := make([]BatchStatus, rr.batch-first)
	for i := range past {
		k := first + i
		past[i] = BatchStatus{Index: k + 1, From: plan.From(k), To: plan.To(k), Counts: fullCounts(nil), Complete: true}
	}
	err := e.st.ScanValues(ctx, j.ID, func(v store.ValueRow) error {
		k := plan.BatchOf(v.Index)
		lost := v.ErrorClass == job.ClassWorkerLost
		if lost {
			rr.lost++
		}
		if k >= rr.batch {
			return nil
		}
		rr.start[v.State]++
		if lost {
			rr.lostAtStart++
		}
		if k >= first {
			b := &past[k-first]
			b.Counts[v.State]++
			switch {
			case lost:
				b.WorkerLost++
			case v.State == job.StateFailed || v.State == job.StateError || v.State == job.StateTimeout:
				b.Failures++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the results of rollout job %s: %w", j.ID, err)
	}
	rr.past = past
	return rr, nil
}
