package actors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salvo-sh/salvo/store"
)

// AnyTag names the whole cluster in a Load: every worker and every waiting
// job, tagged or not (docs/scaling.md).
const AnyTag = "*"

// Load is the master's load snapshot: per tag, the waiting jobs and the
// capacity of the workers that could run them, and each registered
// worker's figures (GET /api/v1/cluster/load, docs/scaling.md).
type Load struct {
	Time time.Time `json:"time"`
	// Tags holds AnyTag and every tag of a registered worker or a waiting
	// job, in order.
	Tags []TagLoad `json:"tags"`
	// Workers are the registered workers, by name.
	Workers []LoadWorker `json:"workers"`
}

// TagLoad is the load of one tag: the waiting jobs that name it and the
// registered workers that have it (for AnyTag: every job and worker).
type TagLoad struct {
	Tag string `json:"tag"`
	// Waiting counts the jobs waiting to start; OldestWaitingSeconds is
	// how long the one that waited longest has (0 when none waits).
	Waiting              int     `json:"waiting"`
	OldestWaitingSeconds float64 `json:"oldestWaitingSeconds"`
	// Workers counts the registered workers, Enabled those that take new
	// jobs, Draining the disabled ones still running a job.
	Workers  int `json:"workers"`
	Enabled  int `json:"enabled"`
	Draining int `json:"draining"`
	// Capacity is the enabled workers' capacity, Reserved what running
	// jobs reserve on every worker, Free what the enabled workers have
	// left for new jobs.
	Capacity int `json:"capacity"`
	Reserved int `json:"reserved"`
	Free     int `json:"free"`
	// InFlight is the requests in flight on the workers, as their last
	// load reports say.
	InFlight int `json:"inFlight"`
}

// LoadWorker is one registered worker in a Load.
type LoadWorker struct {
	Name    string   `json:"name"`
	Tags    []string `json:"tags"`
	Enabled bool     `json:"enabled"`
	// Master is set on a worker whose node is a master too: a scaler never
	// stops it.
	Master      bool `json:"master"`
	Capacity    int  `json:"capacity"`
	Reserved    int  `json:"reserved"`
	RunningJobs int  `json:"runningJobs"`
	// Leases counts the target leases the worker holds and has not
	// finished.
	Leases   int `json:"leases"`
	InFlight int `json:"inFlight"`
	// IdleSeconds is how long the worker has run no job (since it
	// registered or its last job part ended); 0 while it runs one.
	IdleSeconds float64 `json:"idleSeconds"`
}

// Idle reports whether the worker runs no job and holds no lease.
func (w *LoadWorker) Idle() bool { return w.Reserved == 0 && w.RunningJobs == 0 && w.Leases == 0 }

// HasTag reports whether the worker counts under tag (every worker counts
// under AnyTag).
func (w *LoadWorker) HasTag(tag string) bool { return tag == AnyTag || slices.Contains(w.Tags, tag) }

// Tag returns the load of a tag; a tag no worker or job has is all zeros.
func (l *Load) Tag(tag string) TagLoad {
	for _, t := range l.Tags {
		if t.Tag == tag {
			return t
		}
	}
	return TagLoad{Tag: tag}
}

// Worker returns a registered worker's figures.
func (l *Load) Worker(name string) (LoadWorker, bool) {
	for _, w := range l.Workers {
		if w.Name == name {
			return w, true
		}
	}
	return LoadWorker{}, false
}

// loadQuery asks the master for its Load; the reply is *Load.
type loadQuery struct{}

// load builds the master's Load from its memory: no store access.
func (m *Master) load(now time.Time) *Load {
	l := &Load{Time: now.UTC(), Workers: make([]LoadWorker, 0, len(m.workers))}
	tags := map[string]*TagLoad{AnyTag: {Tag: AnyTag}}
	tag := func(name string) *TagLoad {
		t := tags[name]
		if t == nil {
			t = &TagLoad{Tag: name}
			tags[name] = t
		}
		return t
	}
	leases := map[string]int{}
	for _, r := range m.jobs {
		for _, ls := range r.leases {
			if !ls.done {
				leases[ls.worker]++
			}
		}
	}
	for _, w := range m.workers {
		lw := LoadWorker{Name: w.name, Tags: slices.Clone(w.tags), Enabled: !m.disabled[w.name], Capacity: w.capacity,
			Reserved: w.reserved, RunningJobs: len(w.running), Leases: leases[w.name], InFlight: int(w.load.GetInFlight())}
		if lw.Tags == nil {
			lw.Tags = []string{}
		}
		if lw.Reserved == 0 && lw.RunningJobs == 0 && !w.idleSince.IsZero() {
			lw.IdleSeconds = max(0, now.Sub(w.idleSince).Seconds())
		}
		l.Workers = append(l.Workers, lw)
		add := func(t *TagLoad) {
			t.Workers++
			t.Reserved += lw.Reserved
			t.InFlight += lw.InFlight
			if lw.Enabled {
				t.Enabled++
				t.Capacity += lw.Capacity
				t.Free += max(0, lw.Capacity-lw.Reserved)
			} else if !lw.Idle() {
				t.Draining++
			}
		}
		add(tags[AnyTag])
		for _, name := range uniq(w.tags) {
			add(tag(name))
		}
	}
	for _, id := range m.queue {
		r := m.jobs[id]
		if r == nil || r.job.State != store.JobWaiting || r.cancelled {
			continue
		}
		since := r.waitingSince
		if since.IsZero() {
			since = r.job.CreatedAt
		}
		age := max(0, now.Sub(since).Seconds())
		wait := func(t *TagLoad) {
			t.Waiting++
			t.OldestWaitingSeconds = max(t.OldestWaitingSeconds, age)
		}
		wait(tags[AnyTag])
		for _, name := range uniq(r.spec.Tags) {
			wait(tag(name))
		}
	}
	for _, t := range tags {
		l.Tags = append(l.Tags, *t)
	}
	sort.Slice(l.Tags, func(i, j int) bool { return l.Tags[i].Tag < l.Tags[j].Tag })
	sort.Slice(l.Workers, func(i, j int) bool { return l.Workers[i].Name < l.Workers[j].Name })
	return l
}

