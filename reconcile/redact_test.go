package reconcile

import (
	"encoding/base64"
	"strings"
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

func TestRedactSecret(t *testing.T) {
	in := redactSecret(nil)
	out := RedactSecret(in)
	redactAssertNoCanary(t, out)
	assert.Equal(t, map[string]any{"password": RedactedMarker, "user": RedactedMarker}, out.Object["data"])
	assert.Equal(t, map[string]any{"token": RedactedMarker}, out.Object["stringData"])
	assert.Equal(t, map[string]string{"team": "nlp"}, out.GetAnnotations(), "last-applied is dropped, others kept")
	assert.Contains(t, in.Object["stringData"], "token", "the input is not modified")
	assert.Equal(t, redactCanary, in.Object["stringData"].(map[string]any)["token"])
}

func TestRedactSecretOtherKinds(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"},
		"data": map[string]any{"k": "visible"},
	}}
	assert.Equal(t, cm.Object, RedactSecret(cm).Object)
	// A kind named Secret in another group is not a core Secret.
	other := cm.DeepCopy()
	other.SetAPIVersion("example.com/v1")
	other.SetKind("Secret")
	assert.Equal(t, other.Object, RedactSecret(other).Object)
	assert.Nil(t, RedactSecret(nil))
}

func TestRedactSecretMalformed(t *testing.T) {
	obj := redactSecret(nil)
	obj.Object["data"] = "c2VjcmV0" // not a map
	out := RedactSecret(obj)
	assert.Equal(t, RedactedMarker, out.Object["data"])
}

func TestRedactPair(t *testing.T) {
	live := redactSecret(nil)
	delete(live.Object, "stringData") // the apiserver stores data only
	desired := redactSecret(map[string]string{"added": "new-" + redactCanary})
	desired.Object["data"].(map[string]any)["user"] = base64.StdEncoding.EncodeToString([]byte("root"))

	l, d := RedactPair(live, desired)
	redactAssertNoCanary(t, l)
	redactAssertNoCanary(t, d)
	assert.Equal(t, map[string]any{"password": RedactedMarker, "user": RedactedMarker}, l.Object["data"])
	assert.Equal(t, map[string]any{
		"password": RedactedMarker,        // same value
		"user":     RedactedChangedMarker, // changed
		"added":    RedactedChangedMarker, // new key
	}, d.Object["data"])
	assert.Equal(t, map[string]any{"token": RedactedChangedMarker}, d.Object["stringData"], "token is not live")

	t.Run("stringData counts as data", func(t *testing.T) {
		live := redactSecret(nil)
		delete(live.Object, "stringData")
		live.Object["data"].(map[string]any)["token"] = base64.StdEncoding.EncodeToString([]byte(redactCanary))
		desired := redactSecret(nil)
		_, d := RedactPair(live, desired)
		assert.Equal(t, map[string]any{"token": RedactedMarker}, d.Object["stringData"])
	})
	t.Run("created", func(t *testing.T) {
		l, d := RedactPair(nil, redactSecret(nil))
		assert.Nil(t, l)
		redactAssertNoCanary(t, d)
		assert.NotContains(t, d.Object["data"], RedactedChangedMarker)
	})
	t.Run("deleted", func(t *testing.T) {
		l, d := RedactPair(redactSecret(nil), nil)
		assert.Nil(t, d)
		redactAssertNoCanary(t, l)
	})
}

func TestRedactor(t *testing.T) {
	r, err := NewRedactor(DefaultRedactPatterns)
	require.NoError(t, err)
	r = r.WithValues(redactCanary, "")
	tests := []struct {
		in, want string
	}{
		{"nothing to hide here", "nothing to hide here"},
		{"value " + redactCanary + " leaked", "value <redacted> leaked"},
		{"Authorization: Bearer abc.def-ghi", "Authorization: Bearer <redacted>"},
		{"clone https://bot:s3cr3t@github.com/org/repo", "clone https://bot:<redacted>@github.com/org/repo"},
		{"password=hunter2 user=bob", "password=<redacted> user=bob"},
		{`{"token": "xyz", "name": "n"}`, `{"token": "<redacted>", "name": "n"}`},
		{"api_key: k-123", "api_key: <redacted>"},
		{"using ghp_" + strings.Repeat("a", 36), "using <redacted>"},
		{"aws AKIAABCDEFGHIJKLMNOP done", "aws <redacted> done"},
		{"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n", "key:\n<redacted>\n"},
		{"twice " + redactCanary + redactCanary, "twice <redacted><redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, r.Redact(tt.in))
		})
	}
}

func TestRedactorGroups(t *testing.T) {
	r, err := NewRedactor([]string{`(a)-(b)`, `x(y)?z`})
	require.NoError(t, err)
	assert.Equal(t, "<redacted>-<redacted> <redacted>-<redacted>", r.Redact("a-b a-b"))
	assert.Equal(t, "xz x<redacted>z", r.Redact("xz xyz"), "a group that does not take part is left alone")
}

func TestNewRedactorBadPattern(t *testing.T) {
	_, err := NewRedactor([]string{"("})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `redact pattern "("`), err.Error())
}

func TestRedactorWithValuesKeepsOriginal(t *testing.T) {
	r, err := NewRedactor(nil)
	require.NoError(t, err)
	_ = r.WithValues(redactCanary)
	assert.Equal(t, redactCanary, r.Redact(redactCanary))
}
