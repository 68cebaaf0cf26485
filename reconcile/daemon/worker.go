package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// Results of an apply, as the metrics label them.
const (
	resultSuccess   = "success"
	resultFailure   = "failure"
	resultSuspended = "suspended"
)

// worker reconciles one cluster.
type worker struct {
	d      *Daemon
	name   string
	cancel context.CancelFunc
	notify chan struct{}
	// done is closed when run returned.
	done chan struct{}

	mu      sync.Mutex
	cluster *render.Cluster
	result  *render.Result
	snap    Snapshot
	// lastRecord is the last record made (see repeats).
	lastRecord recordKey
}

func newWorker(d *Daemon, name string) *worker {
	return &worker{d: d, name: name, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// offer hands the worker a newer rendering of its cluster.
func (w *worker) offer(c *render.Cluster, res *render.Result, snap Snapshot) {
	w.mu.Lock()
	w.cluster, w.result, w.snap = c, res, snap
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// run applies the cluster when a new revision arrives, every interval
// (drift), and after a failure with exponential backoff.
func (w *worker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.notify:
			failures = 0
		case <-timer.C:
		}
		err := w.reconcile(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !errors.Is(err, errSuspended):
			failures++
		default:
			failures = 0
		}
		timer.Reset(w.delay(failures))
	}
}

// delay is the time until the next apply: the interval after a success,
// else 1s doubled per consecutive failure, capped at MaxBackoff.
func (w *worker) delay(failures int) time.Duration {
	if failures == 0 {
		return w.d.cfg.Interval
	}
	d := time.Second << min(failures-1, 20)
	return min(d, w.d.cfg.MaxBackoff)
}

// reconcile applies the latest rendering once, then follows the runs the
// apply started, in the background, and records the run.
func (w *worker) reconcile(ctx context.Context) error {
	w.mu.Lock()
	c, res, snap := w.cluster, w.result, w.snap
	w.mu.Unlock()
	rev := snap.Revision
	run := w.newRun(c, res, snap)
	log := run.Logger().With("cluster", w.name, "revision", rev)
	select {
	case w.d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	out := clusterrun.Cluster(ctx, *c, clusterrun.Options{
		Connect: func(c render.Cluster) (*reconcile.Client, string, error) {
			client, err := w.d.cfg.Connect(ctx, c)
			return client, "", err
		},
		SourceID: w.d.cfg.SourceID, Revision: rev, AllowMassPrune: w.d.cfg.AllowMassPrune,
	}, logPrinter{log})
	<-w.d.sem
	client, cs, err := out.Client, out.ChangeSet, out.Err
	if errors.Is(err, reconcile.ErrSuspended) {
		log.Info("suspended; not applied", "reason", err.Error())
		w.d.cfg.Metrics.observe(w.name, resultSuspended, nil)
		return errSuspended
	}
	result := resultSuccess
	if err != nil || cs.Failed() {
		result = resultFailure
		log.Error("apply failed; retrying with backoff", "summary", summary(cs), "error", errString(err, cs))
	} else {
		log.Info("applied", "summary", cs.Summary())
	}
	w.d.cfg.Metrics.observe(w.name, result, cs)
	if w.d.cfg.Applied != nil {
		w.d.cfg.Applied(ctx, cs, err)
	}
	targets := lineage.Targets(cs)
	if err != nil || len(targets) == 0 {
		w.record(ctx, run, cs, nil, err, log)
	} else {
		w.follow(ctx, client, c, run, cs, targets, log)
	}
	if err == nil && cs.Failed() {
		return errApplyFailed
	}
	return err
}

// logPrinter logs a cluster's run as the daemon does: each object that
// changed at Info; the worker logs the outcome.
type logPrinter struct{ log *slog.Logger }

func (logPrinter) Connected(string, string, error) {}

func (p logPrinter) Change(ch reconcile.Change) {
	if ch.Action != reconcile.Unchanged {
		p.log.Info(ch.String())
	}
}

func (logPrinter) Applied(*reconcile.ChangeSet, error)               {}
func (logPrinter) Status(reconcile.ObjectRef, mlkind.Status, string) {}
func (logPrinter) Waited(string, int, int)                           {}
func (logPrinter) Followed(string, []lineage.Followed)               {}

// follow follows the runs an apply started in a goroutine of its own,
// bounded by FollowTimeout, and then records the run. Until then the
// record waits on disk, held (see lineage.Writer.Hold), so that a restart
// still pushes it. A pipeline run that succeeds while an endpoint of the
// cluster serves that pipeline's output has the cluster applied again at
// once, which pins the endpoint to it.
func (w *worker) follow(ctx context.Context, client *reconcile.Client, c *render.Cluster, run *lineage.Run,
	cs *reconcile.ChangeSet, targets []reconcile.ObjectRef, log *slog.Logger) {
	if lw := w.d.cfg.Lineage; lw != nil {
		if err := lw.Hold(run.Finish(cs, interrupted(targets), nil), run.Log()); err != nil {
			log.Error("lineage record not held on disk", "error", err)
		}
	}
	served := servedPipelines(c)
	w.d.following.Add(1)
	go func() {
		defer w.d.following.Done()
		followed := clusterrun.Follow(ctx, client, targets, lineage.FollowOptions{
			Interval: w.d.cfg.FollowInterval,
			Timeout:  w.d.cfg.FollowTimeout,
			Log:      log,
			PodLogs:  run.PodLogs(),
			OnFinished: func(f lineage.Followed) {
				if f.Kind == lineage.KindWorkflow && f.Phase == "Succeeded" && served[f.RunOf] {
					log.Info("pipeline run succeeded; applying again to pin the endpoints that serve it", "run", f.Name)
					w.kick()
				}
			},
		})
		w.d.cfg.Metrics.followed(w.name, followed)
		w.record(ctx, run, cs, followed, nil, log)
	}()
}

// interrupted is what a record held while following says of the runs it
// follows, should trellis stop before they finish.
func interrupted(targets []reconcile.ObjectRef) []lineage.Followed {
	out := make([]lineage.Followed, len(targets))
	for i, t := range targets {
		out[i] = lineage.Followed{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Phase: lineage.PhaseUnknown,
			Message: "not followed to the end: trellis stopped while following it"}
	}
	return out
}

// servedPipelines returns the run-of values of the pipelines whose output
// an endpoint of c serves.
func servedPipelines(c *render.Cluster) map[string]bool {
	out := map[string]bool{}
	for _, o := range c.Objects {
		if ref, ok := o.GetAnnotations()[render.AnnotationModelFrom]; ok {
			pipeline, _, _ := strings.Cut(ref, "/")
			out[render.RunOf("pipeline", pipeline)] = true
		}
	}
	return out
}

// repeats reports whether rec says nothing the cluster's last record did
// not: a drift check that found nothing to do at the revision last
// recorded (unless the run before failed), or the same failure again. Such runs leave no record, so
// that the lineage branch holds what happened, not one commit per
// interval. The first run of each revision after a start is always
// recorded.
func (w *worker) repeats(rec lineage.Record) bool {
	errs := strings.Join(rec.Errors, "\n")
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.lastRecord
	w.lastRecord = recordKey{revision: rec.Source.Revision, result: rec.Result, errors: errs}
	if last.revision != rec.Source.Revision {
		return false
	}
	switch rec.Result {
	case lineage.NoOp:
		return last.result != lineage.Failed // a recovery is news
	case lineage.Failed:
		return last.result == lineage.Failed && last.errors == errs
	}
	return false
}

// recordKey is what repeats compares of two records.
type recordKey struct {
	revision string
	result   lineage.Result
	errors   string
}

// kick asks the worker for an apply now.
func (w *worker) kick() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

type applyError string

func (e applyError) Error() string { return string(e) }

// errApplyFailed marks an apply in which some objects failed.
const errApplyFailed = applyError("some objects failed to apply")

func summary(cs *reconcile.ChangeSet) string {
	if cs == nil {
		return ""
	}
	return cs.Summary()
}

func errString(err error, cs *reconcile.ChangeSet) string {
	if err != nil {
		return err.Error()
	}
	if cs != nil && cs.Error != "" {
		return cs.Error
	}
	return errApplyFailed.Error()
}

// newRun starts the lineage run of one apply: its logger tees every line
// to the daemon's log and to the run's log.
func (w *worker) newRun(c *render.Cluster, res *render.Result, snap Snapshot) *lineage.Run {
	return lineage.NewRun(lineage.RunOptions{
		Redactor: w.d.cfg.Redactor.WithValues(res.SecretValues()...),
		Source: lineage.Source{URL: w.d.cfg.SourceURL, Ref: snap.Ref, Revision: snap.Revision,
			Author: snap.Author, Message: snap.Message},
		Cluster:      w.name,
		Declarations: lineage.Declarations(res, w.name),
		Handler:      w.d.cfg.Log.Handler(),
	})
}

// record queues the run's record on disk and asks the background flusher
// to push it (see Daemon.flushLoop): the lineage remote never holds up
// the apply path.
func (w *worker) record(ctx context.Context, run *lineage.Run, cs *reconcile.ChangeSet, followed []lineage.Followed, err error, log *slog.Logger) {
	if cs == nil {
		return
	}
	rec := run.Finish(cs, followed, err)
	lw := w.d.cfg.Lineage
	// A run that followed runs has a record held on disk: it is always
	// replaced by the finished one.
	if w.repeats(rec) && followed == nil {
		log.Debug("nothing new since the last record; none written", "result", rec.Result)
	} else {
		if w.d.cfg.Recorded != nil {
			w.d.cfg.Recorded(ctx, rec)
		}
		if lw != nil {
			if qerr := lw.Enqueue(rec, run.Log()); qerr != nil {
				log.Error("lineage record not queued", "error", qerr)
			}
		}
	}
	if lw != nil {
		w.d.kickFlush()
	}
}
