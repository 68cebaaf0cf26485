package reconcile

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/inventory"
)

// TestAdoptHandMadeObject creates a ConfigMap by hand, then declares it:
// diff says the apply adopts it, the apply does (reported adopted, owned
// by the inventory, in it), and from then on it is managed: unchanged,
// configured when Git changes, pruned when Git drops it.
func TestAdoptHandMadeObject(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	ctx := context.Background()
	handMade := configMap(ns, "legacy", map[string]any{"k": "by hand"})
	_, err := createByHand(t, c, handMade)
	require.NoError(t, err)

	declared := configMap(ns, "legacy", map[string]any{"k": "from git"})
	cluster := testCluster("adopt", declared, configMap(ns, "other", nil))
	opts := Options{SourceID: ns}
	diffs, _, err := DiffCluster(ctx, c, cluster, opts)
	require.NoError(t, err)
	assert.Equal(t, Adopted, diffs[0].Action, diffs[0].Err)
	assert.True(t, diffs[0].Changed())
	assert.Contains(t, diffs[0].Unified, "+  k: from git\n")

	cs := applyOK(t, c, cluster, opts)
	assert.Equal(t, map[string]Action{"legacy": Adopted, "other": Created}, actionsByName(cs))
	assert.Equal(t, "1 created, 1 adopted", cs.Summary())
	live := get(t, c, declared)
	assert.Equal(t, InventoryID(ns, "adopt"), live.GetAnnotations()[inventory.OwningInventoryKey])
	data, _, _ := unstructured.NestedStringMap(live.Object, "data")
	assert.Equal(t, "from git", data["k"])
	assert.Contains(t, inventoryOf(t, c, ns, "adopt"), ns+"_legacy__ConfigMap")

	cs = applyOK(t, c, cluster, opts)
	assert.Equal(t, "2 unchanged", cs.Summary(), "managed from then on")
	cs = applyOK(t, c, testCluster("adopt", configMap(ns, "legacy", map[string]any{"k": "changed"}), configMap(ns, "other", nil)), opts)
	assert.Equal(t, Configured, actionsByName(cs)["legacy"])
	cs = applyOK(t, c, testCluster("adopt", configMap(ns, "other", nil)), opts)
	assert.Equal(t, Pruned, actionsByName(cs)["legacy"])
	assertGone(t, c, declared)
}

// TestAdoptDisabled leaves alone an object of no inventory annotated
// trellis.dev/adopt: disabled.
func TestAdoptDisabled(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	handMade := configMap(ns, "keep-out", map[string]any{"k": "by hand"})
	handMade.SetAnnotations(map[string]string{AnnotationAdopt: "disabled"})
	_, err := createByHand(t, c, handMade)
	require.NoError(t, err)

	cluster := testCluster("noadopt", configMap(ns, "keep-out", map[string]any{"k": "from git"}))
	cs := applyOK(t, c, cluster, Options{SourceID: ns})
	require.Len(t, cs.Changes, 1)
	assert.Equal(t, Skipped, cs.Changes[0].Action)
	assert.Equal(t, "exists, owned by no inventory, and is not adopted (trellis.dev/adopt: disabled)", cs.Changes[0].Reason)
	data, _, _ := unstructured.NestedStringMap(get(t, c, handMade).Object, "data")
	assert.Equal(t, "by hand", data["k"])
	assert.Empty(t, inventoryOf(t, c, ns, "noadopt"))
}

// TestApplyOwnedByAnotherInventory never touches an object that another
// inventory owns: it is a failure naming that inventory, in diff as in
// apply, and the failed apply prunes nothing.
func TestApplyOwnedByAnotherInventory(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	ctx := context.Background()
	cm := configMap(ns, "shared", map[string]any{"owner": "first"})
	applyOK(t, c, testCluster("first", cm), Options{SourceID: ns})
	applyOK(t, c, testCluster("second", configMap(ns, "mine", nil)), Options{SourceID: ns})

	other := testCluster("second", configMap(ns, "shared", map[string]any{"owner": "second"}))
	want := "owned by inventory " + InventoryID(ns, "first") + "; trellis never touches another inventory's objects"
	diffs, _, err := DiffCluster(ctx, c, other, Options{SourceID: ns})
	require.NoError(t, err)
	assert.Equal(t, Failed, diffs[0].Action)
	assert.Equal(t, want, diffs[0].Err)

	cs, err := Apply(ctx, c, other, Options{SourceID: ns})
	require.NoError(t, err)
	assert.True(t, cs.Failed())
	require.Len(t, cs.Changes, 1, "mine is not pruned: the apply failed")
	assert.Equal(t, "shared", cs.Changes[0].Object.Name)
	assert.Equal(t, Failed, cs.Changes[0].Action)
	assert.Equal(t, want, cs.Changes[0].Reason)
	data, _, _ := unstructured.NestedStringMap(get(t, c, cm).Object, "data")
	assert.Equal(t, "first", data["owner"])
	get(t, c, configMap(ns, "mine", nil))
	assert.NotContains(t, inventoryOf(t, c, ns, "second"), ns+"_shared__ConfigMap")
}

// createByHand creates obj as a person would, without trellis.
func createByHand(t testing.TB, c *Client, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	t.Helper()
	ri, _, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	require.NoError(t, err)
	return ri.Create(context.Background(), obj, metav1.CreateOptions{})
}
