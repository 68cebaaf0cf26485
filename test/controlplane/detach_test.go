package controlplane_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/test/controlplane"
)

// TestDetachedControlPlane starts a second, detached control plane, finds it
// again with Load, as `trellis-devcluster down` does, and stops it.
func TestDetachedControlPlane(t *testing.T) {
	cp.Require(t) // starts a second one; not in -short mode either
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "devcluster")
	started, err := controlplane.Start(ctx, controlplane.Options{Dir: dir, Detach: true, ContextName: "dev"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = started.Stop() })

	loaded, err := controlplane.Load(dir)
	require.NoError(t, err)
	require.NoError(t, loaded.Healthy(ctx))
	client, err := kubernetes.NewForConfig(loaded.RESTConfig())
	require.NoError(t, err)
	_, err = client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err)

	require.NoError(t, loaded.Stop())
	assert.Error(t, started.Healthy(ctx), "the processes should be gone")
	assert.NoDirExists(t, dir)
	_, err = controlplane.Load(dir)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}
