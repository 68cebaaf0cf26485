package main

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
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
)

// TestMissingContextReachesNoOtherCluster diffs and applies a Cluster
// whose spec.context is not in the kubeconfig, while that kubeconfig's
// current context is a real, reachable control plane: diff exits 3, apply
// fails, both name the cluster, the context and the kubeconfig files
// searched (every file of $KUBECONFIG), and nothing is written to the
// control plane behind the current context.
func TestMissingContextReachesNoOtherCluster(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	require.NoError(t, os.MkdirAll(repo, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "cluster.yaml"), fmt.Appendf(nil, `apiVersion: trellis.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec:
  context: ml-prod
  namespaces: {%s-prod: {}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: %s-prod, annotations: {trellis.dev/cluster: prod}}
data: {a: "1"}
`, ns, ns), 0o600))
	missing := filepath.Join(dir, "missing-kubeconfig")
	t.Setenv("KUBECONFIG", cp.KubeconfigPath()+string(os.PathListSeparator)+missing)
	placeholders := map[string]string{"$KUBECONFIG": cp.KubeconfigPath(), "$MISSING": missing}
	want := `cluster prod: kube context "ml-prod" (from spec.context) is not in the kubeconfig (searched kubeconfigs $KUBECONFIG, $MISSING ($KUBECONFIG)); pass --context, or add the context to the kubeconfig`

	r := runCLI(t, dir, []string{"diff", "repo", "--cluster", "prod", "--revision", pinnedRevision, "--source-id", ns}, placeholders)
	assert.GreaterOrEqual(t, r.exit, exitUsage, r.stderr)
	assert.Contains(t, r.stderr, "error: "+want+"\n")
	assert.Empty(t, r.stdout)

	r = runCLI(t, dir, []string{"apply", "repo", "--cluster", "prod", "--revision", pinnedRevision, "--source-id", ns}, placeholders)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stderr, "error: "+want+"\n")
	assert.Equal(t, "cluster prod: failed\n", r.stdout)

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	_, err = kube.CoreV1().Namespaces().Get(context.Background(), ns+"-prod", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no namespace written through the current context: %v", err)
	cms, err := kube.CoreV1().ConfigMaps(reconcile.InventoryNamespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: "cli-utils.sigs.k8s.io/inventory-id=" + reconcile.InventoryID(ns, "prod"),
	})
	if !apierrors.IsNotFound(err) {
		require.NoError(t, err)
		assert.Empty(t, cms.Items, "no inventory written through the current context")
	}

	// --context names the cluster for one cluster, never for several.
	r = runCLI(t, dir, []string{"diff", "repo", "--context", "trellis-test", "--revision", pinnedRevision, "--source-id", ns}, placeholders)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "# cluster prod (context trellis-test)\n")
}
