package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// Metrics are the daemon's Prometheus metrics.
type Metrics struct {
	ReconcileDuration *prometheus.HistogramVec
	Reconciles        *prometheus.CounterVec
	LastApplied       *prometheus.GaugeVec
	Objects           *prometheus.CounterVec
	PollDuration      prometheus.Histogram
	PollErrors        prometheus.Counter
	RenderErrors      prometheus.Counter
	Revision          *prometheus.GaugeVec
	LineagePending    prometheus.Gauge
	LineagePushErrors prometheus.Counter
	RunsFollowed      *prometheus.CounterVec
}

// NewMetrics registers the daemon's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trellis_reconcile_duration_seconds", Help: "Duration of one apply of a revision to a cluster.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"cluster"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trellis_reconcile_total", Help: "Applies to a cluster by result (success, failure, suspended).",
		}, []string{"cluster", "result"}),
		LastApplied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trellis_last_applied_revision_info", Help: "1 for the revision last applied to a cluster with success.",
		}, []string{"cluster", "revision"}),
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trellis_objects_total", Help: "Objects handled by applies, by cluster and action.",
		}, []string{"cluster", "action"}),
		PollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "trellis_poll_duration_seconds", Help: "Duration of one poll of the Git source.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		PollErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trellis_poll_errors_total", Help: "Polls of the Git source that failed.",
		}),
		RenderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trellis_render_errors_total", Help: "Revisions that failed to validate or render; the previous revision stays in force.",
		}),
		Revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trellis_source_revision_info", Help: "1 for the source revision last fetched, with whether it rendered (valid=true|false).",
		}, []string{"revision", "valid"}),
		LineagePending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trellis_lineage_pending_records", Help: "Lineage records waiting on disk to be pushed (those of runs being followed included).",
		}),
		LineagePushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trellis_lineage_push_errors_total", Help: "Pushes to the lineage branch that gave up after their retries; the records stay queued.",
		}),
		RunsFollowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trellis_runs_followed_total", Help: "Runs followed after applies, by cluster, kind and the phase they ended in.",
		}, []string{"cluster", "kind", "phase"}),
	}
	reg.MustRegister(m.ReconcileDuration, m.Reconciles, m.LastApplied, m.Objects, m.PollDuration, m.PollErrors, m.RenderErrors, m.Revision,
		m.LineagePending, m.LineagePushErrors, m.RunsFollowed)
	return m
}

// observe records one apply's change set.
func (m *Metrics) observe(cluster, result string, cs *reconcile.ChangeSet) {
	if m == nil {
		return
	}
	m.Reconciles.WithLabelValues(cluster, result).Inc()
	if cs == nil {
		return
	}
	if !cs.Finished.IsZero() {
		m.ReconcileDuration.WithLabelValues(cluster).Observe(cs.Finished.Sub(cs.Started).Seconds())
	}
	for _, a := range reconcile.Actions {
		if n := cs.Count(a); n > 0 {
			m.Objects.WithLabelValues(cluster, string(a)).Add(float64(n))
		}
	}
	if result == resultSuccess {
		m.LastApplied.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
		m.LastApplied.WithLabelValues(cluster, cs.Revision).Set(1)
	}
}

func (m *Metrics) sourceRevision(rev string, valid bool) {
	if m == nil {
		return
	}
	m.Revision.Reset()
	v := "true"
	if !valid {
		v = "false"
	}
	m.Revision.WithLabelValues(rev, v).Set(1)
}

// lineage records the state of the lineage queue after a flush.
func (m *Metrics) lineage(pending int, pushErr error) {
	if m == nil {
		return
	}
	m.LineagePending.Set(float64(pending))
	if pushErr != nil {
		m.LineagePushErrors.Inc()
	}
}

// followed counts the runs a follow ended with.
func (m *Metrics) followed(cluster string, runs []lineage.Followed) {
	if m == nil {
		return
	}
	for _, f := range runs {
		m.RunsFollowed.WithLabelValues(cluster, f.Kind, f.Phase).Inc()
	}
}
