package pullrequest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// commentResult is a valid result for cluster dev with changes.
func commentResult(changes ...reconcile.PlannedChange) Result {
	return Result{
		Repo: testRepo,
		PullRequest: PullRequest{Number: 3,
			Base: Branch{Ref: "main", SHA: strings.Repeat("1", 40), Repo: testRepo},
			Head: Branch{Ref: "feature", SHA: strings.Repeat("2", 40), Repo: testRepo}},
		Declarations: 2,
		Clusters:     []ClusterResult{{ClusterPlan: reconcile.ClusterPlan{Cluster: "dev", Changes: changes, Unchanged: 1}}},
	}
}

// configMapChange is an added ConfigMap whose diff has n lines.
func configMapChange(name string, n int) reconcile.PlannedChange {
	var b strings.Builder
	fmt.Fprintf(&b, "--- base/ml/configmap/%s\n+++ head/ml/configmap/%s\n@@ -0,0 +1,%d @@\n", name, name, n)
	for i := range n {
		fmt.Fprintf(&b, "+line %d\n", i)
	}
	return reconcile.PlannedChange{Ref: reconcile.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: name}, Action: reconcile.Created, Unified: b.String()}
}

func TestRenderCommentFitsLargestFirst(t *testing.T) {
	r := commentResult(configMapChange("small", 2), configMapChange("huge", 400), configMapChange("medium", 50), configMapChange("big", 200))
	full := renderComment(&r, 1<<20)
	require.Contains(t, full, "summary>added <code>ml/configmap/huge</code>")

	budget := len(full) - 100
	body := renderComment(&r, budget)
	assert.LessOrEqual(t, len(body), budget)
	assert.Contains(t, body, "Diffs omitted from this comment:\n\n- added <code>ml/configmap/huge</code>\n\n")
	assert.Contains(t, body, "<summary>added <code>ml/configmap/big</code>", "one omission is enough")
	assert.True(t, strings.HasSuffix(body, "**1 diff omitted to stay within GitHub's comment size limit**.\n"), body[len(body)-200:])

	budget = len(full) - 4000
	body = renderComment(&r, budget)
	assert.LessOrEqual(t, len(body), budget)
	assert.Contains(t, body, "- added <code>ml/configmap/huge</code>\n- added <code>ml/configmap/big</code>\n", "listed in apply order")
	assert.Contains(t, body, "<summary>added <code>ml/configmap/small</code>")
	assert.Contains(t, body, "**2 diffs omitted")
}

func TestRenderCommentStopsListingWhenEvenTheListIsTooLong(t *testing.T) {
	var changes []reconcile.PlannedChange
	for i := range 300 {
		changes = append(changes, configMapChange(fmt.Sprintf("cm-%03d", i), 5))
	}
	r := commentResult(changes...)
	body := renderComment(&r, 4000)
	assert.LessOrEqual(t, len(body), 4000)
	assert.NotContains(t, body, "<details>")
	assert.Contains(t, body, "- added <code>ml/configmap/cm-000</code>\n")
	assert.Regexp(t, `- … and \d+ more objects\n`, body)
	assert.Regexp(t, `\*\*300 diffs omitted to stay within GitHub's comment size limit\*\* \(\d+ of them not listed\)\.\n$`, body)
}

func TestRenderCommentFencesAreLongerThanTheirContent(t *testing.T) {
	ch := configMapChange("docs", 1)
	ch.Unified += "+readme: |\n+  ```sh\n+  make\n+  ````\n"
	r := commentResult(ch)
	body := RenderComment(r)
	assert.Contains(t, body, "\n`````diff\n--- base/ml/configmap/docs\n")
	assert.Contains(t, body, "+  ````\n`````\n")
}

func TestRenderCommentEscapesNames(t *testing.T) {
	r := commentResult(configMapChange("x", 1))
	r.PullRequest.Head.Ref = "<img src=x onerror=alert(1)>`"
	body := RenderComment(r)
	assert.Contains(t, body, "<code>&lt;img src=x onerror=alert(1)&gt;`</code>")
	assert.NotContains(t, body, "<img")
}

