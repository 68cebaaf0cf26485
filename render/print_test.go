package render

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// ObjectYAML prints what kubectl's sigs.k8s.io/yaml prints, byte for
// byte: every object the examples and the upstream corpus render, and
// values chosen for yaml.v2's number, string and key rules.
func TestObjectYAMLAsKubectl(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, root := range []string{"../examples", "../test/examples/testdata/corpus", "../test/examples/testdata/upstream"} {
		res, err := Dir(t.Context(), root, Options{Revision: "r"})
		require.NoError(t, err, "%v", Problems(err, root, nil))
		for _, c := range res.Clusters {
			objs = append(objs, c.Objects...)
		}
	}
	require.Greater(t, len(objs), 100)
	objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
		"ints":    []any{int64(0), int64(-7), int64(math.MaxInt64), int64(1) << 53, 3},
		"floats":  []any{0.1, 5.0, -2.5, 1e21, 1e-7, 123456789.125, math.SmallestNonzeroFloat64},
		"strings": []any{"", "yes", "no", "on", "true", "1.0", "0x1f", "null", "~", "-", "a: b", "# c", "multi\nline\n", "trailing ", " leading", "ünïcödé", "tab\there", "{x}", "[y]", "*z", "&a", "!t", "%p", "@q", "`r`", strings.Repeat("long words ", 20)},
		"mixed":   map[string]any{"a10": true, "a2": false, "B": nil, "": "empty key", "1": "one", "yes": "key", "k: v": 1.5, "empty": map[string]any{}, "none": []any{}},
	}})
	for _, o := range objs {
		want, err := sigsyaml.Marshal(o.Object)
		require.NoError(t, err)
		got, err := ObjectYAML(o)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), ObjectID(o))
	}
	var stream bytes.Buffer
	require.NoError(t, WriteYAML(&stream, objs))
	var want bytes.Buffer
	for _, o := range objs {
		b, _ := sigsyaml.Marshal(o.Object)
		want.WriteString("---\n")
		want.Write(b)
	}
	require.Equal(t, want.String(), stream.String(), "the stream, in order, in batches of %d on several workers", yamlBatch)
}
