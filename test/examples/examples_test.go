// Package examples checks that every object rendered from examples/ is
// accepted by a real kube-apiserver with the upstream CRDs installed.
package examples

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error { cp = c; return nil }))
}

// TestExamplesAcceptedByAPIServer renders examples/ and sends every object
// of every cluster to the apiserver as a server-side dry-run apply with
// strict field validation: each must pass the upstream CRD's schema (and
// core validation), so no unknown or misspelt field slips through.
func TestExamplesAcceptedByAPIServer(t *testing.T) {
	cp.Require(t)
	root, err := controlplane.RepoRoot()
	require.NoError(t, err)
	res, err := render.Dir(t.Context(), filepath.Join(root, "examples"), render.Options{Revision: "0123456789abcdef0123456789abcdef01234567"})
	require.NoError(t, err, render.Problems(err, filepath.Join(root, "examples"), nil))
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	ctx := context.Background()

	kinds := map[string]bool{}
	for _, cluster := range res.Clusters {
		// Namespaces are created for real: a dry-run of a namespaced object
		// needs its namespace to exist.
		for _, o := range cluster.Objects {
			if o.GetKind() == "Namespace" {
				r, _, err := c.Resource(o.GroupVersionKind(), "")
				require.NoError(t, err)
				_, err = r.Create(ctx, o, metav1.CreateOptions{})
				if !apierrors.IsAlreadyExists(err) {
					require.NoError(t, err, render.ObjectID(o))
				}
			}
		}
		for _, o := range cluster.Objects {
			kinds[o.GetKind()] = true
			r, _, err := c.Resource(o.GroupVersionKind(), o.GetNamespace())
			require.NoError(t, err, render.ObjectID(o))
			data, err := json.Marshal(o.Object)
			require.NoError(t, err)
			_, err = r.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
				FieldManager:    reconcile.FieldManager,
				Force:           ptr(true),
				DryRun:          []string{metav1.DryRunAll},
				FieldValidation: "Strict",
			})
			require.NoError(t, err, "cluster %s: %s", cluster.Name, render.ObjectID(o))
		}
	}
	for _, k := range []string{"Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy",
		"WorkflowTemplate", "CronWorkflow", "Workflow", "Experiment", "InferenceService"} {
		require.True(t, kinds[k], "the examples render no %s", k)
	}
}

func ptr[T any](v T) *T { return &v }
