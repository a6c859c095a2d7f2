package actors

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/throttle"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	jobs          *prometheus.GaugeVec
	targets       *prometheus.CounterVec
	inFlight      prometheus.Gauge
	latency       *prometheus.HistogramVec
	batches       prometheus.Counter
	storeFailures prometheus.Counter
	// concurrency is each running job's effective concurrency on this
	// worker (its throttle's limit, or maxConcurrency without one).
	concurrency *prometheus.GaugeVec
	decreases   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salvo_jobs",
			Help: "Jobs known to this master by state (terminal states count jobs finished since start).",
		}, []string{"state"}),
		targets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salvo_targets_done_total",
			Help: "Target results stored, by result state (cancelled: the targets a cancel left unsent) and job protocol.",
		}, []string{"state", "protocol"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salvo_requests_in_flight",
			Help: "Requests in flight on this node's worker.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salvo_request_duration_seconds",
			Help:    "Latency of the final attempt of each target request, by result state and protocol.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"state", "protocol"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salvo_result_batches_total",
			Help: "Result batches committed to the store.",
		}),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salvo_store_write_failures_total",
			Help: "Result batches the store failed to commit.",
		}),
		concurrency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salvo_job_concurrency",
			Help: "Effective concurrency of each running job on this worker (the adaptive throttle's limit).",
		}, []string{"job"}),
		decreases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salvo_throttle_decreases_total",
			Help: "Decreases of a job's effective concurrency by the adaptive throttle, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.jobs, m.targets, m.inFlight, m.latency, m.batches, m.storeFailures,
		m.concurrency, m.decreases)
	for _, p := range []string{job.ProtocolHTTP, job.ProtocolSSH} {
		for _, st := range job.ResultStates {
			m.targets.WithLabelValues(st, p)
		}
	}
	for _, r := range []string{throttle.ReasonErrors, throttle.ReasonLatency, throttle.ReasonBackpressure, throttle.ReasonFDs} {
		m.decreases.WithLabelValues(r)
	}
	return m
}

// setConcurrency sets a running job's effective concurrency.
func (m *Metrics) setConcurrency(j string, n int) {
	m.concurrency.WithLabelValues(j).Set(float64(n))
}

// jobEnded removes a job's effective concurrency once its runner ends.
func (m *Metrics) jobEnded(j string) {
	m.concurrency.DeleteLabelValues(j)
}

// throttled counts a decrease of a job's effective concurrency.
func (m *Metrics) throttled(reason string) {
	m.decreases.WithLabelValues(reason).Inc()
}

func (m *Metrics) observeResult(protocol string, r *job.Result) {
	if r.State == job.StateSkipped || r.State == job.StateCancelled {
		return
	}
	m.latency.WithLabelValues(r.State, protocol).Observe(r.LatencyMs / 1000)
}

// protocolUnknown labels the results of a job the master no longer runs
// (stored after its end): its protocol is not known there.
const protocolUnknown = "unknown"

// stored counts a committed result batch of a job of protocol and its newly
// stored results per state.
func (m *Metrics) stored(protocol string, counts map[string]int) {
	m.batches.Inc()
	m.done(protocol, counts)
}

// done counts newly stored results per state of a job of protocol.
func (m *Metrics) done(protocol string, counts map[string]int) {
	if protocol == "" {
		protocol = protocolUnknown
	}
	for st, n := range counts {
		if n > 0 {
			m.targets.WithLabelValues(st, protocol).Add(float64(n))
		}
	}
}
