package actors

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salvo-sh/salvo/commands"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	jobs          *prometheus.GaugeVec
	targets       *prometheus.CounterVec
	inFlight      prometheus.Gauge
	latency       *prometheus.HistogramVec
	batches       prometheus.Counter
	storeFailures prometheus.Counter
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
			Help: "Target results stored, by result state.",
		}, []string{"state"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salvo_requests_in_flight",
			Help: "Requests in flight on this node's worker.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salvo_request_duration_seconds",
			Help:    "Latency of the final attempt of each target request, by result state.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"state"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salvo_result_batches_total",
			Help: "Result batches committed to the store.",
		}),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salvo_store_write_failures_total",
			Help: "Result batches the store failed to commit.",
		}),
	}
	reg.MustRegister(m.jobs, m.targets, m.inFlight, m.latency, m.batches, m.storeFailures)
	for _, st := range commands.ResultStates {
		m.targets.WithLabelValues(st)
	}
	return m
}

func (m *Metrics) observeResult(r *commands.Result) {
	if r.State == commands.StateSkipped || r.State == commands.StateCancelled {
		return
	}
	m.latency.WithLabelValues(r.State).Observe(r.LatencyMs / 1000)
}

func (m *Metrics) stored(counts map[string]int) {
	m.batches.Inc()
	for st, n := range counts {
		m.targets.WithLabelValues(st).Add(float64(n))
	}
}
