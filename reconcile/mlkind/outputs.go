package mlkind

import (
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/render"
)

// Output kinds of a run.
const (
	OutputParameter = "parameter"
	OutputArtifact  = "artifact"
	OutputMetric    = "metric"
)

// Output is one output of a run: a parameter's value or an artifact's URI
// of a step of a Workflow run, as Argo reports it in status.nodes, or a
// parameter or metric of a Katib Experiment's optimal trial.
type Output struct {
	// Step is the pipeline step: the node's template name without the
	// "step-" prefix trellis gives it, else the node's display name; for
	// an optimal trial, the trial's name.
	Step  string `json:"step,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// WorkflowOutputs returns the output parameters and artifacts of the Pod
// nodes of an Argo Workflow, sorted by step, kind and name. An artifact's
// value is its URI (s3://bucket/key, gs://bucket/key, an http(s) URL...),
// its bucket taken from the Workflow's artifact repository when the
// artifact names none; an artifact whose location Argo has not reported is
// left out.
func WorkflowOutputs(wf *unstructured.Unstructured) []Output {
	nodes, _, _ := unstructured.NestedMap(wf.Object, "status", "nodes")
	repo, _, _ := unstructured.NestedMap(wf.Object, "status", "artifactRepositoryRef", "artifactRepository")
	var out []Output
	for _, n := range nodes {
		node, ok := n.(map[string]any)
		if !ok || str(node, "type") != "Pod" {
			continue
		}
		step := StepOf(node)
		params, _, _ := unstructured.NestedSlice(node, "outputs", "parameters")
		for _, p := range params {
			if pm, ok := p.(map[string]any); ok {
				out = append(out, Output{Step: step, Kind: OutputParameter, Name: str(pm, "name"), Value: str(pm, "value")})
			}
		}
		arts, _, _ := unstructured.NestedSlice(node, "outputs", "artifacts")
		for _, a := range arts {
			if am, ok := a.(map[string]any); ok {
				if uri := ArtifactURI(am, repo); uri != "" {
					out = append(out, Output{Step: step, Kind: OutputArtifact, Name: str(am, "name"), Value: uri})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return out
}

// StepOf returns the pipeline step of a node of a Workflow's
// status.nodes: its template's name (templateName, else
// templateRef.template) without the "step-" prefix render gives it, else
// the node's display name.
func StepOf(node map[string]any) string {
	template := str(node, "templateName")
	if template == "" {
		template, _, _ = unstructured.NestedString(node, "templateRef", "template")
	}
	if step := strings.TrimPrefix(template, render.StepTemplatePrefix); step != "" {
		return step
	}
	return str(node, "displayName")
}

// ArtifactURI is the URI of an Argo artifact (an element of a node's
// outputs.artifacts), with repo (the Workflow's
// status.artifactRepositoryRef.artifactRepository, may be nil) supplying
// the bucket of a key-only s3, gcs or oss artifact. It returns "" for an
// artifact with no location.
func ArtifactURI(artifact, repo map[string]any) string {
	for _, store := range []struct{ field, scheme string }{{"s3", "s3"}, {"gcs", "gs"}, {"oss", "oss"}} {
		loc, ok := artifact[store.field].(map[string]any)
		if !ok {
			continue
		}
		key := strings.TrimPrefix(str(loc, "key"), "/")
		bucket := str(loc, "bucket")
		if bucket == "" {
			if r, ok := repo[store.field].(map[string]any); ok {
				bucket = str(r, "bucket")
			}
		}
		if bucket == "" || key == "" {
			return ""
		}
		return store.scheme + "://" + bucket + "/" + key
	}
	if loc, ok := artifact["http"].(map[string]any); ok {
		return str(loc, "url")
	}
	if loc, ok := artifact["hdfs"].(map[string]any); ok && str(loc, "path") != "" {
		return "hdfs://" + strings.TrimPrefix(str(loc, "path"), "/")
	}
	if loc, ok := artifact["azure"].(map[string]any); ok {
		container, blob := str(loc, "container"), str(loc, "blob")
		if r, ok := repo["azure"].(map[string]any); ok && container == "" {
			container = str(r, "container")
		}
		if container != "" && blob != "" {
			return "azure://" + container + "/" + strings.TrimPrefix(blob, "/")
		}
	}
	return ""
}

// WorkflowFinished returns when a Workflow finished (status.finishedAt),
// or the zero time.
func WorkflowFinished(wf *unstructured.Unstructured) time.Time {
	s, _, _ := unstructured.NestedString(wf.Object, "status", "finishedAt")
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
