package clusterrun

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

// TestPoolKubeconfigSecret: a Cluster with spec.kubeconfigSecret is
// reached through the kubeconfig its Secret holds, read from the home
// cluster; a missing Secret, key or context, or a Secret that holds no
// kubeconfig, is a clear error that shows nothing of the Secret's data.
func TestPoolKubeconfigSecret(t *testing.T) {
	if cp == nil {
		t.Skip("needs the control plane")
	}
	ns := cp.Namespace(t)
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	kubeconfig, err := os.ReadFile(cp.KubeconfigPath())
	require.NoError(t, err)
	const junk = "not-a-kubeconfig-c4n4ry"
	for name, data := range map[string]map[string][]byte{
		"remote":  {"config": kubeconfig},
		"garbage": {"kubeconfig": []byte(junk)},
	} {
		_, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	cluster := func(secret, key, kubeContext string) render.Cluster {
		return render.Cluster{Name: "remote", Spec: schema.ClusterSpec{Context: kubeContext,
			KubeconfigSecret: &schema.SecretKeyRef{Namespace: ns, Name: secret, Key: key}}}
	}

	// The home cluster is --kubeconfig's current context.
	client, err := NewPool(cp.KubeconfigPath()).Connect(context.Background(), cluster("remote", "config", ""))
	require.NoError(t, err)
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "reached", "namespace": ns}, "data": map[string]any{"k": "v"}}}
	cs, err := reconcile.Apply(context.Background(), client, render.Cluster{Name: "remote", Objects: []*unstructured.Unstructured{cm}},
		reconcile.Options{SourceID: ns})
	require.NoError(t, err)
	assert.Equal(t, 1, cs.Count(reconcile.Created), cs.Summary())

	for _, tc := range []struct {
		name    string
		cluster render.Cluster
		want    string
	}{
		{"no secret", cluster("missing", "", ""), "cluster remote: kubeconfig Secret " + ns + "/missing: secrets \"missing\" not found"},
		{"no key", cluster("remote", "", ""), "cluster remote: kubeconfig Secret " + ns + "/remote has no key \"kubeconfig\""},
		{"no context", cluster("remote", "config", "elsewhere"), "cluster remote: kubeconfig Secret " + ns + "/remote, key \"config\": no context \"elsewhere\" (from spec.context)"},
		{"not a kubeconfig", cluster("garbage", "", ""), "cluster remote: kubeconfig Secret " + ns + "/garbage, key \"kubeconfig\": not a kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPool(cp.KubeconfigPath()).Connect(context.Background(), tc.cluster)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), junk)
		})
	}
}
