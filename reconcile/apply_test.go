package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

// TestApplyExamples applies both clusters of examples/ (their namespaces
// renamed after the test) to the control plane: every object is created,
// so every one passed its CRD's validation; a second apply, of another
// revision, reports every object unchanged and writes none, only the
// inventory's status, which names the new revision; the same apply again
// writes nothing at all.
func TestApplyExamples(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	res, err := render.Dir(t.Context(), "../examples", render.Options{Revision: "r1"})
	require.NoError(t, err)
	require.Len(t, res.Clusters, 2)
	for _, cl := range res.Clusters {
		cl := renameNamespaces(cl, base+"-"+cl.Name)
		// An endpoint serving a pipeline's output waits for the
		// pipeline's first successful run (see TestPinModel).
		waiting := 0
		applied := cl
		applied.Objects = nil
		for _, o := range cl.Objects {
			if _, ok := o.GetAnnotations()[render.AnnotationModelFrom]; ok {
				waiting++
				continue
			}
			applied.Objects = append(applied.Objects, o)
		}
		first := applyOK(t, c, cl, Options{SourceID: base, Revision: "r1"})
		assert.Equal(t, len(applied.Objects), first.Count(Created), "%s: %s", cl.Name, first.Summary())
		assert.Equal(t, waiting, first.Count(Skipped), "%s: %s", cl.Name, first.Summary())
		before := resourceVersions(t, c, applied)
		require.Len(t, before, len(applied.Objects), "every object exists")
		inv := newStore(c, base, cl.Name).template

		second := applyOK(t, c, cl, Options{SourceID: base, Revision: "r2"})
		assert.Equal(t, len(applied.Objects), second.Count(Unchanged), "%s: %s", cl.Name, second.Summary())
		after := resourceVersions(t, c, applied)
		assert.Equal(t, before, after, "a no-op apply writes no object")
		assert.ElementsMatch(t, idsOf(applied.Objects), inventoryOf(t, c, base, cl.Name))
		invs, err := Inventories(context.Background(), c, cl.Name, base)
		require.NoError(t, err)
		require.Len(t, invs, 1)
		assert.Equal(t, "r2", invs[0].Last.Revision, "the inventory records the revision applied")

		rv := get(t, c, inv).GetResourceVersion()
		third := applyOK(t, c, cl, Options{SourceID: base, Revision: "r2"})
		assert.Equal(t, len(applied.Objects), third.Count(Unchanged), "%s: %s", cl.Name, third.Summary())
		assert.Equal(t, rv, get(t, c, inv).GetResourceVersion(), "the same no-op again writes nothing, not even the inventory")
	}
}

// TestApplyReportsInOrder checks that Progress sees every change, in apply
// order, and that objects carry the inventory, revision and hash.
func TestApplyReportsInOrder(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	var objs []*unstructured.Unstructured
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		objs = append(objs, configMap(ns, name, map[string]any{"k": name}))
	}
	var seen []string
	cs := applyOK(t, c, testCluster("order", objs...), Options{SourceID: ns, Revision: "r1", Concurrency: 3,
		Progress: func(ch Change) { seen = append(seen, ch.Object.Name) }})
	assert.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, seen)
	assert.Equal(t, 10, cs.Count(Created))
	live := get(t, c, objs[0])
	ann := live.GetAnnotations()
	assert.Equal(t, "r1", ann[render.AnnotationRevision])
	assert.Equal(t, InventoryID(ns, "order"), ann["config.k8s.io/owning-inventory"])
	assert.Equal(t, cs.Changes[0].Hash, ann[AnnotationConfigHash])
	assert.True(t, strings.HasPrefix(cs.Changes[0].Hash, "sha256:"))
}

// TestApplyChangedObject re-applies an object whose rendering changed, and
// keeps the revision of an unchanged one.
func TestApplyChangedObject(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	a, b := configMap(ns, "a", map[string]any{"k": "1"}), configMap(ns, "b", map[string]any{"k": "1"})
	applyOK(t, c, testCluster("changed", a, b), Options{SourceID: ns, Revision: "r1"})
	a2 := configMap(ns, "a", map[string]any{"k": "2"})
	cs := applyOK(t, c, testCluster("changed", a2, b), Options{SourceID: ns, Revision: "r2"})
	assert.Equal(t, map[string]Action{"a": Configured, "b": Unchanged}, actionsByName(cs))
	assert.Equal(t, "r2", get(t, c, a).GetAnnotations()[render.AnnotationRevision])
	assert.Equal(t, "r1", get(t, c, b).GetAnnotations()[render.AnnotationRevision], "the revision that last changed it")
	data, _, _ := unstructured.NestedStringMap(get(t, c, a).Object, "data")
	assert.Equal(t, map[string]string{"k": "2"}, data)
}

