package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/salvo-sh/salvo/store"
)

// PrunerConfig configures the retention's pruner.
type PrunerConfig struct {
	// Retention is how long after its end a job is kept (conf.Config.Retention).
	Retention time.Duration
	// Interval is the time between two rounds; the first runs at start.
	Interval time.Duration
	// Batch is how many expired jobs a round reads at a time.
	Batch int
	// MaxJobs bounds the jobs one round deletes: a backlog is worked
	// off over several rounds, and a delete that keeps failing is
	// tried again at the next.
	MaxJobs int
	Logger  *slog.Logger
}

// DefaultPrunerConfig returns the pruner's configuration for a retention:
// a round every tenth of it, between a second and ten minutes.
func DefaultPrunerConfig(retention time.Duration) PrunerConfig {
	return PrunerConfig{
		Retention: retention,
		Interval:  min(max(retention/10, time.Second), 10*time.Minute),
		Batch:     100,
		MaxJobs:   10_000,
		Logger:    slog.Default(),
	}
}

// pruner deletes, in the background, the jobs that finished longer than
// the retention ago, with their target chunks and results
// (store.Store.DeleteJob: bounded batches, through the Raft log in a
// group). It runs on the master that writes: a master outside a Raft
// group for as long as its cluster part runs, the leader of a group while
// it leads. It logs one line per job it deletes. stop ends it.
type pruner struct {
	cfg    PrunerConfig
	st     store.Store
	cancel context.CancelFunc
	done   chan struct{}
}

// startPruner starts a pruner of st; nil (which stop accepts) when the
// retention is 0.
func startPruner(st store.Store, cfg PrunerConfig) *pruner {
	if cfg.Retention <= 0 {
		return nil
	}
	def := DefaultPrunerConfig(cfg.Retention)
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = def.Batch
	}
	if cfg.MaxJobs <= 0 {
		cfg.MaxJobs = def.MaxJobs
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	cfg.Logger = cfg.Logger.With("component", "retention")
	ctx, cancel := context.WithCancel(context.Background())
	p := &pruner{cfg: cfg, st: st, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// stop ends the pruner and waits for it (a delete under way stops between
// two batches). It accepts nil.
func (p *pruner) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

func (p *pruner) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("retention: pruning stopped; trying again later", "in", p.cfg.Interval, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune deletes up to MaxJobs jobs that finished before now minus the
// retention, oldest first, and returns how many it deleted. It stops at
// the first error.
func (p *pruner) prune(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-p.cfg.Retention)
	n := 0
	for n < p.cfg.MaxJobs {
		jobs, err := p.st.ExpiredJobs(ctx, cutoff, min(p.cfg.Batch, p.cfg.MaxJobs-n))
		if err != nil {
			return n, err
		}
		for _, j := range jobs {
			start := time.Now()
			err := p.st.DeleteJob(ctx, j.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile (DELETE /api/v1/jobs/ID)
			}
			if err != nil {
				return n, err
			}
			n++
			finished := j.FinishedAt
			if finished.IsZero() {
				finished = j.CreatedAt
			}
			p.cfg.Logger.Info("job pruned", "job", j.ID, "name", j.Name, "state", j.State, "finishedAt", finished,
				"targets", j.Total, "retention", p.cfg.Retention, "took", time.Since(start))
		}
		if len(jobs) < p.cfg.Batch || ctx.Err() != nil {
			break
		}
	}
	return n, nil
}
