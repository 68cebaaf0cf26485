package lineage

import (
	"fmt"
	"strings"
)

// Kinds of followed objects.
const (
	KindWorkflow         = "Workflow"
	KindExperiment       = "Experiment"
	KindInferenceService = "InferenceService"
)

// Chain is what Trace found: an endpoint, the model it serves, the
// pipeline run that produced the model and the run of trellis (with its
// revision) that created that pipeline run. Later links are nil when the
// records do not reach them.
type Chain struct {
	// Endpoint is the newest record of the endpoint and how it was then.
	Endpoint Record
	Serving  Followed
	// ModelURI is the URI the endpoint serves.
	ModelURI string
	// Pin is how trellis pinned the endpoint to a pipeline output, if it did.
	Pin *Pin
	// Producer is the Workflow run whose output artifact is ModelURI, as
	// the record ProducerRecord followed it.
	Producer       *Followed
	ProducerRecord *Record
	Output         *Output
	// Creator is the record of the run of trellis that created the
	// Workflow run: its revision is the commit the model comes from.
	Creator *Record
}

// Trace walks records (newest first) from the InferenceService named
// endpoint (in cluster, when not empty) back to the commit whose pipeline
// run produced the model it serves.
func Trace(records []Record, endpoint, cluster string) (Chain, error) {
	var c Chain
	found := false
	for _, r := range records {
		if cluster != "" && r.Cluster != cluster {
			continue
		}
		if f, ok := findFollowed(r, KindInferenceService, "", endpoint); ok && f.ModelURI != "" {
			c.Endpoint, c.Serving, c.ModelURI, found = r, f, f.ModelURI, true
			c.Pin = findPin(r, f.Namespace, endpoint)
			break
		}
	}
	if !found {
		return c, fmt.Errorf("endpoint %s: %w: no record followed it to a model", endpoint, ErrNotFound)
	}
	c.Producer, c.ProducerRecord, c.Output = findProducer(records, c.Endpoint.Cluster, c.ModelURI)
	if c.Producer != nil {
		c.Creator = findCreator(records, c.Endpoint.Cluster, c.Producer)
		if c.Creator == nil {
			c.Creator = c.ProducerRecord
		}
	}
	return c, nil
}

func findFollowed(r Record, kind, namespace, name string) (Followed, bool) {
	for _, f := range r.Followed {
		if f.Kind == kind && f.Name == name && (namespace == "" || f.Namespace == namespace) {
			return f, true
		}
	}
	return Followed{}, false
}

func findPin(r Record, namespace, endpoint string) *Pin {
	for i, p := range r.Pins {
		if p.Endpoint == endpoint && p.Namespace == namespace {
			return &r.Pins[i]
		}
	}
	return nil
}

// findProducer returns the newest followed Workflow run of cluster with
// an output artifact whose value is uri.
func findProducer(records []Record, cluster, uri string) (*Followed, *Record, *Output) {
	for i := range records {
		r := &records[i]
		if r.Cluster != cluster {
			continue
		}
		for j := range r.Followed {
			f := &r.Followed[j]
			if f.Kind != KindWorkflow {
				continue
			}
			for k := range f.Outputs {
				if o := &f.Outputs[k]; o.Kind == OutputArtifact && o.Value == uri {
					return f, r, o
				}
			}
		}
	}
	return nil, nil, nil
}

// findCreator returns the record in which the Workflow run was created.
func findCreator(records []Record, cluster string, run *Followed) *Record {
	for i := range records {
		r := &records[i]
		if r.Cluster != cluster {
			continue
		}
		for _, o := range r.Objects {
			if o.Kind == KindWorkflow && o.Namespace == run.Namespace && o.Name == run.Name && o.Action == "created" {
				return r
			}
		}
	}
	return nil
}

// Outcome is what Forward found one commit led to.
type Outcome struct {
	// Applied are the records of the runs of trellis at the revision,
	// newest first.
	Applied []Record
	// Runs are the pipeline runs those applies created.
	Runs []Produced
}

// Produced is one pipeline run a commit created, as last followed, and
// the endpoints that serve its outputs.
type Produced struct {
	Cluster string
	// Creator is the record of the apply that created the run.
	Creator Record
	// Run is the Workflow run as the newest record that followed it saw
	// it; only its kind, namespace and name when none did.
	Run Followed
	// Served are the endpoints pinned to its outputs, each by the newest
	// record that pinned it.
	Served []Served
}

// Served is an endpoint pinned to a pipeline run's output.
type Served struct {
	Pin Pin
	// Record is the record of the apply that pinned it.
	Record Record
}

// Forward walks records (newest first) from the commit revision (a full
// hash or a prefix of at least 7 characters) to the pipeline runs its
// applies created, their outputs, and the endpoints that serve them:
// Trace's walk, the other way.
func Forward(records []Record, revision string) (Outcome, error) {
	var out Outcome
	if len(revision) < 7 {
		return out, fmt.Errorf("revision %q: give at least 7 characters", revision)
	}
	for _, r := range records {
		if strings.HasPrefix(r.Source.Revision, revision) {
			out.Applied = append(out.Applied, r)
		}
	}
	if len(out.Applied) == 0 {
		return out, fmt.Errorf("revision %s: %w: no record applied it", revision, ErrNotFound)
	}
	for _, r := range out.Applied {
		for _, o := range r.Objects {
			if o.Kind != KindWorkflow || o.Action != "created" {
				continue
			}
			p := Produced{Cluster: r.Cluster, Creator: r, Run: Followed{Kind: KindWorkflow, Namespace: o.Namespace, Name: o.Name}}
			for _, later := range records {
				if later.Cluster != r.Cluster {
					continue
				}
				if f, ok := findFollowed(later, KindWorkflow, o.Namespace, o.Name); ok {
					p.Run = f
					break
				}
			}
			p.Served = servedBy(records, r.Cluster, o.Namespace, o.Name)
			out.Runs = append(out.Runs, p)
		}
	}
	return out, nil
}

// servedBy returns the endpoints of cluster pinned to the run, each by the
// newest record that pinned it.
func servedBy(records []Record, cluster, namespace, run string) []Served {
	var out []Served
	seen := map[string]bool{}
	for _, r := range records {
		if r.Cluster != cluster {
			continue
		}
		for _, p := range r.Pins {
			if p.Run == run && p.Namespace == namespace && !seen[p.Endpoint] {
				seen[p.Endpoint] = true
				out = append(out, Served{Pin: p, Record: r})
			}
		}
	}
	return out
}
