// Package notify tells people what the daemon did: an apply that failed,
// a cluster that recovered, a pipeline run or experiment that finished, an
// endpoint moved to a new model. Events are derived from the lineage
// records the daemon writes, and sent to a generic webhook (JSON) or a
// Slack incoming webhook, each provider with its own queue, rate limit and
// retries, so that a slow receiver delays nobody else.
package notify

import (
	"fmt"
	"time"

	"trellis.dev/trellis/reconcile/lineage"
)

// Event kinds, as a provider's events list names them.
const (
	// KindFailed: an apply of a revision to a cluster failed.
	KindFailed = "failed"
	// KindRecovered: an apply succeeded after the cluster's last one
	// failed.
	KindRecovered = "recovered"
	// KindRunFinished: a pipeline run (Workflow) or an Experiment trellis
	// started reached its end.
	KindRunFinished = "run-finished"
	// KindPinned: an endpoint was moved to the output of a pipeline run.
	KindPinned = "pinned"
)

// Kinds are every event kind, in the order a record yields them.
var Kinds = []string{KindFailed, KindRecovered, KindRunFinished, KindPinned}

// Event is one thing worth telling, with the record it comes from named
// by RunID. It is also the body a generic webhook receives, as JSON.
type Event struct {
	Kind    string         `json:"kind"`
	Cluster string         `json:"cluster"`
	RunID   string         `json:"runId"`
	Source  lineage.Source `json:"source"`
	Result  lineage.Result `json:"result"`
	Time    time.Time      `json:"time"`
	// Title is one line saying what happened.
	Title string `json:"title"`
	// Errors are the run's errors, for KindFailed.
	Errors []string `json:"errors,omitempty"`
	// Run is the run that finished, for KindRunFinished.
	Run *lineage.Followed `json:"run,omitempty"`
	// Pin is the endpoint's move, for KindPinned.
	Pin *lineage.Pin `json:"pin,omitempty"`
}

// terminalPhases are the phases in which a Workflow or an Experiment has
// ended.
var terminalPhases = map[string]bool{"Succeeded": true, "Failed": true, "Error": true}

// Events are what rec is worth telling, given the result of the cluster's
// previous record (empty when unknown): a failure, a recovery from one,
// each run that finished, each endpoint pinned to a new model.
func Events(previous lineage.Result, rec lineage.Record) []Event {
	base := Event{Cluster: rec.Cluster, RunID: rec.RunID, Source: rec.Source, Result: rec.Result, Time: rec.Finished}
	rev := lineage.ShortRevision(rec.Source.Revision)
	var out []Event
	switch {
	case rec.Result == lineage.Failed:
		e := base
		e.Kind, e.Errors = KindFailed, rec.Errors
		e.Title = fmt.Sprintf("apply of %s to cluster %s failed", rev, rec.Cluster)
		if len(rec.Errors) > 0 {
			e.Title += ": " + lineage.FirstLine(rec.Errors[0])
		}
		out = append(out, e)
	case previous == lineage.Failed && (rec.Result == lineage.Succeeded || rec.Result == lineage.NoOp):
		e := base
		e.Kind = KindRecovered
		e.Title = fmt.Sprintf("cluster %s recovered: %s applied", rec.Cluster, rev)
		out = append(out, e)
	}
	for i := range rec.Followed {
		f := rec.Followed[i]
		if f.Kind != lineage.KindWorkflow && f.Kind != lineage.KindExperiment || f.Finished == nil || !terminalPhases[f.Phase] {
			continue
		}
		e := base
		e.Kind, e.Run = KindRunFinished, &f
		e.Title = fmt.Sprintf("%s %s/%s on cluster %s: %s", f.Kind, f.Namespace, f.Name, rec.Cluster, f.Phase)
		out = append(out, e)
	}
	for i := range rec.Pins {
		p := rec.Pins[i]
		if p.Kept {
			continue
		}
		e := base
		e.Kind, e.Pin = KindPinned, &p
		e.Title = fmt.Sprintf("endpoint %s/%s on cluster %s now serves %s (run %s)", p.Namespace, p.Endpoint, rec.Cluster, p.URI, p.Run)
		out = append(out, e)
	}
	return out
}