// TestApplyDryRun persists nothing, not even the inventory.
func TestApplyDryRun(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	cm := configMap(ns, "a", map[string]any{"k": "1"})
	cs := applyOK(t, c, testCluster("dry", cm), Options{SourceID: ns, DryRun: true})
	assert.True(t, cs.DryRun)
	assert.Equal(t, 1, cs.Count(Created))
	_, err := resource(t, c, cm).Get(context.Background(), "a", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing persisted: %v", err)
	assert.Empty(t, inventoryOf(t, c, ns, "dry"))
}

// TestApplyUnreachableCluster fails quickly with an error.
func TestApplyUnreachableCluster(t *testing.T) {
	cfg := cp.RESTConfig()
	cfg.Host = "https://127.0.0.1:1" // nothing listens there
	c, err := NewClient(cfg)
	require.NoError(t, err)
	cs, err := Apply(context.Background(), c, testCluster("gone", configMap("x", "a", nil)), Options{})
	require.Error(t, err)
	assert.Contains(t, cs.Error, "cluster gone")
	assert.True(t, cs.Failed())
}

// --- helpers shared by the tests of this package ---

func newClient(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(cp.RESTConfig())
	require.NoError(t, err)
	return c
}

func testCluster(name string, objs ...*unstructured.Unstructured) render.Cluster {
	return render.Cluster{Name: name, Objects: objs}
}

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns},
	}}
	if data != nil {
		cm.Object["data"] = data
	}
	return cm
}

// applyOK applies and requires that nothing failed.
func applyOK(t testing.TB, c *Client, cl render.Cluster, opts Options) *ChangeSet {
	t.Helper()
	cs, err := Apply(context.Background(), c, cl, opts)
	require.NoError(t, err)
	for _, ch := range cs.Changes {
		require.NotEqual(t, Failed, ch.Action, ch.String())
	}
	return cs
}

func actionsByName(cs *ChangeSet) map[string]Action {
	out := map[string]Action{}
	for _, ch := range cs.Changes {
		out[ch.Object.Name] = ch.Action
	}
	return out
}

func resource(t testing.TB, c *Client, obj *unstructured.Unstructured) interface {
	Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
} {
	t.Helper()
	ri, _, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	require.NoError(t, err)
	return ri
}

func get(t testing.TB, c *Client, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	live, err := resource(t, c, obj).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	require.NoError(t, err)
	return live
}

// resourceVersions returns the resourceVersion of every object of cl.
func resourceVersions(t testing.TB, c *Client, cl render.Cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range cl.Objects {
		out[render.ObjectID(o)] = get(t, c, o).GetResourceVersion()
	}
	return out
}

// inventoryOf returns the entries of the inventory of (source, cluster).
func inventoryOf(t testing.TB, c *Client, source, cluster string) []string {
	t.Helper()
	objs, err := newStore(c, source, cluster).load(context.Background())
	require.NoError(t, err)
	out := []string{}
	for _, id := range objs {
		out = append(out, id.String())
	}
	return out
}

func idsOf(objs []*unstructured.Unstructured) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, object.UnstructuredToObjMetadata(o).String())
	}
	return out
}

// renameNamespaces returns cl with every namespace n of its objects and
// of its Cluster declaration renamed prefix-n, so that tests sharing one
// control plane do not share namespaces.
func renameNamespaces(cl render.Cluster, prefix string) render.Cluster {
	rename := map[string]string{}
	for _, o := range cl.Objects {
		if o.GetKind() == "Namespace" {
			rename[o.GetName()] = prefix + "-" + o.GetName()
		}
	}
	spec := cl.Spec
	spec.Namespaces = map[string]schema.Namespace{}
	for n, v := range cl.Spec.Namespaces {
		spec.Namespaces[rename[n]] = v
	}
	out := render.Cluster{Name: cl.Name, Spec: spec}
	for _, o := range cl.Objects {
		o = o.DeepCopy()
		renameIn(o, rename)
		out.Objects = append(out.Objects, o)
	}
	return out
}

func renameIn(o *unstructured.Unstructured, rename map[string]string) {
	if o.GetKind() == "Namespace" && rename[o.GetName()] != "" {
		o.SetName(rename[o.GetName()])
	}
	if n := rename[o.GetNamespace()]; n != "" {
		o.SetNamespace(n)
	}
	subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
	for _, s := range subjects {
		m := s.(map[string]any)
		if n, _ := m["namespace"].(string); rename[n] != "" {
			m["namespace"] = rename[n]
		}
	}
	if len(subjects) > 0 {
		_ = unstructured.SetNestedSlice(o.Object, subjects, "subjects")
	}
}

