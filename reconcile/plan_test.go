package reconcile

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/render"
)

// planConfigMap is a ConfigMap as render stamps it, at revision rev.
func planConfigMap(name, rev string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name": name, "namespace": "ml",
			"annotations": map[string]any{render.AnnotationRevision: rev},
		},
		"data": data,
	}}
}

// planRun is a Workflow run of pipeline train.
func planRun(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Workflow",
		"metadata": map[string]any{
			"name": name, "namespace": "ml",
			"labels": map[string]any{render.LabelRunOf: "Pipeline/train"},
		},
	}}
}

// planSecret is a Secret with value in data and in stringData.
func planSecret(value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "db", "namespace": "ml"},
		"data":       map[string]any{"password": base64.StdEncoding.EncodeToString([]byte(value))},
		"stringData": map[string]any{"token": value},
	}}
}

func planCluster(objs ...*unstructured.Unstructured) *render.Cluster {
	return &render.Cluster{Name: "dev", Objects: objs}
}

// planActions maps each change's object name to its action.
func planActions(p ClusterPlan) map[string]Action {
	out := map[string]Action{}
	for _, c := range p.Changes {
		out[c.Ref.Name] = c.Action
	}
	return out
}

func TestPlanCluster(t *testing.T) {
	a1 := planConfigMap("a", "rev1", map[string]any{"k": "v"})
	a2 := planConfigMap("a", "rev2", map[string]any{"k": "v"})
	b1 := planConfigMap("b", "rev1", map[string]any{"k": "old"})
	b2 := planConfigMap("b", "rev2", map[string]any{"k": "new"})
	c1 := planConfigMap("c", "rev1", nil)
	d2 := planConfigMap("d", "rev2", nil)
	tests := []struct {
		name       string
		base, head *render.Cluster
		want       map[string]Action
		unchanged  int
		refused    bool
	}{
		{"revision alone is no change", planCluster(a1), planCluster(a2), map[string]Action{}, 1, false},
		{"added, changed, removed", planCluster(a1, b1, c1), planCluster(a2, b2, d2),
			map[string]Action{"b": Configured, "c": Pruned, "d": Created}, 1, false},
		{"cluster only in head", nil, planCluster(a2, d2), map[string]Action{"a": Created, "d": Created}, 0, false},
		{"cluster only in base", planCluster(a1, c1), nil, map[string]Action{"a": Pruned, "c": Pruned}, 0, true},
		{"every object removed", planCluster(a1, c1), planCluster(d2),
			map[string]Action{"a": Pruned, "c": Pruned, "d": Created}, 0, true},
		{"removed runs are history", planCluster(a1, planRun("train-abc")), planCluster(a2, planRun("train-def")),
			map[string]Action{"train-def": Created}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanCluster(tt.base, tt.head)
			assert.Equal(t, "dev", p.Cluster)
			assert.Equal(t, tt.want, planActions(p))
			assert.Equal(t, tt.unchanged, p.Unchanged)
			if tt.refused {
				assert.Contains(t, p.PruneRefusal, "prune refused")
			} else {
				assert.Empty(t, p.PruneRefusal)
			}
		})
	}
}

func TestPlanClusterOrderAndDiffs(t *testing.T) {
	base := planCluster(planConfigMap("b", "rev1", map[string]any{"k": "old"}), planConfigMap("z", "rev1", nil))
	head := planCluster(planConfigMap("a", "rev2", nil), planConfigMap("b", "rev2", map[string]any{"k": "new"}))
	p := PlanCluster(base, head)
	require.Len(t, p.Changes, 3)
	assert.Equal(t, []Action{Created, Configured, Pruned}, []Action{p.Changes[0].Action, p.Changes[1].Action, p.Changes[2].Action},
		"head's objects in order, then the removed ones")
	assert.Equal(t, "--- base/ml/configmap/b\n+++ head/ml/configmap/b\n@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  k: old\n+  k: new\n kind: ConfigMap\n metadata:\n   name: b\n",
		p.Changes[1].Unified)
	assert.Contains(t, p.Changes[0].Unified, "+++ head/ml/configmap/a\n@@ -0,0 +1,")
	assert.Contains(t, p.Changes[2].Unified, "--- base/ml/configmap/z\n+++ head/ml/configmap/z\n@@ -1,")
	assert.NotContains(t, p.Changes[0].Unified, "rev2", "the revision is left out of diffs")
}

func TestPlanClusterRedactsSecrets(t *testing.T) {
	const canary = "CANARY-7d1e"
	for name, tt := range map[string]struct{ base, head *render.Cluster }{
		"added":   {planCluster(), planCluster(planSecret(canary))},
		"changed": {planCluster(planSecret("old-value")), planCluster(planSecret(canary))},
		"removed": {planCluster(planSecret(canary)), planCluster()},
	} {
		t.Run(name, func(t *testing.T) {
			p := PlanCluster(tt.base, tt.head)
			require.Len(t, p.Changes, 1)
			assert.NotContains(t, p.Changes[0].Unified, canary)
			assert.NotContains(t, p.Changes[0].Unified, base64.StdEncoding.EncodeToString([]byte(canary)))
			assert.Contains(t, p.Changes[0].Unified, "<redacted")
		})
	}
}

func TestPlanClusterMassPrune(t *testing.T) {
	var base, head []*unstructured.Unstructured
	for i := range 30 {
		o := planConfigMap("cm-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "rev1", nil)
		base = append(base, o)
		if i < 10 {
			head = append(head, o)
		}
	}
	p := PlanCluster(planCluster(base...), planCluster(head...))
	assert.Equal(t, 20, p.Count(Pruned))
	assert.Contains(t, p.PruneRefusal, "it would prune 20 of the 30 objects of the inventory, more than half")
}
