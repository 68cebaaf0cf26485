package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// pinEndpoint is an InferenceService as render makes it from an Endpoint
// whose model comes from step train's artifact model of pipeline train.
func pinEndpoint(ns string) *unstructured.Unstructured {
	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": "serve", "namespace": ns,
			"annotations": map[string]any{render.AnnotationModelFrom: "train/train/model"}},
		"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
			"modelFormat": map[string]any{"name": "sklearn"}}}},
	}}
	return isvc
}

// createRun creates a Workflow run of pipeline train and sets its status
// as Argo's controller would: phase, finishedAt and the train step's model
// artifact, its key relative to the artifact repository's bucket.
func createRun(t *testing.T, c *Client, ns, name, phase string, finished time.Time) {
	t.Helper()
	wf := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": ns,
			"labels": map[string]any{render.LabelRunOf: render.RunOf("pipeline", "train")}},
		"spec": map[string]any{"workflowTemplateRef": map[string]any{"name": "train"}},
	}}
	res, _, err := c.Resource(wf.GroupVersionKind(), ns)
	require.NoError(t, err)
	created, err := res.Create(context.Background(), wf, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Object["status"] = map[string]any{
		"phase":      phase,
		"finishedAt": finished.UTC().Format(time.RFC3339),
		"artifactRepositoryRef": map[string]any{
			"artifactRepository": map[string]any{"s3": map[string]any{"bucket": "models"}},
		},
		"nodes": map[string]any{
			name + "-1": map[string]any{"id": name + "-1", "name": name + ".train", "displayName": "train",
				"type": "Pod", "templateName": "step-train", "phase": phase,
				"outputs": map[string]any{"artifacts": []any{
					map[string]any{"name": "model", "path": "/out/model", "s3": map[string]any{"key": "train/" + name + "/model.tgz"}},
				}}},
		},
	}
	_, err = res.Update(context.Background(), created, metav1.UpdateOptions{}) // no status subresource
	require.NoError(t, err)
}

// TestPinModel: an endpoint taking its model from a pipeline waits for
// the pipeline's first successful run, then serves its newest successful
// run's artifact, never a failed run's, and keeps the model it serves
// when the runs are gone.
func TestPinModel(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	cl := testCluster("pin", pinEndpoint(ns))
	storageURI := func() string {
		uri, _, _ := unstructured.NestedString(get(t, c, cl.Objects[0]).Object, "spec", "predictor", "model", "storageUri")
		return uri
	}
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

	cs := applyOK(t, c, cl, Options{SourceID: ns, Revision: "r1"})
	require.Len(t, cs.Changes, 1)
	assert.Equal(t, Skipped, cs.Changes[0].Action)
	assert.Equal(t, "waiting for a successful run of pipeline train with output train.model", cs.Changes[0].Reason)
	assert.Empty(t, cs.Pins)
	diffs, err := Diff(context.Background(), c, cl.Objects)
	require.NoError(t, err)
	require.Len(t, diffs, 1)
	assert.Equal(t, Skipped, diffs[0].Action, "diff says what apply would do")

	createRun(t, c, ns, "train-a", "Succeeded", t0)
	cs = applyOK(t, c, cl, Options{SourceID: ns, Revision: "r2"})
	assert.Equal(t, map[string]Action{"serve": Created}, actionsByName(cs))
	assert.Equal(t, []ModelPin{{Namespace: ns, Endpoint: "serve", Pipeline: "train", Step: "train", Artifact: "model",
		Run: "train-a", URI: "s3://models/train/train-a/model.tgz"}}, cs.Pins)
	assert.Equal(t, "s3://models/train/train-a/model.tgz", storageURI())
	assert.Equal(t, "train-a", get(t, c, cl.Objects[0]).GetAnnotations()[AnnotationModelRun])

	createRun(t, c, ns, "train-b", "Failed", t0.Add(time.Hour))
	cs = applyOK(t, c, cl, Options{SourceID: ns, Revision: "r3"})
	assert.Equal(t, map[string]Action{"serve": Unchanged}, actionsByName(cs), "a failed run is never served")

	createRun(t, c, ns, "train-c", "Succeeded", t0.Add(2*time.Hour))
	diffs, err = Diff(context.Background(), c, cl.Objects)
	require.NoError(t, err)
	assert.Equal(t, Configured, diffs[0].Action)
	assert.Contains(t, diffs[0].Unified, "+      storageUri: s3://models/train/train-c/model.tgz")
	cs = applyOK(t, c, cl, Options{SourceID: ns, Revision: "r4"})
	assert.Equal(t, map[string]Action{"serve": Configured}, actionsByName(cs))
	assert.Equal(t, "s3://models/train/train-c/model.tgz", storageURI())

	wfs, _, err := c.Resource(workflowGVK, ns)
	require.NoError(t, err)
	require.NoError(t, wfs.DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}))
	cs = applyOK(t, c, cl, Options{SourceID: ns, Revision: "r5"})
	assert.Equal(t, map[string]Action{"serve": Unchanged}, actionsByName(cs), "no run left: the model served is kept")
	require.Len(t, cs.Pins, 1)
	assert.True(t, cs.Pins[0].Kept)
	assert.Equal(t, "train-c", cs.Pins[0].Run)
}

// TestArtifactURI covers the artifact stores Argo reports.
func TestArtifactURI(t *testing.T) {
	repo := map[string]any{"s3": map[string]any{"bucket": "repo-bucket"}, "gcs": map[string]any{"bucket": "gbucket"}}
	for _, tc := range []struct {
		name     string
		artifact map[string]any
		want     string
	}{
		{"s3 with bucket", map[string]any{"s3": map[string]any{"bucket": "b", "key": "k/m.tgz"}}, "s3://b/k/m.tgz"},
		{"s3 key only", map[string]any{"s3": map[string]any{"key": "/k/m.tgz"}}, "s3://repo-bucket/k/m.tgz"},
		{"gcs key only", map[string]any{"gcs": map[string]any{"key": "k"}}, "gs://gbucket/k"},
		{"oss without any bucket", map[string]any{"oss": map[string]any{"key": "k"}}, ""},
		{"http", map[string]any{"http": map[string]any{"url": "https://h/m"}}, "https://h/m"},
		{"hdfs", map[string]any{"hdfs": map[string]any{"path": "/data/m"}}, "hdfs://data/m"},
		{"azure", map[string]any{"azure": map[string]any{"container": "c", "blob": "m"}}, "azure://c/m"},
		{"no location", map[string]any{"name": "model"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mlkind.ArtifactURI(tc.artifact, repo))
		})
	}
}