func TestRenderCommentCapsProblems(t *testing.T) {
	r := commentResult()
	for i := range 60 {
		r.Problems = append(r.Problems, render.Problem{Path: "a.yaml", Line: i + 1, Column: 1, Message: "bad"})
	}
	body := RenderComment(r)
	assert.Contains(t, body, "60 problems in the head's declarations:")
	assert.Contains(t, body, "a.yaml:50:1: bad\n… and 10 more\n```")
	assert.NotContains(t, body, "a.yaml:51:1")
	assert.Contains(t, body, "No plan: the head's declarations are invalid.")
}

// The live dry-run's answers: refused objects, unreachable clusters, and
// a base that does not render.
func TestRenderCommentLive(t *testing.T) {
	ref := func(name string) reconcile.ObjectRef {
		return reconcile.ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: "ml", Name: name}
	}
	r := commentResult(configMapChange("settings", 2))
	r.LiveAsked = true
	r.BaseError = "cluster.yaml:3:1: spec.namespaces: field not allowed"
	r.Clusters[0].LiveRan = true
	r.Clusters[0].Live = []reconcile.ObjectDiff{
		{Ref: ref("iris"), Action: reconcile.Failed, Err: "InferenceService.serving.kserve.io \"iris\" is invalid: spec.predictor.minReplicas: Invalid value: -1"},
		{Ref: ref("wine"), Action: reconcile.Created},
		{Ref: ref("beer"), Action: reconcile.Unchanged},
	}
	r.Clusters = append(r.Clusters,
		ClusterResult{ClusterPlan: reconcile.ClusterPlan{Cluster: "prod", Unchanged: 3}, LiveError: "discovery: Get \"https://prod:6443/api\": dial tcp: connection refused"},
		ClusterResult{LiveRan: true, ClusterPlan: reconcile.ClusterPlan{Cluster: "staging", Unchanged: 3,
			Live: []reconcile.ObjectDiff{{Ref: ref("iris"), Action: reconcile.Configured}, {Ref: ref("wine"), Action: reconcile.Unchanged}}}})
	body := RenderComment(r)
	assert.Contains(t, body, "| <code>dev</code> | 1 | 0 | 0 | 1 | ✅ ok | ❌ 1 refused |")
	assert.Contains(t, body, "| <code>prod</code> | 0 | 0 | 0 | 3 | ✅ ok | ⚠️ failed |")
	assert.Contains(t, body, "| <code>staging</code> | 0 | 0 | 0 | 3 | ✅ ok | ✅ 1 configured, 1 unchanged |")
	checkGolden(t, "live", body)

	assert.Equal(t, []Status{
		{Context: ContextValidate, State: StateSuccess, Description: "2 declarations are valid"},
		{Context: ContextPlan, State: StateFailure, Description: "cluster dev: the dry run refused 1 object"},
	}, Statuses(&r))
}

func TestPRStatuses(t *testing.T) {
	ok := commentResult(configMapChange("a", 1))
	refused := commentResult()
	refused.Clusters[0].PruneRefusal = "prune refused: it would prune every object of the inventory (4)"
	broken := commentResult()
	broken.Clusters[0].LiveError = "connection refused"
	for name, tt := range map[string]struct {
		r    Result
		want []Status
	}{
		"planned":    {ok, []Status{{ContextValidate, StateSuccess, "2 declarations are valid", ""}, {ContextPlan, StateSuccess, "dev: 1 added, 0 changed, 0 removed", ""}}},
		"no changes": {commentResult(), []Status{{ContextValidate, StateSuccess, "2 declarations are valid", ""}, {ContextPlan, StateSuccess, "dev: no changes", ""}}},
		"prune refused": {refused, []Status{{ContextValidate, StateSuccess, "2 declarations are valid", ""},
			{ContextPlan, StateFailure, "cluster dev: prune refused: it would prune every object of the inventory (4)", ""}}},
		"cluster unreachable": {broken, []Status{{ContextValidate, StateSuccess, "2 declarations are valid", ""},
			{ContextPlan, StateError, "cluster dev: dry run: connection refused", ""}}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tt.want, Statuses(&tt.r))
		})
	}
}