// uniq returns tags without repeats.
func uniq(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}

// Load returns the master's load snapshot, answered from its memory
// (bounded by AskTimeout). Workers whose node is a master too are marked.
func (e *Engine) Load(ctx context.Context) (*Load, error) {
	res, err := e.ask(ctx, &loadQuery{})
	if err != nil {
		return nil, fmt.Errorf("ask master: %w", err)
	}
	l := res.(*Load)
	masters := map[string]bool{}
	if !e.cfg.NoLocalWorker {
		masters[e.cfg.Name] = true
	}
	if e.cfg.Membership != nil {
		for _, n := range e.cfg.Membership.Nodes() {
			if slices.Contains(n.Roles, "master") {
				masters[n.Name] = true
			}
		}
	}
	for i := range l.Workers {
		l.Workers[i].Master = masters[l.Workers[i].Name]
	}
	return l, nil
}

// loadCollectTimeout bounds the master's answer to a /metrics scrape.
const loadCollectTimeout = 2 * time.Second

// LoadCollector exports a master's Load as Prometheus gauges, read at
// each scrape: salvo_queue_jobs, salvo_queue_oldest_seconds,
// salvo_capacity, salvo_capacity_reserved, salvo_capacity_free,
// salvo_tag_requests_in_flight and salvo_workers{state}, each by tag.
// A node whose master does not run (a follower, after shutdownNode)
// exports none of them.
type LoadCollector struct {
	load                                                     func(context.Context) (*Load, error)
	waiting, oldest, capacity, reserved, free, inFlight, wks *prometheus.Desc
}

// NewLoadCollector returns a collector of the loads load returns.
func NewLoadCollector(load func(context.Context) (*Load, error)) *LoadCollector {
	tag := []string{"tag"}
	return &LoadCollector{
		load:     load,
		waiting:  prometheus.NewDesc("salvo_queue_jobs", "Jobs waiting to start, by tag (* for the whole cluster).", tag, nil),
		oldest:   prometheus.NewDesc("salvo_queue_oldest_seconds", "How long the job that has waited longest to start has waited, by tag (0: none waits).", tag, nil),
		capacity: prometheus.NewDesc("salvo_capacity", "Capacity of the enabled workers, by tag.", tag, nil),
		reserved: prometheus.NewDesc("salvo_capacity_reserved", "Capacity running jobs reserve on the workers, by tag.", tag, nil),
		free:     prometheus.NewDesc("salvo_capacity_free", "Capacity the enabled workers have left for new jobs, by tag.", tag, nil),
		inFlight: prometheus.NewDesc("salvo_tag_requests_in_flight", "Requests in flight on the workers, as their load reports say, by tag.", tag, nil),
		wks:      prometheus.NewDesc("salvo_workers", "Registered workers by tag and state: enabled, draining (disabled, still running a job), disabled.", []string{"tag", "state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LoadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.oldest, c.capacity, c.reserved, c.free, c.inFlight, c.wks} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LoadCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), loadCollectTimeout)
	defer cancel()
	l, err := c.load(ctx)
	if err != nil || l == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, t := range l.Tags {
		gauge(c.waiting, float64(t.Waiting), t.Tag)
		gauge(c.oldest, t.OldestWaitingSeconds, t.Tag)
		gauge(c.capacity, float64(t.Capacity), t.Tag)
		gauge(c.reserved, float64(t.Reserved), t.Tag)
		gauge(c.free, float64(t.Free), t.Tag)
		gauge(c.inFlight, float64(t.InFlight), t.Tag)
		gauge(c.wks, float64(t.Enabled), t.Tag, "enabled")
		gauge(c.wks, float64(t.Draining), t.Tag, "draining")
		gauge(c.wks, float64(t.Workers-t.Enabled-t.Draining), t.Tag, "disabled")
	}
}
