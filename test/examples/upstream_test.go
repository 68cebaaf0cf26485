package examples

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/render"
)

// TestUpstreamFieldsReachTheCluster renders declarations that set, through
// their upstream field, Argo, KServe and Katib features that trellis has no
// field for, and an Argo example written with generateName
// (testdata/upstream), and checks that each lands where upstream reads it,
// passes the offline schema check, and is accepted by the apiserver with
// the real CRDs (strict field validation).
func TestUpstreamFieldsReachTheCluster(t *testing.T) {
	cp.Require(t)
	dir := filepath.Join("testdata", "upstream")
	res, err := render.Dir(context.Background(), dir, render.Options{Revision: "r1", UpstreamSchemas: true})
	require.NoError(t, err, render.Problems(err, dir, nil))
	dryRunAll(t, res)

	objs := map[string]*unstructured.Unstructured{}
	for _, o := range res.Clusters[0].Objects {
		objs[o.GetKind()] = o
	}
	field := func(kind string, path ...string) any {
		t.Helper()
		require.Contains(t, objs, kind)
		v, found, err := unstructured.NestedFieldNoCopy(objs[kind].Object, path...)
		require.NoError(t, err)
		require.True(t, found, "%s %v", kind, path)
		return v
	}
	wt := field("WorkflowTemplate", "spec")
	assert.Equal(t, "OnPodSuccess", field("WorkflowTemplate", "spec", "podGC", "strategy"), wt)
	tasks := field("WorkflowTemplate", "spec", "templates").([]any)[0].(map[string]any)["dag"].(map[string]any)["tasks"].([]any)
	train := tasks[1].(map[string]any)
	assert.Equal(t, []any{"a", "b", "c"}, train["withItems"])
	assert.Equal(t, "{{workflow.parameters.mode}} == full", train["when"])
	prepare := field("WorkflowTemplate", "spec", "templates").([]any)[1].(map[string]any)
	assert.Equal(t, int64(3), prepare["retryStrategy"].(map[string]any)["limit"])
	assert.Equal(t, []any{"python", "prepare.py"}, prepare["container"].(map[string]any)["command"], "trellis's fields stay")
	assert.Equal(t, "v2", field("InferenceService", "spec", "predictor", "model", "protocolVersion"))
	assert.Equal(t, "sklearn", field("InferenceService", "spec", "predictor", "model", "modelFormat", "name"))
	assert.Equal(t, "medianstop", field("Experiment", "spec", "earlyStopping", "algorithmName"))
	// Argo's hello-world example, written with generateName, is a run.
	assert.Regexp(t, `^hello-world-[0-9a-f]{8}$`, objs["Workflow"].GetName())
	assert.Equal(t, "workflow-hello-world", objs["Workflow"].GetLabels()["trellis.dev/run-of"])
}
