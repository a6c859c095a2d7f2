package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/schedule"
)

// startScheduler starts the schedules' loop of the master that writes
// (docs/schedules.md): a master outside a Raft group for as long as its
// cluster part runs, the leader of a group while it leads, like the
// retention's pruner. Each slot's job goes through e.Submit, as a
// submit by the token "schedule:NAME".
func (s *Server) startScheduler(e *actors.Engine) *schedule.Scheduler {
	cfg := schedule.DefaultConfig()
	cfg.Store, cfg.Logger = s.st, s.logger.With("component", "schedules")
	cfg.Submit = func(ctx context.Context, spec *job.Spec, run schedule.Run) (string, error) {
		if err := s.engines.strayErr(); err != nil {
			return "", fmt.Errorf("%w: %w", schedule.ErrUnavailable, err) // no worker would run it
		}
		ctx = actors.WithSubmitter(ctx, schedule.Submitter(run.Schedule))
		ctx = actors.WithScheduleRun(ctx, actors.ScheduleRun{Schedule: run.Schedule, Slot: run.Slot, Manual: run.Manual})
		st, err := e.Submit(ctx, spec)
		if errors.Is(err, actors.ErrNotAccepting) {
			return "", fmt.Errorf("%w: %w", schedule.ErrUnavailable, err)
		}
		if err != nil {
			return "", err
		}
		return st.ID, nil
	}
	sc := schedule.New(cfg)
	sc.Start()
	return sc
}

// notifySchedules tells the running scheduler, if any, that a schedule
// was put or deleted (httpapi.Config.SchedulesChanged).
func (s *Server) notifySchedules() {
	p := s.current()
	if p == nil {
		return
	}
	if p.ha != nil {
		p.ha.mu.Lock()
		sc := p.ha.sched
		p.ha.mu.Unlock()
		sc.Notify()
		return
	}
	p.sched.Notify()
}
