package reconcile

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/controlplane"
)

// diffFixture reads testdata/diff/<name>.yaml into namespace ns.
func diffFixture(t *testing.T, name, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "diff", name+".yaml"))
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(data, &obj.Object))
	obj.SetNamespace(ns)
	return obj
}

// diffControlPlane returns the control plane of TestMain, and skips the
// test when there is none (a TestMain that honours -short).
func diffControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if cp == nil {
		t.Skip("needs the control plane")
	}
	return cp
}

// diffClient is a client of the test control plane.
func diffClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(diffControlPlane(t).RESTConfig())
	require.NoError(t, err)
	return c
}

// diffApply server-side applies obj as trellis does, for real.
func diffApply(t *testing.T, c *Client, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ri, _, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	require.NoError(t, err)
	body, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	force := true
	live, err := ri.Patch(context.Background(), obj.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	require.NoError(t, err, "apply %s", RefOf(obj))
	return live
}

// diffOne diffs one object and returns its ObjectDiff.
func diffOne(t *testing.T, c *Client, obj *unstructured.Unstructured) ObjectDiff {
	t.Helper()
	got, err := Diff(context.Background(), c, []*unstructured.Unstructured{obj})
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

// diffGolden compares text, with ns replaced by $NS, to
// testdata/diff/<name>.golden, or rewrites it when UPDATE=1.
func diffGolden(t *testing.T, name, ns, text string) {
	t.Helper()
	text = strings.ReplaceAll(text, ns, "$NS")
	path := filepath.Join("testdata", "diff", name+".golden")
	if os.Getenv("UPDATE") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run UPDATE=1 go test ./reconcile/ -run Diff")
	assert.Equal(t, string(want), text, "%s differs (UPDATE=1 to accept)", path)
}

func TestDiffCreated(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	d := diffOne(t, c, diffFixture(t, "settings", ns))
	assert.Equal(t, Created, d.Action)
	assert.True(t, d.Changed())
	assert.Empty(t, d.Live)
	assert.Empty(t, d.Err)
	assert.Contains(t, d.Merged, "optimizer: adam")
	assert.NotContains(t, d.Merged, "uid:", "server fields are left out")
	assert.NotContains(t, d.Merged, render.AnnotationRevision)
	diffGolden(t, "created", ns, d.Unified)
}

func TestDiffUnchanged(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	obj := diffFixture(t, "settings", ns)
	// Applied as Apply does: with its bookkeeping annotations.
	applied := obj.DeepCopy()
	ann := applied.GetAnnotations()
	ann[diffConfigHashAnnotation] = "sha256:0123"
	ann["config.k8s.io/owning-inventory"] = "trellis_dev"
	applied.SetAnnotations(ann)
	diffApply(t, c, applied)

	d := diffOne(t, c, obj)
	assert.Equal(t, Unchanged, d.Action, d.Unified)
	assert.False(t, d.Changed())
	assert.Empty(t, d.Unified)
	assert.Equal(t, d.Live, d.Merged)

	// A new revision alone is no change.
	ann = obj.GetAnnotations()
	ann[render.AnnotationRevision] = "2222222222222222222222222222222222222222"
	obj.SetAnnotations(ann)
	assert.Equal(t, Unchanged, diffOne(t, c, obj).Action)
}

func TestDiffConfigured(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	obj := diffFixture(t, "settings", ns)
	live := diffApply(t, c, obj)

	// Someone edits it by hand: another field manager, a plain update.
	require.NoError(t, unstructured.SetNestedField(live.Object, "sgd", "data", "optimizer"))
	require.NoError(t, unstructured.SetNestedField(live.Object, "yes", "data", "debug"))
	ri, _, err := c.Resource(live.GroupVersionKind(), ns)
	require.NoError(t, err)
	_, err = ri.Update(context.Background(), live, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	d := diffOne(t, c, obj)
	assert.Equal(t, Configured, d.Action)
	assert.Contains(t, d.Unified, "-  optimizer: sgd\n+  optimizer: adam\n")
	assert.Contains(t, d.Unified, "  debug: \"yes\"\n", "another manager's field stays: SSA does not remove it")
	diffGolden(t, "configured", ns, d.Unified)
}

// redactCanary is a Secret value of the diff fixtures that no diff may show.
const redactCanary = "CANARY-9f3b1"

func TestDiffSecretIsRedacted(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	secret := diffFixture(t, "credentials", ns)
	enc := base64.StdEncoding.EncodeToString([]byte(redactCanary))
	noCanary := func(t *testing.T, d ObjectDiff) {
		t.Helper()
		for _, text := range []string{d.Live, d.Merged, d.Unified, d.Err} {
			assert.NotContains(t, text, redactCanary)
			assert.NotContains(t, text, enc)
		}
	}

	t.Run("created", func(t *testing.T) {
		d := diffOne(t, c, secret)
		assert.Equal(t, Created, d.Action)
		noCanary(t, d)
		assert.Contains(t, d.Unified, "+  password: <redacted>\n")
	})

	t.Run("changed", func(t *testing.T) {
		old := secret.DeepCopy()
		old.Object["data"] = map[string]any{"password": base64.StdEncoding.EncodeToString([]byte("old")), "user": "YWRtaW4="}
		old.Object["stringData"] = map[string]any{"token": "old-token"}
		old.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"token":"` + redactCanary + `"}}`})
		diffApply(t, c, old)

		d := diffOne(t, c, secret)
		assert.Equal(t, Configured, d.Action)
		noCanary(t, d)
		assert.Contains(t, d.Unified, "-  password: <redacted>\n-  token: <redacted>\n+  password: '<redacted: changed>'\n+  token: '<redacted: changed>'\n")
		assert.Contains(t, d.Unified, "  user: <redacted>\n", "an unchanged key is context")
		assert.NotContains(t, d.Live, "last-applied")
	})

	t.Run("unchanged", func(t *testing.T) {
		diffApply(t, c, secret)
		d := diffOne(t, c, secret)
		assert.Equal(t, Unchanged, d.Action, d.Unified)
		noCanary(t, d)
	})
}

func TestDiffFailed(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	elsewhere := diffFixture(t, "settings", "no-such-namespace")
	invalid := diffFixture(t, "invalid-endpoint", ns)
	unknown := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Thing", "metadata": map[string]any{"name": "x", "namespace": ns},
	}}
	got, err := Diff(context.Background(), c, []*unstructured.Unstructured{elsewhere, invalid, unknown})
	require.NoError(t, err, "refused objects are not an error of Diff")
	require.Len(t, got, 3)
	for _, d := range got {
		assert.Equal(t, Failed, d.Action, d.Ref.String())
		assert.Empty(t, d.Unified)
		assert.False(t, d.Changed())
	}
	assert.Equal(t, `namespaces "no-such-namespace" not found`, got[0].Err)
	assert.Contains(t, got[1].Err, "spec.predictor.minReplicas")
	assert.Contains(t, got[2].Err, "kind not served")
}

func TestDiffNewNamespace(t *testing.T) {
	c := diffClient(t)
	name := "diff-new-" + strings.ToLower(time.Now().Format("150405.000000"))
	name = strings.ReplaceAll(name, ".", "-")
	namespace := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
	got, err := Diff(context.Background(), c, []*unstructured.Unstructured{namespace, diffFixture(t, "settings", name)})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, Created, got[0].Action)
	assert.Empty(t, got[0].Note, "the Namespace itself is checked by the server")
	assert.Equal(t, Created, got[1].Action, got[1].Err)
	assert.Contains(t, got[1].Note, "namespace "+name+" is created by this apply")
	assert.Contains(t, got[1].Unified, "+  optimizer: adam\n")
}

func TestDiffUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := NewClient(&rest.Config{Host: "https://" + addr, Timeout: 5 * time.Second})
	require.NoError(t, err)
	_, err = Diff(context.Background(), c, []*unstructured.Unstructured{diffFixture(t, "settings", "default")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "discovery: ")
	assert.Contains(t, err.Error(), "connection refused")
}
