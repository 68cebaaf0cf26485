package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/render"
)

// driftCase is an object, and a change made to it by hand.
type driftCase struct {
	name string
	obj  func(ns string) *unstructured.Unstructured
	edit func(live *unstructured.Unstructured)
	// drift says whether the edit is drift: a change to a field trellis
	// applies. Fields others add are not.
	drift bool
	// check, when set, checks the restored object.
	check func(t *testing.T, live *unstructured.Unstructured)
}

var driftCases = []driftCase{
	{
		name: "ConfigMap value changed",
		obj: func(ns string) *unstructured.Unstructured {
			return configMap(ns, "settings", map[string]any{"level": "info"})
		},
		edit: func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "debug", "data", "level")
		},
		drift: true,
		check: func(t *testing.T, o *unstructured.Unstructured) {
			v, _, _ := unstructured.NestedString(o.Object, "data", "level")
			assert.Equal(t, "info", v)
		},
	},
	{
		name: "label removed",
		obj: func(ns string) *unstructured.Unstructured {
			cm := configMap(ns, "labelled", nil)
			cm.SetLabels(map[string]string{"team": "vision"})
			return cm
		},
		edit:  func(o *unstructured.Unstructured) { o.SetLabels(nil) },
		drift: true,
		check: func(t *testing.T, o *unstructured.Unstructured) { assert.Equal(t, "vision", o.GetLabels()["team"]) },
	},
	{
		name: "label added by someone else",
		obj:  func(ns string) *unstructured.Unstructured { return configMap(ns, "extra", map[string]any{"k": "v"}) },
		edit: func(o *unstructured.Unstructured) { o.SetLabels(map[string]string{"added": "by-hand"}) },
	},
	{
		name:  "Deployment image changed",
		obj:   deployment,
		edit:  func(o *unstructured.Unstructured) { setImage(o, "nginx:evil") },
		drift: true,
		check: func(t *testing.T, o *unstructured.Unstructured) {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			assert.Equal(t, "nginx:1.27", containers[0].(map[string]any)["image"])
		},
	},
	{
		name: "WorkflowTemplate entrypoint changed",
		obj:  workflowTemplate,
		edit: func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "other", "spec", "entrypoint")
		},
		drift: true,
		check: func(t *testing.T, o *unstructured.Unstructured) {
			v, _, _ := unstructured.NestedString(o.Object, "spec", "entrypoint")
			assert.Equal(t, "main", v)
		},
	},
}

// TestDriftRestored changes applied objects by hand, as another field
// manager, and checks that the next apply finds exactly the drift,
// restores it and is then a no-op. It runs twice: with the schema-based
// check, and with the server-side dry-run fallback.
func TestDriftRestored(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		name := "schema"
		if fallback {
			name = "dry-run"
		}
		t.Run(name, func(t *testing.T) {
			ns := cp.Namespace(t)
			for _, tc := range driftCases {
				t.Run(tc.name, func(t *testing.T) { testDrift(t, ns, tc, fallback) })
			}
		})
	}
}

func testDrift(t *testing.T, ns string, tc driftCase, fallback bool) {
	c := newClient(t)
	obj := tc.obj(ns)
	if fallback {
		withoutSchema(c, obj.GroupVersionKind().GroupVersion())
	} else {
		tc, err := schemasOf(c).converter(c, obj.GroupVersionKind().GroupVersion())
		require.NoError(t, err)
		_, err = tc.ObjectToTyped(obj)
		require.NoError(t, err, "the schema types the object: no fallback")
	}
	cl := testCluster("drift-"+obj.GetName(), obj)
	opts := Options{SourceID: ns}
	applyOK(t, c, cl, opts)
	cs := applyOK(t, c, cl, opts)
	require.Equal(t, Unchanged, cs.Changes[0].Action, "no drift before the edit")

	live := get(t, c, obj)
	tc.edit(live)
	_, err := c.Dynamic.Resource(gvrOf(t, c, obj)).Namespace(ns).Update(context.Background(), live, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	cs = applyOK(t, c, cl, opts)
	if !tc.drift {
		assert.Equal(t, Unchanged, cs.Changes[0].Action, cs.Changes[0].String())
		return
	}
	assert.Equal(t, Configured, cs.Changes[0].Action)
	assert.Equal(t, ReasonDrift, cs.Changes[0].Reason)
	tc.check(t, get(t, c, obj))
	cs = applyOK(t, c, cl, opts)
	assert.Equal(t, Unchanged, cs.Changes[0].Action, "restored")
}

// withoutSchema makes c's schema of gv unavailable, so that drift falls
// back to a server-side dry run.
func withoutSchema(c *Client, gv schema.GroupVersion) {
	sc := schemasOf(c)
	e := &gvSchema{err: errNoSchema}
	e.once.Do(func() {})
	sc.mu.Lock()
	sc.byGV[gv] = e
	sc.mu.Unlock()
}

func gvrOf(t testing.TB, c *Client, obj *unstructured.Unstructured) schema.GroupVersionResource {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	require.NoError(t, err)
	return m.Resource
}

func deployment(ns string) *unstructured.Unstructured {
	labels := map[string]any{"app": "web"}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": ns},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "image": "nginx:1.27",
						"ports": []any{map[string]any{"containerPort": int64(80)}}},
					map[string]any{"name": "sidecar", "image": "busybox:1.36", "args": []any{"sleep", "infinity"}},
				}},
			},
		},
	}}
}

func setImage(o *unstructured.Unstructured, image string) {
	containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	containers[0].(map[string]any)["image"] = image
	_ = unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
}

func workflowTemplate(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
		"metadata": map[string]any{"name": "train", "namespace": ns},
		"spec": map[string]any{
			"entrypoint": "main",
			"templates": []any{map[string]any{
				"name":      "main",
				"container": map[string]any{"image": "python:3.12", "command": []any{"python", "-c", "print(1)"}},
			}},
		},
	}}
}

// TestConfigHashStable: the hash recorded on live objects is the one the
// deep-copying implementation gave (objects applied before stay
// unchanged), with the revision and the hash itself left out.
func TestConfigHashStable(t *testing.T) {
	reference := func(obj *unstructured.Unstructured) string {
		c := obj.DeepCopy()
		ann := c.GetAnnotations()
		delete(ann, render.AnnotationRevision)
		delete(ann, AnnotationConfigHash)
		c.SetAnnotations(ann)
		b, err := json.Marshal(c.Object)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:16])
	}
	base := func(md map[string]any) *unstructured.Unstructured {
		md["name"] = "x"
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": md, "data": map[string]any{"k": "v"}}}
	}
	for name, obj := range map[string]*unstructured.Unstructured{
		"no annotations":   base(map[string]any{}),
		"null annotations": base(map[string]any{"annotations": nil}),
		"only trellis's":   base(map[string]any{"annotations": map[string]any{render.AnnotationRevision: "abc", AnnotationConfigHash: "sha256:1"}}),
		"others too":       base(map[string]any{"annotations": map[string]any{render.AnnotationRevision: "abc", "team": "ml"}, "labels": map[string]any{"a": "b"}}),
	} {
		before := obj.DeepCopy()
		got, err := configHash(obj)
		require.NoError(t, err)
		assert.Equal(t, reference(obj), got, name)
		assert.Equal(t, before, obj, "%s: the object is unchanged", name)
	}
}
