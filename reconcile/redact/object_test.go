package redact

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// redactCanary is a secret value that must never appear in any output.
const redactCanary = "CANARY-9f3b1"

// redactSecret returns a Secret with the canary in data, stringData and
// kubectl's last-applied annotation.
func redactSecret(extra map[string]string) *unstructured.Unstructured {
	enc := base64.StdEncoding.EncodeToString([]byte(redactCanary))
	data := map[string]any{"password": enc, "user": base64.StdEncoding.EncodeToString([]byte("admin"))}
	for k, v := range extra {
		data[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata": map[string]any{
			"name": "db", "namespace": "ml",
			"annotations": map[string]any{
				lastAppliedAnnotation: `{"stringData":{"token":"` + redactCanary + `"}}`,
				"team":                "nlp",
			},
		},
		"data":       data,
		"stringData": map[string]any{"token": redactCanary},
	}}
	return obj
}

// redactAssertNoCanary fails when the canary, plain or base64, is in obj.
func redactAssertNoCanary(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	if obj == nil {
		return
	}
	b, err := yaml.Marshal(obj.Object)
	require.NoError(t, err)
	assert.NotContains(t, string(b), redactCanary)
	assert.NotContains(t, string(b), base64.StdEncoding.EncodeToString([]byte(redactCanary)))
}

func TestSecret(t *testing.T) {
	in := redactSecret(nil)
	out := Secret(in)
	redactAssertNoCanary(t, out)
	assert.Equal(t, map[string]any{"password": Marker, "user": Marker}, out.Object["data"])
	assert.Equal(t, map[string]any{"token": Marker}, out.Object["stringData"])
	assert.Equal(t, map[string]string{"team": "nlp"}, out.GetAnnotations(), "last-applied is dropped, others kept")
	assert.Contains(t, in.Object["stringData"], "token", "the input is not modified")
	assert.Equal(t, redactCanary, in.Object["stringData"].(map[string]any)["token"])
}

func TestSecretOtherKinds(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"},
		"data": map[string]any{"k": "visible"},
	}}
	assert.Equal(t, cm.Object, Secret(cm).Object)
	// A kind named Secret in another group is not a core Secret.
	other := cm.DeepCopy()
	other.SetAPIVersion("example.com/v1")
	other.SetKind("Secret")
	assert.Equal(t, other.Object, Secret(other).Object)
	assert.Nil(t, Secret(nil))
}

func TestSecretMalformed(t *testing.T) {
	obj := redactSecret(nil)
	obj.Object["data"] = "c2VjcmV0" // not a map
	out := Secret(obj)
	assert.Equal(t, Marker, out.Object["data"])
}

func TestPair(t *testing.T) {
	live := redactSecret(nil)
	delete(live.Object, "stringData") // the apiserver stores data only
	desired := redactSecret(map[string]string{"added": "new-" + redactCanary})
	desired.Object["data"].(map[string]any)["user"] = base64.StdEncoding.EncodeToString([]byte("root"))

	l, d := Pair(live, desired)
	redactAssertNoCanary(t, l)
	redactAssertNoCanary(t, d)
	assert.Equal(t, map[string]any{"password": Marker, "user": Marker}, l.Object["data"])
	assert.Equal(t, map[string]any{
		"password": Marker,        // same value
		"user":     ChangedMarker, // changed
		"added":    ChangedMarker, // new key
	}, d.Object["data"])
	assert.Equal(t, map[string]any{"token": ChangedMarker}, d.Object["stringData"], "token is not live")

	t.Run("stringData counts as data", func(t *testing.T) {
		live := redactSecret(nil)
		delete(live.Object, "stringData")
		live.Object["data"].(map[string]any)["token"] = base64.StdEncoding.EncodeToString([]byte(redactCanary))
		desired := redactSecret(nil)
		_, d := Pair(live, desired)
		assert.Equal(t, map[string]any{"token": Marker}, d.Object["stringData"])
	})
	t.Run("created", func(t *testing.T) {
		l, d := Pair(nil, redactSecret(nil))
		assert.Nil(t, l)
		redactAssertNoCanary(t, d)
		assert.NotContains(t, d.Object["data"], ChangedMarker)
	})
	t.Run("deleted", func(t *testing.T) {
		l, d := Pair(redactSecret(nil), nil)
		assert.Nil(t, d)
		redactAssertNoCanary(t, l)
	})
}
