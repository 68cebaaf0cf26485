package mlkind

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// followFixture reads testdata/follow/<name>.yaml as the cluster would
// return it (JSON numbers as int64).
func followFixture(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "follow", name+".yaml"))
	require.NoError(t, err)
	js, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, obj.UnmarshalJSON(js))
	return obj
}

func at(s string) *time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &tm
}

// setField sets one field of obj, or removes it when value is nil.
func setField(obj *unstructured.Unstructured, value any, fields ...string) {
	if value == nil {
		unstructured.RemoveNestedField(obj.Object, fields...)
		return
	}
	if err := unstructured.SetNestedField(obj.Object, value, fields...); err != nil {
		panic(err)
	}
}

func cond(typ, status, reason, message string) any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": message}
}

// TestObserve reads the status shapes the controllers write, from
// testdata/follow (made after argo-workflows' WorkflowStatus and
// workflow_phase.go, katib's ExperimentStatus and
// pkg/apis/controller/experiments/v1beta1/util.go, kserve's
// InferenceServiceStatus in pkg/apis/serving/v1beta1/
// inference_service_status.go), edited case by case; each case also checks
// that Health gives the same verdict of done.
func TestObserve(t *testing.T) {
	wfSucceeded := Observation{
		Phase: "Succeeded", Started: at("2026-11-26T18:15:05Z"), Finished: at("2026-11-26T18:21:40Z"),
		Nodes: map[string]int{"Succeeded": 3},
		Outputs: []Output{
			{Step: "evaluate", Kind: OutputParameter, Name: "passed", Value: "true"},
			{Step: "train", Kind: OutputArtifact, Name: "main-logs", Value: "s3://ml-artifacts/train-iris-7xk2q/train-iris-7xk2q-step-train-467207319/main.log"},
			{Step: "train", Kind: OutputArtifact, Name: "model", Value: "s3://ml-artifacts/train-iris-7xk2q/train-iris-7xk2q-step-train-467207319/model.tgz"},
			{Step: "train", Kind: OutputParameter, Name: "accuracy", Value: "0.9766"},
		},
	}
	xSucceeded := Observation{
		Phase: "Succeeded", Started: at("2026-11-26T18:15:02Z"), Finished: at("2026-11-26T18:40:11Z"),
		Outputs: []Output{
			{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputMetric, Name: "accuracy", Value: "0.9766"},
			{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputMetric, Name: "loss", Value: "0.0712"},
			{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputParameter, Name: "lr", Value: "0.0421"},
			{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputParameter, Name: "num-layers", Value: "3"},
		},
		Message: "Experiment has succeeded because max trial count has reached",
	}
	isvcReady := Observation{
		Phase:    "Ready",
		URL:      "http://iris.ml.example.com",
		ModelURI: "s3://ml-artifacts/train-iris-7xk2q/train-iris-7xk2q-step-train-467207319/model.tgz",
		Traffic:  map[string]int{"latest": 10, "prev": 90},
	}
	tests := []struct {
		name     string
		fixture  string
		edit     func(*unstructured.Unstructured)
		want     func(Observation) Observation
		finished bool
	}{
		{name: "workflow succeeded", fixture: "workflow", finished: true},
		{
			name: "workflow running", fixture: "workflow",
			edit: func(o *unstructured.Unstructured) {
				setField(o, "Running", "status", "phase")
				setField(o, nil, "status", "finishedAt")
				setField(o, "Running", "status", "nodes", "train-iris-7xk2q", "phase")
				setField(o, "Running", "status", "nodes", "train-iris-7xk2q-2516907616", "phase")
				setField(o, nil, "status", "nodes", "train-iris-7xk2q-2516907616", "outputs")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Finished = "Running", nil
				f.Nodes = map[string]int{"Running": 2, "Succeeded": 1}
				f.Outputs = f.Outputs[1:]
				return f
			},
		},
		{
			name: "workflow not started", fixture: "workflow",
			edit: func(o *unstructured.Unstructured) { setField(o, nil, "status") },
			want: func(f Observation) Observation {
				return Observation{Phase: "Pending"}
			},
		},
		{
			name: "workflow failed", fixture: "workflow", finished: true,
			edit: func(o *unstructured.Unstructured) {
				setField(o, "Failed", "status", "phase")
				setField(o, "child 'train-iris-7xk2q-2516907616' failed", "status", "message")
				setField(o, "Failed", "status", "nodes", "train-iris-7xk2q-2516907616", "phase")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message = "Failed", "child 'train-iris-7xk2q-2516907616' failed"
				f.Nodes = map[string]int{"Failed": 1, "Succeeded": 2}
				return f
			},
		},
		{
			name: "workflow error", fixture: "workflow", finished: true,
			edit: func(o *unstructured.Unstructured) { setField(o, "Error", "status", "phase") },
			want: func(f Observation) Observation { f.Phase = "Error"; return f },
		},
		{name: "experiment succeeded", fixture: "experiment", finished: true},
		{
			name: "experiment running", fixture: "experiment",
			edit: func(o *unstructured.Unstructured) {
				setField(o, []any{
					cond("Created", "True", "ExperimentCreated", "Experiment is created"),
					cond("Running", "True", "ExperimentRunning", "Experiment is running"),
				}, "status", "conditions")
				setField(o, nil, "status", "completionTime")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message, f.Finished = "Running", "Experiment is running", nil
				return f
			},
		},
		{
			name: "experiment restarting", fixture: "experiment",
			edit: func(o *unstructured.Unstructured) {
				setField(o, []any{
					cond("Created", "True", "ExperimentCreated", "Experiment is created"),
					cond("Running", "False", "ExperimentRestarting", "Experiment is restarting"),
					cond("Restarting", "True", "ExperimentRestarting", "Experiment is restarting"),
				}, "status", "conditions")
				setField(o, nil, "status", "completionTime")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message, f.Finished = "Restarting", "Experiment is restarting", nil
				return f
			},
		},
		{
			name: "experiment failed", fixture: "experiment", finished: true,
			edit: func(o *unstructured.Unstructured) {
				setField(o, []any{
					cond("Created", "True", "ExperimentCreated", "Experiment is created"),
					cond("Running", "False", "ExperimentRunning", "Experiment is running"),
					cond("Failed", "True", "ExperimentMaxFailedTrialsReached", "Experiment has failed because max failed count has reached"),
				}, "status", "conditions")
				setField(o, nil, "status", "currentOptimalTrial")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message, f.Outputs = "Failed", "Experiment has failed because max failed count has reached", nil
				return f
			},
		},
		{
			name: "experiment not started", fixture: "experiment",
			edit: func(o *unstructured.Unstructured) { setField(o, nil, "status") },
			want: func(f Observation) Observation {
				return Observation{Phase: "Pending"}
			},
		},
		{name: "inferenceservice ready", fixture: "inferenceservice", finished: true},
		{
			name: "inferenceservice not ready", fixture: "inferenceservice",
			edit: func(o *unstructured.Unstructured) {
				setField(o, []any{
					cond("PredictorReady", "False", "RevisionMissing", "Configuration \"iris-predictor\" is waiting for a Revision to become ready."),
					cond("Ready", "False", "RevisionMissing", "Configuration \"iris-predictor\" is waiting for a Revision to become ready."),
				}, "status", "conditions")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message = "NotReady", "Ready: RevisionMissing: Configuration \"iris-predictor\" is waiting for a Revision to become ready."
				return f
			},
		},
		// The case waiting and following used to judge differently: KServe
		// reports a model that failed to load with
		// modelStatus.transitionStatus BlockedByFailedLoad and lastFailureInfo
		// (kserve pkg/apis/serving/v1beta1/inference_service_status.go,
		// UpdateModelRevisionStates(FailedToLoad, &FailureInfo{Reason:
		// ModelLoadFailed, ...})). Both now call it Failed and done.
		{
			name: "inferenceservice whose model failed to load", fixture: "inferenceservice", finished: true,
			edit: func(o *unstructured.Unstructured) {
				setField(o, map[string]any{
					"transitionStatus": "BlockedByFailedLoad",
					"states":           map[string]any{"activeModelState": "", "targetModelState": "FailedToLoad"},
					"lastFailureInfo":  map[string]any{"reason": "ModelLoadFailed", "message": "storage-initializer: no such key", "exitCode": int64(1)},
				}, "status", "modelStatus")
				setField(o, []any{
					cond("PredictorReady", "False", "RevisionMissing", "Configuration \"iris-predictor\" is waiting for a Revision to become ready."),
					cond("Ready", "False", "RevisionMissing", "Configuration \"iris-predictor\" is waiting for a Revision to become ready."),
				}, "status", "conditions")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message = "Failed", "model BlockedByFailedLoad: ModelLoadFailed: storage-initializer: no such key"
				return f
			},
		},
		{
			name: "inferenceservice with an invalid spec", fixture: "inferenceservice", finished: true,
			edit: func(o *unstructured.Unstructured) {
				setField(o, map[string]any{
					"transitionStatus": "InvalidSpec",
					"lastFailureInfo":  map[string]any{"reason": "NoSupportingRuntime", "message": "Specified runtime does not support specified framework/version"},
				}, "status", "modelStatus")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message = "Failed", "model InvalidSpec: NoSupportingRuntime: Specified runtime does not support specified framework/version"
				return f
			},
		},
		{
			// Knative's Configuration marks its latest created revision
			// failed (MarkLatestCreatedFailed: reason RevisionFailed); KServe
			// propagates it to PredictorReady and Ready (PropagateStatus).
			name: "inferenceservice whose revision failed", fixture: "inferenceservice", finished: true,
			edit: func(o *unstructured.Unstructured) {
				setField(o, []any{
					cond("Ready", "False", "RevisionFailed", "Revision \"iris-predictor-00002\" failed with message: Back-off pulling image."),
				}, "status", "conditions")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message = "Failed", "Ready: RevisionFailed: Revision \"iris-predictor-00002\" failed with message: Back-off pulling image."
				return f
			},
		},
		{
			name: "inferenceservice ready at an older generation", fixture: "inferenceservice",
			edit: func(o *unstructured.Unstructured) { o.SetGeneration(3) },
			want: func(f Observation) Observation {
				f.Phase, f.Message = "NotReady", "generation 3 not observed yet (observed 2)"
				return f
			},
		},
		{
			name: "inferenceservice without status, old predictor, untagged traffic", fixture: "inferenceservice",
			edit: func(o *unstructured.Unstructured) {
				setField(o, map[string]any{"sklearn": map[string]any{"storageUri": "gs://models/iris"}}, "spec", "predictor")
				setField(o, map[string]any{"components": map[string]any{"predictor": map[string]any{"traffic": []any{
					map[string]any{"revisionName": "iris-predictor-00001", "percent": int64(100), "latestRevision": true},
				}}}}, "status")
			},
			want: func(f Observation) Observation {
				f.Phase, f.Message, f.URL = "NotReady", "no Ready condition yet", ""
				f.ModelURI = "gs://models/iris"
				f.Traffic = map[string]int{"iris-predictor-00001": 100}
				return f
			},
		},
	}
	wants := map[string]Observation{"workflow": wfSucceeded, "experiment": xSucceeded, "inferenceservice": isvcReady}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := followFixture(t, tt.fixture)
			if tt.edit != nil {
				tt.edit(obj)
			}
			want := wants[tt.fixture]
			if tt.want != nil {
				want = tt.want(want)
			}
			got := Observe(obj)
			assert.Equal(t, tt.finished, got.Done, "done")
			got.Done = false
			assert.Equal(t, want, got)
			health, _ := Health(obj)
			assert.Equal(t, health.Done(), tt.finished, "Observe and Health agree")
		})
	}
}

func TestObserveOtherKind(t *testing.T) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("ConfigMap")
	obj.SetNamespace("ml")
	obj.SetName("settings")
	assert.Equal(t, Observation{Phase: "Unknown", Message: "not a kind trellis follows", Done: true}, Observe(obj))
}
