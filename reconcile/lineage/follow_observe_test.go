package lineage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestLineageObserve checks what lineage adds to mlkind.Observe: the
// object's identity and run label; the interpretation is mlkind's.
func TestLineageObserve(t *testing.T) {
	got, finished := Observe(followFixture(t, "workflow"))
	assert.True(t, finished)
	assert.Equal(t, "Workflow", got.Kind)
	assert.Equal(t, "ml", got.Namespace)
	assert.Equal(t, "train-iris-7xk2q", got.Name)
	assert.Equal(t, "pipeline-train-iris", got.RunOf)
	assert.Equal(t, "Succeeded", got.Phase)
	assert.NotNil(t, got.Finished)
	assert.Len(t, got.Outputs, 4)

	isvc := followFixture(t, "inferenceservice")
	if err := unstructured.SetNestedField(isvc.Object, "BlockedByFailedLoad", "status", "modelStatus", "transitionStatus"); err != nil {
		t.Fatal(err)
	}
	got, finished = Observe(isvc)
	assert.True(t, finished, "a model that failed to load ends the following, as it ends apply --wait")
	assert.Equal(t, "Failed", got.Phase)
	assert.Equal(t, "http://iris.ml.example.com", got.URL)
}
