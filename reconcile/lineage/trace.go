package lineage

import (
	"fmt"
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
