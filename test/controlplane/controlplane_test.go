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
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/test/controlplane"
)

// cp is the control plane shared by the tests of this binary.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error {
			cp = c
			return nil
		}))
}

// TestCRDValidationIsEnforced dry-runs objects of every upstream kind trellis
// renders to: valid ones are accepted, invalid ones rejected by the CRD's
// OpenAPI schema.
func TestCRDValidationIsEnforced(t *testing.T) {
	ns := cp.Namespace(t)
	client, mapper := dynamicClient(t)
	tests := []struct {
		file      string
		wantField string // empty: the object is valid
	}{
		{file: "valid-workflowtemplate.yaml"},
		{file: "valid-inferenceservice.yaml"},
		{file: "valid-experiment.yaml"},
		{file: "valid-pytorchjob.yaml"},
		{file: "valid-trainjob.yaml"},
		{file: "invalid-workflowtemplate.yaml", wantField: "spec.templates"},
		{file: "invalid-inferenceservice.yaml", wantField: "spec.predictor.minReplicas"},
		{file: "invalid-pytorchjob.yaml", wantField: "spec.pytorchReplicaSpecs.Worker.replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			obj := readObject(t, filepath.Join("testdata", tt.file))
			mapping, err := mapper.RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
			require.NoError(t, err)
			_, err = client.Resource(mapping.Resource).Namespace(ns).Create(context.Background(), obj,
				metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if tt.wantField == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, apierrors.IsInvalid(err), "want an Invalid error, got %v", err)
			assert.Contains(t, err.Error(), tt.wantField)
		})
	}
}

// TestRBACIsEnforced checks that an identity without bindings is refused.
func TestRBACIsEnforced(t *testing.T) {
	ns := cp.Namespace(t)
	cfg := cp.RESTConfig()
	cfg.Impersonate.UserName = "jane"
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)

	_, err = client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
}

// TestKubeconfig checks that the written kubeconfig reaches the apiserver as
// an admin.
func TestKubeconfig(t *testing.T) {
	cp.Require(t)
	raw, err := clientcmd.LoadFromFile(cp.KubeconfigPath())
	require.NoError(t, err)
	assert.Equal(t, controlplane.DefaultContextName, raw.CurrentContext)

	cfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath())
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
}

// TestNamespace checks that each call makes a distinct, existing namespace.
func TestNamespace(t *testing.T) {
	first, second := cp.Namespace(t), cp.Namespace(t)
	assert.NotEqual(t, first, second)

	client, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	for _, name := range []string{first, second} {
		ns, err := client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, t.Name(), ns.Annotations[controlplane.TestNameAnnotation])
	}
}

func dynamicClient(t *testing.T) (dynamic.Interface, *restmapper.DeferredDiscoveryRESTMapper) {
	t.Helper()
	cfg := cp.RESTConfig()
	client, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	return client, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(data, &obj.Object))
	return obj
}