// repoFrom copies the config repo testdata/<name> into a temporary
// directory, with __NS__ replaced by ns, and returns its path.
func repoFrom(t testing.TB, name, ns string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", name)
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(strings.ReplaceAll(string(b), "__NS__", ns)), 0o644)
	})
	require.NoError(t, err)
	return dst
}

// renderRepo renders the only cluster of the repo at dir.
func renderRepo(t testing.TB, dir, revision string) render.Cluster {
	t.Helper()
	res, err := render.Dir(t.Context(), dir, render.Options{Revision: revision})
	require.NoError(t, err)
	require.Len(t, res.Clusters, 1)
	return res.Clusters[0]
}

// TestImpersonation applies a team's objects as the service account its
// namespace declares: the account may write a ConfigMap in its namespace,
// not its own quota (admin may not), nor anything in another namespace.
// The Cluster declaration's own objects, the quota among them, are written
// by the admin identity first.
func TestImpersonation(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	team := base + "-team"
	spec := schema.ClusterSpec{Namespaces: map[string]schema.Namespace{team: {ServiceAccount: "deployer"}}}
	fromCluster := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		o.SetAnnotations(map[string]string{render.AnnotationDecl: "Cluster/imp"})
		return o
	}
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": team}}}
	sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "deployer", "namespace": team}}}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": "trellis-applier", "namespace": team},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "deployer", "namespace": team}},
	}}
	quota := func(name string) *unstructured.Unstructured {
		q := configMap(team, name, nil)
		q.SetKind("ResourceQuota")
		q.Object["spec"] = map[string]any{"hard": map[string]any{"pods": "10"}}
		return q
	}
	teamConfig := configMap(team, "app-config", map[string]any{"k": "v"})
	teamConfig.SetAnnotations(map[string]string{render.AnnotationDecl: "Pipeline/train"})
	cl := render.Cluster{Name: "imp", Spec: spec, Objects: []*unstructured.Unstructured{
		fromCluster(nsObj), fromCluster(sa), fromCluster(binding), fromCluster(quota("trellis-quota")),
		teamConfig, quota("more-pods"),
	}}
	cs, err := Apply(context.Background(), c, cl, Options{SourceID: base})
	require.NoError(t, err)
	assert.Equal(t, map[string]Action{
		team: Created, "deployer": Created, "trellis-applier": Created, "trellis-quota": Created,
		"app-config": Created, "more-pods": Failed,
	}, actionsByName(cs))
	assert.Contains(t, cs.Changes[len(cs.Changes)-1].Reason, `resourcequotas "more-pods" is forbidden: User "system:serviceaccount:`+team+`:deployer" cannot patch resource "resourcequotas"`)

	// The account's identity is confined to its namespace.
	dyn, err := newIdentities(c).dynamicFor(impersonatedUser(spec, teamConfig))
	require.NoError(t, err)
	elsewhere := configMap(base, "intruder", nil)
	_, err = applyJSON(context.Background(), dyn.Resource(configMapGVR).Namespace(base), elsewhere, false)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
}

// TestApplyCRDThenItsObjects applies a CRD and an object of its kind in
// one apply: the CRD goes first and is established before the object is
// applied. Pruning both deletes the object before its CRD.
func TestApplyCRDThenItsObjects(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	group := ns + ".example.com"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{"spec": map[string]any{
						"type": "object", "properties": map[string]any{"size": map[string]any{"type": "integer"}},
					}},
				}},
			}},
		},
	}}
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": ns},
		"spec":     map[string]any{"size": int64(3)},
	}}
	keep := configMap(ns, "keep", nil)
	cs := applyOK(t, c, testCluster("crd", widget, crd, keep), Options{SourceID: ns})
	assert.Equal(t, []string{
		"customresourcedefinition.apiextensions.k8s.io/widgets." + group + " created",
		ns + "/configmap/keep created",
		ns + "/widget." + group + "/w created",
	}, changesExcept(cs, ""))
	cs = applyOK(t, c, testCluster("crd", widget, crd, keep), Options{SourceID: ns})
	assert.Equal(t, 3, cs.Count(Unchanged), cs.Summary())

	cs = applyOK(t, c, testCluster("crd", keep), Options{SourceID: ns})
	assert.Equal(t, []string{
		ns + "/widget." + group + "/w pruned",
		"customresourcedefinition.apiextensions.k8s.io/widgets." + group + " pruned",
	}, changesExcept(cs, Unchanged))
}
