package controlplane_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"trellis.dev/trellis/test/controlplane"
)

// TestInstallCRDs installs CRDs from a multi-document file twice (apply is
// idempotent) and checks they are served and enforce their schema.
func TestInstallCRDs(t *testing.T) {
	ns := cp.Namespace(t)
	ctx := context.Background()
	cfg := cp.RESTConfig()
	for range 2 {
		require.NoError(t, controlplane.InstallCRDs(ctx, cfg, filepath.Join("testdata", "crds")))
	}

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	for gv, plural := range map[string]string{"example.trellis.dev/v1": "widgets", "example.trellis.dev/v1alpha1": "gadgets"} {
		list, err := dc.ServerResourcesForGroupVersion(gv)
		require.NoError(t, err)
		require.Len(t, list.APIResources, 1)
		assert.Equal(t, plural, list.APIResources[0].Name)
	}

	client, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	widgets := client.Resource(schema.GroupVersionResource{Group: "example.trellis.dev", Version: "v1", Resource: "widgets"}).
		Namespace(ns)
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	_, err = widgets.Create(ctx, widget(2), dryRun)
	require.NoError(t, err)
	_, err = widgets.Create(ctx, widget(0), dryRun)
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
	assert.Contains(t, err.Error(), "spec.size")
}

func widget(size int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.trellis.dev/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": "w"},
		"spec":       map[string]any{"size": size},
	}}
}

func TestInstallCRDsErrors(t *testing.T) {
	cp.Require(t)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("kind: [unclosed\n"), 0o600))

	tests := []struct {
		name, path, want string
	}{
		{"missing path", filepath.Join(t.TempDir(), "absent"), "absent"},
		{"invalid YAML", broken, "broken.yaml: document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := controlplane.InstallCRDs(context.Background(), cp.RESTConfig(), tt.path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
