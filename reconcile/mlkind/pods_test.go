package mlkind

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgoPodNameV2(t *testing.T) {
	// FNV-1a("hello") is 1335831723, as in Argo's own pod name tests.
	assert.Equal(t, "wf-tpl-1335831723", argoPodNameV2("wf", "hello", "tpl"))
	assert.Equal(t, "wf-1335831723", argoPodNameV2("wf", "hello", ""), "no template: the workflow's name alone")
	assert.Equal(t, "wf", argoPodNameV2("wf", "wf", "tpl"), "the workflow's own node")
	long := argoPodNameV2(strings.Repeat("w", 200), "hello", strings.Repeat("t", 100))
	assert.Len(t, long, 242+1+10, "prefix cut to leave room for the hash")
	assert.True(t, strings.HasSuffix(long, "-1335831723"))
}

func TestWorkflowPods(t *testing.T) {
	wf := followFixture(t, "workflow")
	got := WorkflowPods(wf)
	require.Len(t, got, 2, "the Pod nodes, not the DAG")
	assert.Equal(t, WorkflowPod{
		Step:  "train",
		Pods:  []string{"train-iris-7xk2q-step-train-467207319", "train-iris-7xk2q-467207319"},
		Start: "2026-11-26T18:15:05Z",
	}, got[0], "v2 names first when the workflow says so")
	assert.Equal(t, "evaluate", got[1].Step, "in the order they started")
	assert.Equal(t, []string{"train-iris-7xk2q-step-evaluate-2516907616", "train-iris-7xk2q-2516907616"}, got[1].Pods)

	wf.SetAnnotations(nil)
	got = WorkflowPods(wf)
	assert.Equal(t, []string{"train-iris-7xk2q-467207319", "train-iris-7xk2q-step-train-467207319"}, got[0].Pods,
		"without the annotation, the node id (v1) first")
}
