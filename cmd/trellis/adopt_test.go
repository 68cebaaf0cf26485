package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/test/controlplane"
)

// TestApplyAdoptsHandMadeObjects creates two ConfigMaps by hand, then
// declares them in Git: diff shows the adoption, apply adopts one and
// reports it, the next apply finds it unchanged (managed). The other was
// taken meanwhile by another source's apply: it is a failure naming that
// inventory, left as it is.
func TestApplyAdoptsHandMadeObjects(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	ctx := context.Background()
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns + "-a"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns+"-a", metav1.DeleteOptions{}) })
	for _, name := range []string{"legacy", "contested"} {
		_, err = kube.CoreV1().ConfigMaps(ns+"-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name},
			Data: map[string]string{"k": "by hand"}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	cm := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s-a}\ndata: {k: from git}\n", name, ns)
	}
	repo := func(files map[string]string) string {
		dir := t.TempDir()
		files["cluster.yaml"] = "apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {}}\n"
		for name, content := range files {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
		}
		return dir
	}
	reach := func(source string) []string {
		return []string{"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--source-id", source, "--revision", pinnedRevision}
	}
	other := repo(map[string]string{"clusters/dev/contested.yaml": cm("contested")})
	r := runCLI(t, other, append([]string{"apply", "."}, reach(ns+"-other")...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ns+"-a/configmap/contested adopted\n")

	mine := repo(map[string]string{"clusters/dev/legacy.yaml": cm("legacy"), "clusters/dev/contested.yaml": cm("contested")})
	r = runCLI(t, mine, append([]string{"diff", "."}, reach(ns)...), nil)
	assert.Equal(t, exitUnknown, r.exit, "another inventory's object: apply would fail\n%s", r.stderr)
	assert.Contains(t, r.stdout, "# "+ns+"-a/configmap/legacy: adopted: it exists and no inventory owns it; apply takes it over\n")
	assert.Contains(t, r.stdout, "-  k: by hand\n+  k: from git\n")
	owner := reconcile.InventoryID(ns+"-other", "dev")
	assert.Contains(t, r.stderr, "error: cluster dev: "+ns+"-a/configmap/contested: owned by inventory "+owner)

	r = runCLI(t, mine, append([]string{"apply", "."}, reach(ns)...), nil)
	assert.Equal(t, exitFailed, r.exit)
	assert.Contains(t, r.stdout, ns+"-a/configmap/legacy adopted\n")
	assert.Contains(t, r.stdout, ns+"-a/configmap/contested failed: owned by inventory "+owner+"; trellis never touches another inventory's objects\n")
	assert.Contains(t, r.stdout, "cluster dev: 1 adopted, 1 failed\n")

	r = runCLI(t, mine, append([]string{"apply", "."}, reach(ns)...), nil)
	assert.Contains(t, r.stdout, ns+"-a/configmap/legacy unchanged\n", "managed from then on")
	got, err := kube.CoreV1().ConfigMaps(ns+"-a").Get(ctx, "contested", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, owner, got.Annotations["config.k8s.io/owning-inventory"], "left to its owner")
}
