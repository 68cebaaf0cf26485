package reconcile

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/inventory"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

func TestCheckPrune(t *testing.T) {
	tests := []struct {
		name string
		plan PrunePlan
		ok   bool
	}{
		{"nothing to prune", PrunePlan{Inventory: 5, Prune: 0, Rendered: 5}, true},
		{"nothing to prune, empty render", PrunePlan{Inventory: 0, Prune: 0, Rendered: 0}, true},
		{"one of many", PrunePlan{Inventory: 20, Prune: 1, Rendered: 19}, true},
		{"every object", PrunePlan{Inventory: 3, Prune: 3, Rendered: 1}, false},
		{"every object, allowed", PrunePlan{Inventory: 3, Prune: 3, Rendered: 1, Allow: true}, true},
		{"the only object", PrunePlan{Inventory: 1, Prune: 1, Rendered: 2}, false},
		{"empty render", PrunePlan{Inventory: 4, Prune: 2, Rendered: 0}, false},
		{"empty render, allowed", PrunePlan{Inventory: 4, Prune: 4, Rendered: 0, Allow: true}, true},
		{"more than half, 10 objects", PrunePlan{Inventory: 12, Prune: 10, Rendered: 2}, true},
		{"more than half, 11 objects", PrunePlan{Inventory: 12, Prune: 11, Rendered: 1}, false},
		{"more than half, 11 objects, allowed", PrunePlan{Inventory: 12, Prune: 11, Rendered: 1, Allow: true}, true},
		{"exactly half, many", PrunePlan{Inventory: 40, Prune: 20, Rendered: 20}, true},
		{"just over half, many", PrunePlan{Inventory: 40, Prune: 21, Rendered: 19}, false},
		{"more than half, few", PrunePlan{Inventory: 6, Prune: 5, Rendered: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPrune(tt.plan)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrPruneRefused)
			}
		})
	}
}

func TestPruneDecision(t *testing.T) {
	inv := newStore(nil, "src", "c").info
	mine := inventory.OwningInventoryKey + "=" + inv.ID()
	tests := []struct {
		name   string
		labels map[string]string
		ann    []string // key=value
		want   pruneVerdict
		reason string
	}{
		{name: "ours", ann: []string{mine}, want: pruneDelete},
		{name: "another inventory's", ann: []string{inventory.OwningInventoryKey + "=other"}, want: pruneSkip, reason: "owned by inventory other"},
		{name: "no inventory's", want: pruneSkip, reason: "exists and belongs to no inventory (config.k8s.io/owning-inventory is not set)"},
		{name: "prune disabled", ann: []string{mine, render.AnnotationPrune + "=disabled"}, want: pruneSkip, reason: ReasonPruneDisabled},
		{name: "prune enabled", ann: []string{mine, render.AnnotationPrune + "=enabled"}, want: pruneDelete},
		{name: "cli-utils on-remove keep", ann: []string{mine, "cli-utils.sigs.k8s.io/on-remove=keep"}, want: pruneSkip,
			reason: "prune disabled (cli-utils.sigs.k8s.io/on-remove: keep)"},
		{name: "a run", labels: map[string]string{render.LabelRunOf: "pipeline-train"}, ann: []string{mine}, want: pruneKeep},
		{name: "another inventory's run", labels: map[string]string{render.LabelRunOf: "x"}, ann: []string{inventory.OwningInventoryKey + "=other"},
			want: pruneSkip, reason: "owned by inventory other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := configMap("ns", "x", nil)
			obj.SetLabels(tt.labels)
			obj.SetAnnotations(annotations(tt.ann))
			got, reason := pruneDecision(inv, obj)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.reason, reason)
		})
	}
}

func TestOwnership(t *testing.T) {
	inv := newStore(nil, "src", "c").info
	tests := []struct {
		name   string
		ann    []string
		want   ownershipVerdict
		reason string
	}{
		{"ours", []string{inventory.OwningInventoryKey + "=" + inv.ID()}, ownedByThis, ""},
		{"another inventory's", []string{inventory.OwningInventoryKey + "=src_other"}, ownedByOther,
			"owned by inventory src_other; trellis never touches another inventory's objects"},
		{"another's, even annotated to adopt", []string{inventory.OwningInventoryKey + "=src_other", AnnotationAdopt + "=enabled"}, ownedByOther,
			"owned by inventory src_other; trellis never touches another inventory's objects"},
		{"no inventory's: adopted", nil, ownedByNone, ""},
		{"no inventory's, adoption disabled", []string{AnnotationAdopt + "=disabled"}, adoptDisabled,
			"exists, owned by no inventory, and is not adopted (trellis.dev/adopt: disabled)"},
		{"any other value adopts", []string{AnnotationAdopt + "=no"}, ownedByNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := configMap("ns", "x", nil)
			obj.SetAnnotations(annotations(tt.ann))
			got, reason := ownership(inv, obj)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.reason, reason)
		})
	}
}

func TestImpersonatedUser(t *testing.T) {
	spec := schema.ClusterSpec{Namespaces: map[string]schema.Namespace{
		"team":  {ServiceAccount: "deployer"},
		"plain": {},
	}}
	tests := []struct {
		name, ns, decl, want string
	}{
		{"a team's object", "team", "Pipeline/train", "system:serviceaccount:team:deployer"},
		{"a plain manifest in the team's namespace", "team", "", "system:serviceaccount:team:deployer"},
		{"the Cluster declaration's object", "team", "Cluster/prod", ""},
		{"a namespace without service account", "plain", "Pipeline/train", ""},
		{"an undeclared namespace", "elsewhere", "", ""},
		{"a cluster-scoped object", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := configMap(tt.ns, "x", nil)
			if tt.decl != "" {
				obj.SetAnnotations(map[string]string{render.AnnotationDecl: tt.decl})
			}
			assert.Equal(t, tt.want, impersonatedUser(spec, obj))
		})
	}
}

func TestInventoryID(t *testing.T) {
	tests := []struct{ source, cluster, want string }{
		{"local", "staging", "local_staging"},
		{"github.com/acme/ml-config", "prod", "github.com_acme_ml-config_prod"},
		{"https://git.example.com/x.git", "prod", "https-__git.example.com_x.git_prod"},
		{"a-very-long-source-id-that-goes-on-and-on-and-on-and-on-forever", "cluster", "a-very-long-source-id-that-goes-on-and-on-and-on-and-o-912b8501"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := InventoryID(tt.source, tt.cluster)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), 63)
		})
	}
}

func TestPhaseOf(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "things.example.com"}}}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}}}
	quota := configMap("x", "q", nil)
	quota.SetKind("ResourceQuota")
	wf := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
		"metadata": map[string]any{"name": "w", "namespace": "x"}}}
	fromCluster := wf.DeepCopy()
	fromCluster.SetAnnotations(map[string]string{render.AnnotationDecl: "Cluster/prod"})
	assert.Equal(t, phaseCRDs, phaseOf(crd))
	assert.Equal(t, phaseClusterScoped, phaseOf(ns))
	assert.Equal(t, phaseSetup, phaseOf(quota))
	assert.Equal(t, phaseTenancy, phaseOf(fromCluster))
	assert.Equal(t, phaseWorkloads, phaseOf(wf))
	run := wf.DeepCopy()
	run.SetKind("Workflow")
	run.SetLabels(map[string]string{render.LabelRunOf: "pipeline-w"})
	assert.Equal(t, phaseRuns, phaseOf(run))
}

func annotations(kvs []string) map[string]string {
	if len(kvs) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}
