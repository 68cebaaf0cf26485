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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema/crds"
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
	kinds := dryRunAll(t, res)
	for _, k := range []string{"Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "NetworkPolicy",
		"WorkflowTemplate", "CronWorkflow", "Workflow", "Experiment", "InferenceService"} {
		require.True(t, kinds[k], "the examples render no %s", k)
	}
}

// dryRunAll sends every object of every cluster of res to the apiserver as
// a server-side dry-run apply with strict field validation, and checks it
// offline against its upstream schema too; it returns the kinds seen.
func dryRunAll(t *testing.T, res *render.Result) map[string]bool {
	t.Helper()
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
			_, problems, err := crds.Default.Validate(o.Object)
			require.NoError(t, err)
			require.Empty(t, problems, "offline schema check of %s", render.ObjectID(o))
		}
	}
	return kinds
}

// TestOfflineSchemaCheckAgreesWithAPIServer sends objects that break their
// upstream schema in different ways to the apiserver (server-side dry-run,
// strict field validation) and to the offline check of schema/crds: both
// refuse each, and both accept the valid one.
func TestOfflineSchemaCheckAgreesWithAPIServer(t *testing.T) {
	cp.Require(t)
	ns := cp.Namespace(t)
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	for _, tt := range []struct {
		name  string
		valid bool
		doc   string
	}{
		{"valid", true, `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"ok"},
			"spec":{"predictor":{"minReplicas":1,"model":{"modelFormat":{"name":"sklearn"},"storageUri":"s3://m"}}}}`},
		{"wrong type", false, `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"wrong-type"},
			"spec":{"predictor":{"minReplicas":"one","model":{"modelFormat":{"name":"sklearn"}}}}}`},
		{"unknown field", false, `{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"unknown"},
			"spec":{"predictor":{"replicas":2,"model":{"modelFormat":{"name":"sklearn"}}}}}`},
		{"missing required", false, `{"apiVersion":"argoproj.io/v1alpha1","kind":"WorkflowTemplate","metadata":{"name":"required"},
			"spec":{"templates":[{"name":"main","container":{"image":"busybox","env":[{"value":"1"}]}}]}}`},
		{"pod template", false, `{"apiVersion":"kubeflow.org/v1","kind":"PyTorchJob","metadata":{"name":"pod-template"},
			"spec":{"pytorchReplicaSpecs":{"Master":{"replicas":1,"template":{"spec":{"containers":[{"image":"x"}]}}}}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var obj map[string]any
			require.NoError(t, json.Unmarshal([]byte(tt.doc), &obj))
			known, problems, err := crds.Default.Validate(obj)
			require.NoError(t, err)
			require.True(t, known)
			u := &unstructured.Unstructured{Object: obj}
			r, _, err := c.Resource(u.GroupVersionKind(), ns)
			require.NoError(t, err)
			_, serverErr := r.Patch(context.Background(), u.GetName(), types.ApplyPatchType, []byte(tt.doc), metav1.PatchOptions{
				FieldManager: reconcile.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict",
			})
			if tt.valid {
				require.NoError(t, serverErr)
				require.Empty(t, problems)
				return
			}
			require.Error(t, serverErr, "the apiserver accepts it")
			require.NotEmpty(t, problems, "the offline check accepts what the apiserver refuses: %v", serverErr)
			t.Logf("apiserver: %v\noffline: %v", serverErr, problems)
		})
	}
}

func ptr[T any](v T) *T { return &v }
