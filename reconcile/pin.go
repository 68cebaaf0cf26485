package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// Model pinning: an Endpoint whose model comes from a pipeline's output is
// rendered without a storageUri, annotated trellis.dev/model-from:
// PIPELINE/STEP/ARTIFACT. Before it is applied, trellis pins it to that
// output of the pipeline's newest Succeeded Workflow run (by finishedAt):
// the artifact's URI becomes spec.predictor.model.storageUri and the run's
// name the trellis.dev/model-run annotation. Each apply pins anew, so a
// newer successful run rolls the endpoint forward; a failed run never does.
// With no successful run yet, the endpoint keeps the model it serves, or,
// when it does not exist yet, is skipped until there is one.

// AnnotationModelRun names the Workflow run whose output an endpoint
// serves.
const AnnotationModelRun = "trellis.dev/model-run"

// ModelPin links an endpoint to the pipeline run output it serves.
type ModelPin struct {
	Namespace string `json:"namespace"`
	// Endpoint is the InferenceService's name.
	Endpoint string `json:"endpoint"`
	Pipeline string `json:"pipeline"`
	Step     string `json:"step"`
	Artifact string `json:"artifact"`
	// Run is the Workflow run whose output is pinned.
	Run string `json:"run"`
	URI string `json:"uri"`
	// Kept is set when no successful run was found and the endpoint
	// keeps the model it already served.
	Kept bool `json:"kept,omitempty"`
}

var workflowGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"}

// modelFrom parses the model-from annotation of obj.
func modelFrom(obj *unstructured.Unstructured) (pipeline, step, artifact string, ok bool) {
	ref, found := obj.GetAnnotations()[render.AnnotationModelFrom]
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(ref, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// pinModel pins obj (a rendered InferenceService, before it is stamped)
// when it takes its model from a pipeline. It returns the pin, or why obj
// must be skipped; neither when obj takes no model from a pipeline.
func pinModel(ctx context.Context, c *Client, obj *unstructured.Unstructured) (*ModelPin, string, error) {
	pipeline, step, artifact, ok := modelFrom(obj)
	if !ok {
		return nil, "", nil
	}
	pin := &ModelPin{Namespace: obj.GetNamespace(), Endpoint: obj.GetName(), Pipeline: pipeline, Step: step, Artifact: artifact}
	run, uri, err := latestOutput(ctx, c, obj.GetNamespace(), pipeline, step, artifact)
	if err != nil {
		return nil, "", err
	}
	if uri == "" {
		run, uri, err = servedModel(ctx, c, obj)
		if err != nil {
			return nil, "", err
		}
		if uri == "" {
			return nil, fmt.Sprintf("waiting for a successful run of pipeline %s with output %s.%s", pipeline, step, artifact), nil
		}
		pin.Kept = true
	}
	pin.Run, pin.URI = run, uri
	if err := unstructured.SetNestedField(obj.Object, uri, "spec", "predictor", "model", "storageUri"); err != nil {
		return nil, "", fmt.Errorf("pin model: %w", err)
	}
	ann := obj.GetAnnotations()
	if run != "" {
		ann[AnnotationModelRun] = run
	}
	obj.SetAnnotations(ann)
	return pin, "", nil
}

// latestOutput returns the newest Succeeded Workflow run of pipeline in
// namespace that has the output artifact step.artifact, and its URI; ""
// when there is none (or the cluster serves no Workflows). Any other
// error (discovery or the List failing, a timeout) is returned: the
// endpoint is then not applied, and the cluster's apply is retried.
func latestOutput(ctx context.Context, c *Client, namespace, pipeline, step, artifact string) (string, string, error) {
	res, _, err := c.Resource(workflowGVK, namespace)
	switch {
	case meta.IsNoMatchError(err):
		return "", "", nil // no Argo in the cluster: no runs
	case err != nil:
		return "", "", fmt.Errorf("runs of pipeline %s: is Argo Workflows served? %w", pipeline, err)
	}
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: render.LabelRunOf + "=" + render.RunOf("pipeline", pipeline)})
	switch {
	case apierrors.IsNotFound(err):
		return "", "", nil // the Workflow CRD went away: no runs
	case err != nil:
		return "", "", fmt.Errorf("runs of pipeline %s: %w", pipeline, err)
	}
	runs := list.Items
	sort.SliceStable(runs, func(i, j int) bool {
		fi, fj := mlkind.WorkflowFinished(&runs[i]), mlkind.WorkflowFinished(&runs[j])
		if !fi.Equal(fj) {
			return fi.After(fj)
		}
		return runs[i].GetName() > runs[j].GetName()
	})
	for i := range runs {
		if phase, _, _ := unstructured.NestedString(runs[i].Object, "status", "phase"); phase != "Succeeded" {
			continue
		}
		for _, o := range mlkind.WorkflowOutputs(&runs[i]) {
			if o.Kind == mlkind.OutputArtifact && o.Step == step && o.Name == artifact {
				return runs[i].GetName(), o.Value, nil
			}
		}
	}
	return "", "", nil
}

// servedModel returns the run and model URI the live endpoint serves, or
// "" when it does not exist or has no model URI.
func servedModel(ctx context.Context, c *Client, obj *unstructured.Unstructured) (string, string, error) {
	res, _, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	switch {
	case meta.IsNoMatchError(err):
		return "", "", nil // the kind is not served: the apply reports it
	case err != nil:
		return "", "", fmt.Errorf("endpoint %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	live, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("endpoint %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	uri, _, _ := unstructured.NestedString(live.Object, "spec", "predictor", "model", "storageUri")
	return live.GetAnnotations()[AnnotationModelRun], uri, nil
}

// pinAll returns objs with the endpoints that take their model from a
// pipeline pinned as Apply pins them (copies; the other objects are objs'
// own), and, by index in objs, why the endpoints Apply would skip are
// skipped; those are left out of the objects returned.
func pinAll(ctx context.Context, c *Client, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, map[int]Change, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	waiting := map[int]Change{}
	for i, o := range objs {
		if _, _, _, ok := modelFrom(o); !ok {
			out = append(out, o)
			continue
		}
		obj := o.DeepCopy()
		_, reason, err := pinModel(ctx, c, obj)
		if err != nil {
			return nil, nil, err
		}
		if reason != "" {
			waiting[i] = Change{Object: RefOf(o), Action: Skipped, Reason: reason}
			continue
		}
		out = append(out, obj)
	}
	return out, waiting, nil
}

// withWaiting puts the skipped endpoints back among diffs, at their index.
func withWaiting(diffs []ObjectDiff, waiting map[int]Change) []ObjectDiff {
	total := len(diffs) + len(waiting)
	out := make([]ObjectDiff, 0, total)
	for len(out) < total {
		if w, ok := waiting[len(out)]; ok {
			out = append(out, ObjectDiff{Ref: w.Object, Action: Skipped, Note: w.Reason})
			continue
		}
		out = append(out, diffs[0])
		diffs = diffs[1:]
	}
	return out
}
