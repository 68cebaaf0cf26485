package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/render"
)

// TestPruneDeletedDeclaration deletes a declaration from the config repo:
// the next apply prunes exactly its objects. Deleting a prune-disabled
// manifest leaves its object in the cluster.
func TestPruneDeletedDeclaration(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	repo := repoFrom(t, "repo", base)
	opts := Options{SourceID: base}
	first := renderRepo(t, repo, "r1")
	cs := applyOK(t, c, first, opts)
	require.Equal(t, len(first.Objects), cs.Count(Created), cs.Summary())

	require.NoError(t, os.Remove(filepath.Join(repo, "endpoint.yaml")))
	cs = applyOK(t, c, renderRepo(t, repo, "r2"), opts)
	assert.Equal(t, []string{base + "-b/inferenceservice.serving.kserve.io/iris pruned"}, changesExcept(cs, Unchanged))
	assert.Equal(t, len(first.Objects)-1, cs.Count(Unchanged))
	assertGone(t, c, objectNamed(first, "InferenceService", "iris"))

	require.NoError(t, os.Remove(filepath.Join(repo, "clusters", "test", "keep.yaml")))
	cs = applyOK(t, c, renderRepo(t, repo, "r3"), opts)
	assert.Equal(t, []string{base + "-b/configmap/keep skipped: prune disabled"}, changesExcept(cs, Unchanged))
	get(t, c, objectNamed(first, "ConfigMap", "keep")) // survives
	assert.NotContains(t, inventoryOf(t, c, base, "test"), base+"-b_keep__ConfigMap", "left out of the inventory")

	cs = applyOK(t, c, renderRepo(t, repo, "r4"), opts)
	assert.Empty(t, changesExcept(cs, Unchanged), "reported once")
}

// TestPruneEmptyRenderRefused refuses to prune everything when the render
// is empty, and deletes nothing.
func TestPruneEmptyRenderRefused(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	objs := []*unstructured.Unstructured{configMap(ns, "a", nil), configMap(ns, "b", nil), configMap(ns, "c", nil)}
	applyOK(t, c, testCluster("empty", objs...), Options{SourceID: ns})
	before := inventoryOf(t, c, ns, "empty")

	cs, err := Apply(context.Background(), c, testCluster("empty"), Options{SourceID: ns})
	require.ErrorIs(t, err, ErrPruneRefused)
	assert.Contains(t, cs.Error, "the render is empty")
	assert.Empty(t, cs.Changes)
	for _, o := range objs {
		get(t, c, o)
	}
	assert.ElementsMatch(t, before, inventoryOf(t, c, ns, "empty"))
}

// TestPruneMassRefusedUnlessAllowed refuses to prune more than half of an
// inventory of more than 10 objects, unless allowed.
func TestPruneMassRefusedUnlessAllowed(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	var objs []*unstructured.Unstructured
	for i := range 12 {
		objs = append(objs, configMap(ns, fmt.Sprintf("cm-%02d", i), nil))
	}
	applyOK(t, c, testCluster("mass", objs...), Options{SourceID: ns})

	cs, err := Apply(context.Background(), c, testCluster("mass", objs[0]), Options{SourceID: ns})
	require.ErrorIs(t, err, ErrPruneRefused)
	assert.Contains(t, cs.Error, "11 of the 12 objects")
	assert.Equal(t, 1, cs.Count(Unchanged))
	get(t, c, objs[11])

	cs = applyOK(t, c, testCluster("mass", objs[0]), Options{SourceID: ns, AllowMassPrune: true})
	assert.Equal(t, 11, cs.Count(Pruned))
	assertGone(t, c, objs[11])
	assert.Len(t, inventoryOf(t, c, ns, "mass"), 1)
}

// TestPruneOrder deletes the objects of a namespace before the namespace.
func TestPruneOrder(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	gone := ns + "-gone"
	keep := configMap(ns, "keep", nil)
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": gone}}}
	applyOK(t, c, testCluster("order", keep, nsObj, configMap(gone, "a", nil), configMap(gone, "b", nil)), Options{SourceID: ns})

	cs := applyOK(t, c, testCluster("order", keep), Options{SourceID: ns})
	assert.Equal(t, []string{
		gone + "/configmap/a pruned",
		gone + "/configmap/b pruned",
		"namespace/" + gone + " pruned",
	}, changesExcept(cs, Unchanged))
}

// TestFailedApplyPrunesNothing: an object that fails the CRD's validation
// fails the apply with its identity and the apiserver's message; the
// objects applied before it are in the inventory; nothing is pruned.
func TestFailedApplyPrunesNothing(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	old := configMap(ns, "old", nil)
	applyOK(t, c, testCluster("failing", configMap(ns, "a", nil), old), Options{SourceID: ns})

	broken := readObject(t, "invalid-inferenceservice.yaml", ns)
	cs, err := Apply(context.Background(), c, testCluster("failing", configMap(ns, "a", nil), configMap(ns, "b", nil), broken), Options{SourceID: ns})
	require.NoError(t, err, "a failed object is not a failed apply")
	require.True(t, cs.Failed())
	assert.Equal(t, map[string]Action{"a": Unchanged, "b": Created, "iris-broken": Failed}, actionsByName(cs))
	failure := cs.Changes[len(cs.Changes)-1]
	assert.Equal(t, ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: ns, Name: "iris-broken"}, failure.Object)
	assert.Contains(t, failure.Reason, "spec.predictor.minReplicas")
	assert.Contains(t, failure.String(), ns+"/inferenceservice.serving.kserve.io/iris-broken failed: ")

	get(t, c, old) // not pruned
	assert.ElementsMatch(t, []string{ns + "_a__ConfigMap", ns + "_b__ConfigMap", ns + "_old__ConfigMap"}, inventoryOf(t, c, ns, "failing"))
}

// TestUnknownKindFails fails an object whose kind the cluster does not
// serve, with a clear reason, and applies the others.
func TestUnknownKindFails(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	thing := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Thing",
		"metadata": map[string]any{"name": "t", "namespace": ns}}}
	cs, err := Apply(context.Background(), c, testCluster("unknown", configMap(ns, "a", nil), thing), Options{SourceID: ns})
	require.NoError(t, err)
	assert.Equal(t, map[string]Action{"a": Created, "t": Failed}, actionsByName(cs))
	assert.Contains(t, cs.Changes[1].Reason, "kind Thing example.com/v1 is not served by the cluster")
}

// changesExcept returns the changes whose action is not a, as strings.
func changesExcept(cs *ChangeSet, a Action) []string {
	out := []string{}
	for _, ch := range cs.Changes {
		if ch.Action != a {
			out = append(out, ch.String())
		}
	}
	return out
}

// objectNamed returns the object of cl with that kind and name.
func objectNamed(cl render.Cluster, kind, name string) *unstructured.Unstructured {
	for _, o := range cl.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	panic(kind + "/" + name + " is not rendered")
}

func assertGone(t testing.TB, c *Client, obj *unstructured.Unstructured) {
	t.Helper()
	_, err := resource(t, c, obj).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%s/%s should be gone: %v", obj.GetKind(), obj.GetName(), err)
}

// readObject reads a YAML object from testdata, in ns.
func readObject(t testing.TB, file, ns string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(b, &obj.Object))
	obj.SetNamespace(ns)
	return obj
}
