package render

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestGeneratedRun names a plain Workflow written with generateName, as in
// Argo's examples (argo-workflows examples/hello-world.yaml), as a run.
func TestGeneratedRun(t *testing.T) {
	parse := func(doc string) *unstructured.Unstructured {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	hello := `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-world-
  labels: {workflows.argoproj.io/archive-strategy: "false"}
spec:
  entrypoint: hello-world
  templates:
  - name: hello-world
    container: {image: busybox, command: [echo], args: ["hello world"]}
`
	w := parse(hello)
	assert.True(t, isGeneratedRun(w))
	nameGeneratedRun(w)
	assert.Regexp(t, `^hello-world-[0-9a-f]{8}$`, w.GetName())
	assert.Empty(t, w.GetGenerateName())
	assert.Equal(t, "workflow-hello-world", w.GetLabels()[LabelRunOf])
	assert.Equal(t, "false", w.GetLabels()["workflows.argoproj.io/archive-strategy"])
	assert.Equal(t, "5", w.GetAnnotations()[AnnotationKeepRuns])

	again := parse(hello)
	nameGeneratedRun(again)
	assert.Equal(t, w.GetName(), again.GetName(), "the same content is the same run")
	changed := parse(hello + "  arguments: {parameters: [{name: x, value: y}]}\n")
	nameGeneratedRun(changed)
	assert.NotEqual(t, w.GetName(), changed.GetName(), "changed content is a new run")

	assert.False(t, isGeneratedRun(parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: c-}\n")))
	assert.False(t, isGeneratedRun(parse("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w, generateName: w-}\n")))
}
