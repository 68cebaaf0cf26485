package lineage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// SchemaVersion is the version of the Record format.
const SchemaVersion = 1

// Result is how a run ended.
type Result string

// Results of a run.
const (
	// Succeeded: every object applied and every followed run succeeded.
	Succeeded Result = "succeeded"
	// Failed: the apply failed, an object failed, or a followed run failed.
	Failed Result = "failed"
	// NoOp: nothing changed and nothing was followed.
	NoOp Result = "no-op"
	// DryRun: a pull-request check or a diff; nothing was applied.
	DryRun Result = "dry-run"
)

// Record is the lineage of one run.
type Record struct {
	SchemaVersion int           `json:"schemaVersion"`
	RunID         string        `json:"runId"`
	Source        Source        `json:"source"`
	Cluster       string        `json:"cluster"`
	Started       time.Time     `json:"started"`
	Finished      time.Time     `json:"finished"`
	Result        Result        `json:"result"`
	Declarations  []Declaration `json:"declarations"`
	Objects       []Object      `json:"objects"`
	Followed      []Followed    `json:"followed,omitempty"`
	Pins          []Pin         `json:"pins,omitempty"`
	Errors        []string      `json:"errors,omitempty"`
}

// Source is where the applied revision came from.
type Source struct {
	// URL is the config repo, without credentials.
	URL      string `json:"url"`
	Ref      string `json:"ref,omitempty"`
	Revision string `json:"revision"`
	Author   string `json:"author,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Declaration is one declaration of the revision.
type Declaration struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Path string `json:"path"`
	Hash string `json:"hash"`
}

// Object is one object and what the apply did to it.
type Object struct {
	Group     string           `json:"group,omitempty"`
	Version   string           `json:"version"`
	Kind      string           `json:"kind"`
	Namespace string           `json:"namespace,omitempty"`
	Name      string           `json:"name"`
	Action    reconcile.Action `json:"action"`
	Hash      string           `json:"hash,omitempty"`
	Reason    string           `json:"reason,omitempty"`
}

// Followed is a run object the apply started or updated, as it ended (or
// as it was when following timed out).
type Followed struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// RunOf is the trellis.dev/run-of label: pipeline-<name>, experiment-<name>.
	RunOf    string     `json:"runOf,omitempty"`
	Phase    string     `json:"phase"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	// Nodes counts a Workflow's nodes by phase.
	Nodes map[string]int `json:"nodes,omitempty"`
	// Outputs are a Workflow's output parameters and artifacts, or an
	// Experiment's optimal trial's parameters and metrics.
	Outputs []Output `json:"outputs,omitempty"`
	// URL, ModelURI and Traffic describe an InferenceService.
	URL      string         `json:"url,omitempty"`
	ModelURI string         `json:"modelUri,omitempty"`
	Traffic  map[string]int `json:"traffic,omitempty"`
	Message  string         `json:"message,omitempty"`
}

// Output kinds.
const (
	OutputParameter = mlkind.OutputParameter
	OutputArtifact  = mlkind.OutputArtifact
	OutputMetric    = mlkind.OutputMetric
)

// Output is one output of a followed run: a Workflow step's output (see
// mlkind.WorkflowOutputs), or a parameter or metric of an Experiment's
// optimal trial, whose Step is the trial.
type Output = mlkind.Output

// Pin links an endpoint to the pipeline run output it serves (see
// reconcile's pin.go).
type Pin = reconcile.ModelPin

// RunID returns a sortable run id, unique per cluster and revision to the
// millisecond: 20261126T181500.123Z-staging-ab12cd3.
func RunID(started time.Time, cluster, revision string) string {
	return started.UTC().Format("20060102T150405.000Z") + "-" + cluster + "-" + ShortRevision(revision)
}

// ShortRevision is the first seven characters of a revision.
func ShortRevision(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// Declarations returns the declarations of r that belong to cluster (a
// Cluster declaration, or a namespaced one whose spec.cluster it is),
// sorted by kind and name.
func Declarations(r *render.Result, cluster string) []Declaration {
	var out []Declaration
	for _, d := range r.Declarations {
		if d.Cluster != cluster && !(d.Kind == "Cluster" && d.Name == cluster) {
			continue
		}
		out = append(out, Declaration{Kind: d.Kind, Name: d.Name, Path: d.Path, Hash: d.Hash})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Objects returns the objects of a change set.
func Objects(cs *reconcile.ChangeSet) []Object {
	out := make([]Object, 0, len(cs.Changes))
	for _, c := range cs.Changes {
		o := c.Object
		out = append(out, Object{
			Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
			Action: c.Action, Hash: c.Hash, Reason: c.Reason,
		})
	}
	return out
}

// Changed is the number of objects created, adopted, configured or
// pruned.
func (r Record) Changed() int {
	n := 0
	for _, o := range r.Objects {
		switch o.Action {
		case reconcile.Created, reconcile.Adopted, reconcile.Configured, reconcile.Pruned:
			n++
		}
	}
	return n
}

// ResultOf decides the result of a run from its change set, the runs it
// followed and its error.
func ResultOf(cs *reconcile.ChangeSet, followed []Followed, err error) Result {
	switch {
	case err != nil || (cs != nil && cs.Failed()):
		return Failed
	case anyFailed(followed):
		return Failed
	case cs != nil && cs.DryRun:
		return DryRun
	}
	if len(followed) > 0 {
		return Succeeded
	}
	if cs != nil {
		for _, c := range cs.Changes {
			if c.Action != reconcile.Unchanged && c.Action != reconcile.Skipped {
				return Succeeded
			}
		}
	}
	return NoOp
}

// failedPhases are the phases of a followed run that fail the run.
var failedPhases = map[string]bool{"Failed": true, "Error": true, "TimedOut": true}

func anyFailed(followed []Followed) bool {
	for _, f := range followed {
		if failedPhases[f.Phase] {
			return true
		}
	}
	return false
}

// CommitMessage is the message of the record's commit on the lineage
// branch: "trellis: <cluster> <short-rev> <result>".
func (r Record) CommitMessage() string {
	return fmt.Sprintf("trellis: %s %s %s", r.Cluster, ShortRevision(r.Source.Revision), r.Result)
}

// Dir is the record's directory on the lineage branch:
// runs/<YYYY-MM-DD>/<run-id>, the date being the run's start in UTC.
func (r Record) Dir() string {
	return strings.Join([]string{"runs", r.Started.UTC().Format("2006-01-02"), r.RunID}, "/")
}
