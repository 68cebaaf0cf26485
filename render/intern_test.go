package render

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func same(a, b any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }

func TestInternerSharesEqualParts(t *testing.T) {
	obj := func(name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"a": "b"}},
			"spec":     spec,
		}}
	}
	spec := func(lr any) map[string]any {
		return map[string]any{
			"params": []any{map[string]any{"name": "lr", "value": lr}, map[string]any{"name": "epochs", "value": int64(3)}},
			"pool":   map[string]any{"gpu": true},
			"empty":  map[string]any{},
			"none":   []any{},
		}
	}
	a, b, c, d := obj("a", spec("0.1")), obj("b", spec("0.1")), obj("c", spec("0.2")), obj("d", spec(float64(3)))
	want := []map[string]any{a.DeepCopy().Object, b.DeepCopy().Object, c.DeepCopy().Object, d.DeepCopy().Object}
	in := newInterner()
	in.objects([]*unstructured.Unstructured{a, b})
	in.objects([]*unstructured.Unstructured{c, d}) // a later call of the same render
	for i, o := range []*unstructured.Unstructured{a, b, c, d} {
		assert.Equal(t, want[i], o.Object, "interning changes no value")
	}
	spec0 := func(o *unstructured.Unstructured) map[string]any { return o.Object["spec"].(map[string]any) }
	assert.True(t, same(spec0(a), spec0(b)), "equal specs are one map")
	assert.False(t, same(spec0(a), spec0(c)), "different specs are not")
	assert.True(t, same(spec0(a)["pool"], spec0(c)["pool"]), "but their equal parts are")
	assert.True(t, same(spec0(a)["params"].([]any)[1], spec0(c)["params"].([]any)[1]))
	assert.False(t, same(spec0(a)["params"].([]any)[1], spec0(d)["params"].([]any)[0]), "int64 3 and float64 3 differ")
	assert.False(t, same(a.Object["metadata"], b.Object["metadata"]), "metadata is never shared: stamp changes it")
	assert.False(t, same(a.Object["metadata"].(map[string]any)["labels"], b.Object["metadata"].(map[string]any)["labels"]))

	// A value of a type it does not know is left, and so are the maps
	// and lists that hold it.
	odd := func() *unstructured.Unstructured {
		return obj("e", map[string]any{"x": map[string]any{"odd": []string{"a"}}, "y": map[string]any{"gpu": true}})
	}
	e, f := odd(), odd()
	in.objects([]*unstructured.Unstructured{e, f})
	assert.False(t, same(spec0(e), spec0(f)))
	assert.False(t, same(spec0(e)["x"], spec0(f)["x"]))
	assert.True(t, same(spec0(e)["y"], spec0(a)["pool"]), "its siblings are shared still")

	var none *interner
	none.objects([]*unstructured.Unstructured{obj("g", spec("0.1"))}) // a nil interner does nothing
}

// TestRenderSharesEqualParts: the Pipelines of a render share their equal
// parts (the steps' templates), and not their own (parameters, metadata).
func TestRenderSharesEqualParts(t *testing.T) {
	dir := t.TempDir()
	writeScaleRepo(t, dir, 20, "yaml")
	for _, cache := range []*Cache{nil, NewCache()} {
		res, err := Dir(t.Context(), dir, Options{Revision: scaleRevision, Cache: cache})
		require.NoError(t, err, Problems(err, dir, nil))
		var templates []*unstructured.Unstructured
		for _, o := range res.Clusters[0].Objects {
			if o.GetKind() == "WorkflowTemplate" {
				templates = append(templates, o)
			}
		}
		require.Len(t, templates, 20)
		steps := func(o *unstructured.Unstructured) any { return o.Object["spec"].(map[string]any)["templates"] }
		assert.True(t, same(steps(templates[0]), steps(templates[1])), "the same steps are one list")
		assert.False(t, same(templates[0].Object["spec"], templates[1].Object["spec"]), "parameters differ")
	}
}
