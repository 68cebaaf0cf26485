package mlkind

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// healthObject parses a YAML object for the health table.
func healthObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("parse %q: %v", doc, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil { // integers as int64, as client-go decodes them
		t.Fatalf("decode %q: %v", doc, err)
	}
	return obj
}

// healthConditions returns a status with one condition per (type, status,
// reason) triple.
func healthConditions(triples ...string) string {
	s := "status:\n  conditions:\n"
	for i := 0; i+2 < len(triples); i += 3 {
		s += "  - type: " + triples[i] + "\n    status: \"" + triples[i+1] + "\"\n"
		if triples[i+2] != "" {
			s += "    reason: " + triples[i+2] + "\n"
		}
	}
	return s
}

func TestHealth(t *testing.T) {
	const (
		wf      = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: r}\n"
		cron    = "apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\n"
		exp     = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: e}\n"
		pytorch = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: p}\n"
		tfjob   = "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: t}\n"
		train   = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: j}\n"
		isvc    = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: i, generation: 2}\n"
		deploy  = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 1}\n"
	)
	tests := []struct {
		name string
		doc  string
		want Status
		msg  string // a substring of the message, when set
	}{
		{"configmap is current", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", StatusCurrent, ""},
		{"deleted object is in progress", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, deletionTimestamp: '2024-01-01T00:00:00Z'}\n", StatusInProgress, "deleted"},
		{"deployment without status", deploy, StatusInProgress, ""},
		{"deployment available", deploy + "status: {observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: [{type: Available, status: 'True'}]}\n", StatusCurrent, ""},
		{"stalled custom resource", "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x}\n" + healthConditions("Stalled", "True", "Broken"), StatusFailed, ""},
		{"malformed conditions", "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: x}\nstatus: {conditions: 3}\n", StatusUnknown, "status"},

		{"workflow template accepted", "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n", StatusCurrent, "accepted"},
		{"cluster workflow template accepted", "apiVersion: argoproj.io/v1alpha1\nkind: ClusterWorkflowTemplate\nmetadata: {name: t}\n", StatusCurrent, "accepted"},
		{"cron workflow accepted", cron, StatusCurrent, "accepted"},
		{"cron workflow with a spec error", cron + healthConditions("SpecError", "True", ""), StatusFailed, "SpecError"},
		{"cron workflow with a submission error", cron + healthConditions("SubmissionError", "True", ""), StatusFailed, "SubmissionError"},
		{"cron workflow with a resolved error", cron + healthConditions("SubmissionError", "False", ""), StatusCurrent, ""},

		{"workflow not started", wf, StatusInProgress, "not started"},
		{"workflow pending", wf + "status: {phase: Pending}\n", StatusInProgress, "Pending"},
		{"workflow running", wf + "status: {phase: Running}\n", StatusInProgress, "Running"},
		{"workflow succeeded", wf + "status: {phase: Succeeded}\n", StatusCurrent, "Succeeded"},
		{"workflow failed", wf + "status: {phase: Failed, message: 'child failed'}\n", StatusFailed, "child failed"},
		{"workflow error", wf + "status: {phase: Error}\n", StatusFailed, "Error"},
		{"workflow odd phase", wf + "status: {phase: Weird}\n", StatusUnknown, "Weird"},

		{"experiment created", exp + healthConditions("Created", "True", "ExperimentCreated"), StatusInProgress, "Created"},
		{"experiment running", exp + healthConditions("Created", "True", "", "Running", "True", ""), StatusInProgress, "Running"},
		{"experiment succeeded", exp + healthConditions("Running", "False", "", "Succeeded", "True", "ExperimentMaxTrialsReached"), StatusCurrent, "MaxTrials"},
		{"experiment failed", exp + healthConditions("Failed", "True", "ExperimentFailed"), StatusFailed, ""},
		{"experiment without status", exp, StatusInProgress, "not started"},

		{"pytorchjob running", pytorch + healthConditions("Created", "True", "", "Running", "True", ""), StatusInProgress, "Running"},
		{"pytorchjob succeeded", pytorch + healthConditions("Running", "False", "", "Succeeded", "True", ""), StatusCurrent, ""},
		{"pytorchjob failed", pytorch + healthConditions("Failed", "True", "BackoffLimitExceeded"), StatusFailed, "Backoff"},
		{"tfjob succeeded", tfjob + healthConditions("Succeeded", "True", ""), StatusCurrent, ""},
		{"tfjob failed", tfjob + healthConditions("Failed", "True", ""), StatusFailed, ""},

		{"trainjob running", train + healthConditions("Complete", "False", ""), StatusInProgress, ""},
		{"trainjob complete", train + healthConditions("Complete", "True", "JobsCompleted"), StatusCurrent, ""},
		{"trainjob failed", train + healthConditions("Failed", "True", ""), StatusFailed, ""},

		{"isvc without status", isvc, StatusInProgress, ""},
		{"isvc ready", isvc + "status:\n  observedGeneration: 2\n  conditions: [{type: Ready, status: 'True'}]\n", StatusCurrent, ""},
		{"isvc ready for an older generation", isvc + "status:\n  observedGeneration: 1\n  conditions: [{type: Ready, status: 'True'}]\n", StatusInProgress, "generation 2"},
		{"isvc not ready yet", isvc + healthConditions("Ready", "False", "PredictorConfigurationReady"), StatusInProgress, ""},
		{"isvc ready unknown", isvc + healthConditions("Ready", "Unknown", ""), StatusInProgress, ""},
		{"isvc revision failed", isvc + healthConditions("Ready", "False", "RevisionFailed"), StatusFailed, "RevisionFailed"},
		{"isvc model load blocked", isvc + "status: {modelStatus: {transitionStatus: BlockedByFailedLoad}}\n", StatusFailed, "BlockedByFailedLoad"},
		{"isvc invalid spec", isvc + "status: {modelStatus: {transitionStatus: InvalidSpec}}\n", StatusFailed, "InvalidSpec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := Health(healthObject(t, tt.doc))
			assert.Equal(t, tt.want, got, "message: %s", msg)
			assert.Contains(t, msg, tt.msg)
		})
	}
}

func TestHealthNil(t *testing.T) {
	got, msg := Health(nil)
	assert.Equal(t, StatusUnknown, got)
	assert.Contains(t, msg, "not found")
}

func TestStatusDone(t *testing.T) {
	assert.True(t, StatusCurrent.Done())
	assert.True(t, StatusFailed.Done())
	assert.False(t, StatusInProgress.Done())
	assert.False(t, StatusUnknown.Done())
}
