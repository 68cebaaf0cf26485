package render

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A plain Argo Workflow with metadata.generateName and no name, as Argo's
// own examples are written, is a run: trellis names it after generateName
// and the hash of its content (the same content, the same run, created
// once), and labels it a run of "workflow-<generateName>" with the default
// keep-runs, so it is never patched or pruned with the repo and older runs
// of the same generateName are collected as a pipeline's are.

// isGeneratedRun reports whether obj is such a Workflow.
func isGeneratedRun(obj *unstructured.Unstructured) bool {
	return obj.GetName() == "" && obj.GetGenerateName() != "" &&
		obj.GetKind() == "Workflow" && strings.HasPrefix(obj.GetAPIVersion(), "argoproj.io/")
}

// nameGeneratedRun names a generateName Workflow as a run (see above).
func nameGeneratedRun(obj *unstructured.Unstructured) {
	base := strings.TrimRight(obj.GetGenerateName(), "-")
	hash := contentHash(obj.Object)
	obj.SetGenerateName("")
	obj.SetName(hashedName(base, hash, maxNameLen))
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	if labels[LabelRunOf] == "" {
		labels[LabelRunOf] = RunOf("workflow", base)
	}
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	if annotations[AnnotationKeepRuns] == "" {
		annotations[AnnotationKeepRuns] = strconv.Itoa(defaultKeepRuns)
	}
	obj.SetAnnotations(annotations)
}
