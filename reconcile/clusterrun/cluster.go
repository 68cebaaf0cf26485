package clusterrun

import (
	"context"
	"fmt"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// Connector reaches a cluster: its client, and the kubeconfig context it
// went through ("" when it names none, as for a kubeconfig Secret).
type Connector func(render.Cluster) (client *reconcile.Client, context string, err error)

// Printer is told what a run does as it does it. It is what sets `trellis
// apply` (lines on standard output) and the daemon (log lines) apart.
// Its methods are called from the run's goroutine, in this order.
type Printer interface {
	// Connected: the cluster was reached through context, or not (err).
	Connected(cluster, context string, err error)
	// Change: one object was applied (or pruned, or skipped...).
	Change(ch reconcile.Change)
	// Applied: the apply ended with cs (never nil) and err.
	Applied(cs *reconcile.ChangeSet, err error)
	// Status: an object waited for changed status (Options.Wait only).
	Status(ref reconcile.ObjectRef, st mlkind.Status, msg string)
	// Waited: the wait ended, notReady of total objects not ready
	// (Options.Wait only).
	Waited(cluster string, notReady, total int)
	// Followed: the runs were followed to their end or the timeout
	// (Options.Wait only, and only when there were runs to follow).
	Followed(cluster string, followed []lineage.Followed)
}

// Options configure the run of one cluster.
type Options struct {
	// Connect reaches the cluster.
	Connect Connector
	// SourceID, Revision, DryRun and AllowMassPrune go to reconcile.Apply.
	SourceID       string
	Revision       string
	DryRun         bool
	AllowMassPrune bool
	// Wait, after a successful apply that is not a dry run, waits up to
	// Timeout for the objects applied (runs left out) to be ready, then
	// follows the runs the apply started (not InferenceServices, waited
	// for already) within what is left of Timeout. Without Wait, the
	// caller follows (see Targets and Follow), as the daemon does in the
	// background.
	Wait    bool
	Timeout time.Duration
}

// Outcome is what the run of one cluster did.
type Outcome struct {
	// Client reached the cluster; nil when it could not be reached.
	Client *reconcile.Client
	// ChangeSet is what the apply did; never nil (a cluster that could not
	// be reached has one with its Error).
	ChangeSet *reconcile.ChangeSet
	// Followed are the runs followed (Options.Wait).
	Followed []lineage.Followed
	// Err is why the cluster could not be reached or applied.
	Err error
	// WaitErr says what was not ready in time (Options.Wait).
	WaitErr error
}

// Error is the outcome's failure, for a command's exit status: the
// connection or apply error, else the objects that failed, else what was
// not ready. Nil when the run succeeded.
func (o Outcome) Error() error {
	switch {
	case o.Err != nil:
		return o.Err
	case o.ChangeSet.Failed():
		return fmt.Errorf("cluster %s: %d of %d objects failed", o.ChangeSet.Cluster, o.ChangeSet.Count(reconcile.Failed), len(o.ChangeSet.Changes))
	}
	return o.WaitErr
}

// RecordErr is the error the run's lineage record names: the connection
// or apply error, else what was not ready. (Failed objects are in the
// record by themselves.)
func (o Outcome) RecordErr() error {
	if o.Err != nil {
		return o.Err
	}
	return o.WaitErr
}

// Cluster runs one cluster: connect, apply and, with Options.Wait, wait
// and follow, telling p as it goes.
func Cluster(ctx context.Context, cluster render.Cluster, o Options, p Printer) Outcome {
	client, kubeContext, err := o.Connect(cluster)
	p.Connected(cluster.Name, kubeContext, err)
	if err != nil {
		now := time.Now().UTC()
		cs := &reconcile.ChangeSet{Cluster: cluster.Name, Revision: o.Revision, Started: now, Finished: now,
			DryRun: o.DryRun, Error: err.Error()}
		p.Applied(cs, err)
		return Outcome{ChangeSet: cs, Err: err}
	}
	cs, err := reconcile.Apply(ctx, client, cluster, reconcile.Options{
		SourceID: o.SourceID, Revision: o.Revision, DryRun: o.DryRun, AllowMassPrune: o.AllowMassPrune,
		Progress: p.Change,
	})
	p.Applied(cs, err)
	out := Outcome{Client: client, ChangeSet: cs, Err: err}
	if err != nil || cs.Failed() || !o.Wait || o.DryRun {
		return out
	}
	deadline := time.Now().Add(o.Timeout)
	if out.WaitErr = wait(ctx, client, cluster, cs, o.Timeout, p); out.WaitErr != nil {
		return out
	}
	var runs []reconcile.ObjectRef
	for _, t := range lineage.Targets(cs) {
		if t.Kind != lineage.KindInferenceService { // waited for already
			runs = append(runs, t)
		}
	}
	if len(runs) > 0 {
		out.Followed = Follow(ctx, client, runs, lineage.FollowOptions{Timeout: max(time.Until(deadline), time.Second)})
		p.Followed(cluster.Name, out.Followed)
	}
	return out
}

// wait waits for the objects cs applied or left unchanged, runs left out,
// to be ready.
func wait(ctx context.Context, c *reconcile.Client, cluster render.Cluster, cs *reconcile.ChangeSet, timeout time.Duration, p Printer) error {
	runs := map[reconcile.ObjectRef]bool{}
	for _, obj := range cluster.Objects {
		if reconcile.IsRun(obj) {
			runs[reconcile.RefOf(obj)] = true
		}
	}
	var refs []reconcile.ObjectRef
	for _, ch := range cs.Changes {
		if (ch.Action.Wrote() || ch.Action == reconcile.Unchanged) && !runs[ch.Object] {
			refs = append(refs, ch.Object)
		}
	}
	results, err := reconcile.Wait(ctx, c, refs, timeout, p.Status)
	notReady := 0
	for _, r := range results {
		if r.Status != mlkind.StatusCurrent {
			notReady++
		}
	}
	p.Waited(cluster.Name, notReady, len(refs))
	if err != nil || notReady > 0 {
		return fmt.Errorf("cluster %s: %d objects not ready: %v", cluster.Name, notReady, err)
	}
	return nil
}
