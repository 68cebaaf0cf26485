package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
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

	mu      sync.Mutex
	cluster *render.Cluster
	result  *render.Result
	snap    Snapshot
}

func newWorker(d *Daemon, name string) *worker {
	return &worker{d: d, name: name, notify: make(chan struct{}, 1)}
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

// reconcile applies the latest rendering once.
func (w *worker) reconcile(ctx context.Context) error {
	w.mu.Lock()
	c, res, snap := w.cluster, w.result, w.snap
	w.mu.Unlock()
	rev := snap.Revision
	run := w.newRun(res, snap)
	log := run.Logger().With("cluster", w.name, "revision", rev)
	if Suspended(w.d.cfg.StateDir, w.name) {
		log.Info("suspended; not applied")
		w.d.cfg.Metrics.observe(w.name, resultSuspended, nil)
		return errSuspended
	}
	select {
	case w.d.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.d.sem }()
	cs, err := w.apply(ctx, c, rev, log)
	result := resultSuccess
	if err != nil || cs.Failed() {
		result = resultFailure
		log.Error("apply failed; retrying with backoff", "summary", summary(cs), "error", errString(err, cs))
	} else {
		log.Info("applied", "summary", cs.Summary())
	}
	w.d.cfg.Metrics.observe(w.name, result, cs)
	w.record(ctx, run, cs, err, log)
	if w.d.cfg.Applied != nil {
		w.d.cfg.Applied(ctx, cs, err)
	}
	if err == nil && cs.Failed() {
		return errApplyFailed
	}
	return err
}

func (w *worker) apply(ctx context.Context, c *render.Cluster, rev string, log *slog.Logger) (*reconcile.ChangeSet, error) {
	client, err := w.d.cfg.Connect(*c)
	if err != nil {
		cs := &reconcile.ChangeSet{Cluster: c.Name, Revision: rev, Started: time.Now().UTC(), Error: err.Error()}
		cs.Finished = cs.Started
		return cs, err
	}
	return reconcile.Apply(ctx, client, *c, reconcile.Options{
		SourceID:       w.d.cfg.SourceID,
		Revision:       rev,
		AllowMassPrune: w.d.cfg.AllowMassPrune,
		Progress: func(ch reconcile.Change) {
			if ch.Action != reconcile.Unchanged {
				log.Info(ch.String())
			}
		},
	})
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
func (w *worker) newRun(res *render.Result, snap Snapshot) *lineage.Run {
	return lineage.NewRun(lineage.RunOptions{
		Source: lineage.Source{URL: w.d.cfg.SourceURL, Ref: snap.Ref, Revision: snap.Revision,
			Author: snap.Author, Message: snap.Message},
		Cluster:      w.name,
		Declarations: lineage.Declarations(res, w.name),
		Handler:      w.d.cfg.Log.Handler(),
	})
}

// record queues the run's record and pushes the queue to the lineage
// branch; a failed push leaves the records queued on disk for the next
// apply, and is only logged.
func (w *worker) record(ctx context.Context, run *lineage.Run, cs *reconcile.ChangeSet, err error, log *slog.Logger) {
	if cs == nil {
		return
	}
	rec := run.Finish(cs, nil, err)
	if w.d.cfg.Recorded != nil {
		w.d.cfg.Recorded(ctx, rec)
	}
	if w.d.cfg.Lineage == nil {
		return
	}
	if qerr := w.d.cfg.Lineage.Enqueue(rec, run.Log()); qerr != nil {
		log.Error("lineage record not queued", "error", qerr)
		return
	}
	if ferr := w.d.cfg.Lineage.Flush(ctx); ferr != nil {
		log.Warn("lineage records not pushed yet; they stay queued", "error", ferr)
	}
}
