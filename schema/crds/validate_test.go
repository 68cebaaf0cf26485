package crds

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
	return obj
}

// TestValidate checks objects against the upstream schemas as the apiserver
// would: what it refuses, and the fields it would drop.
func TestValidate(t *testing.T) {
	s := &Schemas{}
	for _, tt := range []struct {
		name  string
		doc   string
		known bool
		want  []string
	}{
		{"valid InferenceService", `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: m, namespace: ml, labels: {a: b}}
spec:
  predictor:
    minReplicas: 1
    model: {modelFormat: {name: sklearn}, storageUri: "s3://m", resources: {requests: {cpu: 100m}}}
`, true, nil},
		{"wrong type and unknown field", `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: m}
spec:
  predictor:
    minReplicas: two
    replicas: 3
    model: {modelFormat: {name: sklearn}}
`, true, []string{
			"spec.predictor.minReplicas: must be of type integer: \"string\"",
			"spec.predictor.replicas: unknown field: the upstream schema does not declare it, and the apiserver would drop it",
		}},
		{"Argo workflow: required field and a field in the wrong place", `
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: hello-}
spec:
  entrypoint: main
  templates:
  - name: main
    image: busybox
    container: {image: busybox, env: [{value: "1"}]}
  parallelism: many
`, true, []string{
			"spec.parallelism: must be of type integer: \"string\"",
			"spec.templates[0].container.env[0].name: is required",
			"spec.templates[0].image: unknown field: the upstream schema does not declare it, and the apiserver would drop it",
		}},
		{"Katib preserves unknown fields", `
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: e}
spec: {anything: [1, 2]}
`, true, nil},
		{"a kind no vendored CRD serves", `
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {a: b}
`, false, nil},
		{"a version no vendored CRD serves", `
apiVersion: serving.kserve.io/v1alpha9
kind: InferenceService
`, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			known, problems, err := s.Validate(object(t, tt.doc))
			require.NoError(t, err)
			assert.Equal(t, tt.known, known)
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestPrepare reads several CRDs at once (run with -race), and a kind no
// vendored CRD serves costs nothing.
func TestPrepare(t *testing.T) {
	s := &Schemas{}
	gvks := []schema.GroupVersionKind{
		{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"},
		{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"},
		{Group: "kubeflow.org", Version: "v1", Kind: "PyTorchJob"},
		{Group: "", Version: "v1", Kind: "ConfigMap"},
	}
	s.Prepare(append(gvks, gvks...))
	known := func(gvk schema.GroupVersionKind) bool {
		vs, err := s.lookup(gvk)
		require.NoError(t, err)
		return vs != nil
	}
	for _, gvk := range gvks[:3] {
		assert.True(t, known(gvk), gvk)
	}
	assert.False(t, known(gvks[3]))
}
