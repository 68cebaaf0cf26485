package lineage

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// Kinds Follow follows, by "group/Kind".
const (
	followWorkflow         = "argoproj.io/Workflow"
	followExperiment       = "kubeflow.org/Experiment"
	followInferenceService = "serving.kserve.io/InferenceService"
)

// Phases trellis gives a followed object besides those its controller
// reports.
const (
	// PhasePending is the phase of a run its controller has not started.
	PhasePending = "Pending"
	// PhaseUnknown is the phase of an object that could not be read.
	PhaseUnknown = "Unknown"
	// PhaseReady and PhaseNotReady are the phases of an InferenceService.
	PhaseReady    = "Ready"
	PhaseNotReady = "NotReady"
)

// observers turn a live object of each followed kind into a Followed.
var observers = map[string]func(*unstructured.Unstructured) (Followed, bool){
	followWorkflow:         observeWorkflow,
	followExperiment:       observeExperiment,
	followInferenceService: observeInferenceService,
}

// Followable reports whether Follow knows how to follow objects of ref's
// kind: Argo Workflows, Katib Experiments and KServe InferenceServices.
func Followable(ref reconcile.ObjectRef) bool {
	return observers[ref.Group+"/"+ref.Kind] != nil
}

// Observe describes obj, as read from the cluster, as a Followed, and
// reports whether it has finished:
//   - an Argo Workflow by status.phase (Pending until Argo sets one): its
//     times, its nodes counted by phase and the outputs of its Pod nodes;
//     finished when Succeeded, Failed or Error;
//   - a Katib Experiment by its last True condition among Created,
//     Running, Restarting, Succeeded and Failed (Pending when none is):
//     its times and its optimal trial's parameters and metrics; finished
//     when Succeeded or Failed;
//   - a KServe InferenceService as Ready or NotReady, by its Ready
//     condition once KServe observed its latest generation: its URL, model
//     URI and traffic split; finished when Ready. KServe has no final
//     failure: an InferenceService that never becomes ready is followed
//     until the timeout.
//
// Any other kind is returned with phase Unknown, finished.
func Observe(obj *unstructured.Unstructured) (Followed, bool) {
	gvk := obj.GroupVersionKind()
	observe := observers[gvk.Group+"/"+gvk.Kind]
	if observe == nil {
		f := followedOf(obj)
		f.Phase, f.Message = PhaseUnknown, "not a kind trellis follows"
		return f, true
	}
	return observe(obj)
}

// followedOf fills the identity of a Followed.
func followedOf(obj *unstructured.Unstructured) Followed {
	return Followed{
		Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(),
		RunOf: obj.GetLabels()[render.LabelRunOf],
	}
}

// observeWorkflow describes an Argo Workflow.
func observeWorkflow(obj *unstructured.Unstructured) (Followed, bool) {
	f := followedOf(obj)
	f.Phase = nestedString(obj.Object, "status", "phase")
	if f.Phase == "" {
		f.Phase = PhasePending
	}
	f.Message = nestedString(obj.Object, "status", "message")
	f.Started = timeOf(nestedString(obj.Object, "status", "startedAt"))
	if t := reconcile.WorkflowFinished(obj); !t.IsZero() {
		t = t.UTC()
		f.Finished = &t
	}
	nodes, _, _ := unstructured.NestedMap(obj.Object, "status", "nodes")
	for _, n := range nodes {
		node, ok := n.(map[string]any)
		if !ok {
			continue
		}
		phase, _ := node["phase"].(string)
		if phase == "" {
			phase = PhasePending
		}
		if f.Nodes == nil {
			f.Nodes = map[string]int{}
		}
		f.Nodes[phase]++
	}
	f.Outputs = reconcile.WorkflowOutputs(obj)
	switch f.Phase {
	case "Succeeded", "Failed", "Error":
		return f, true
	}
	return f, false
}

// experimentPhases are the Katib Experiment conditions that make its
// phase.
var experimentPhases = map[string]bool{
	"Created": true, "Running": true, "Restarting": true, "Succeeded": true, "Failed": true,
}

// observeExperiment describes a Katib Experiment.
func observeExperiment(obj *unstructured.Unstructured) (Followed, bool) {
	f := followedOf(obj)
	f.Phase = PhasePending
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if !ok || cm["status"] != "True" {
			continue
		}
		if typ, _ := cm["type"].(string); experimentPhases[typ] {
			f.Phase = typ
			f.Message, _ = cm["message"].(string)
		}
	}
	f.Started = timeOf(nestedString(obj.Object, "status", "startTime"))
	f.Finished = timeOf(nestedString(obj.Object, "status", "completionTime"))
	f.Outputs = optimalTrial(obj)
	return f, f.Phase == "Succeeded" || f.Phase == "Failed"
}

// optimalTrial returns the parameters and metrics of an Experiment's
// status.currentOptimalTrial, the step being the trial's name. A metric's
// value is its latest, else its min, else its max.
func optimalTrial(obj *unstructured.Unstructured) []Output {
	best, _, _ := unstructured.NestedMap(obj.Object, "status", "currentOptimalTrial")
	step, _ := best["bestTrialName"].(string)
	var out []Output
	params, _, _ := unstructured.NestedSlice(best, "parameterAssignments")
	for _, p := range params {
		if pm, ok := p.(map[string]any); ok {
			out = append(out, Output{Step: step, Kind: OutputParameter, Name: stringOf(pm, "name"), Value: stringOf(pm, "value")})
		}
	}
	metrics, _, _ := unstructured.NestedSlice(best, "observation", "metrics")
	for _, m := range metrics {
		mm, ok := m.(map[string]any)
		if !ok {
			continue
		}
		value := ""
		for _, k := range []string{"latest", "min", "max", "value"} {
			if value = stringOf(mm, k); value != "" {
				break
			}
		}
		out = append(out, Output{Step: step, Kind: OutputMetric, Name: stringOf(mm, "name"), Value: value})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// observeInferenceService describes a KServe InferenceService.
func observeInferenceService(obj *unstructured.Unstructured) (Followed, bool) {
	f := followedOf(obj)
	f.URL = nestedString(obj.Object, "status", "url")
	f.ModelURI = modelURI(obj)
	f.Traffic = traffic(obj)
	f.Phase = PhaseNotReady
	observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if err == nil && found && obj.GetGeneration() != 0 && observed != obj.GetGeneration() {
		f.Message = "generation not observed yet by KServe"
		return f, false
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	f.Message = "no Ready condition yet"
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if !ok || cm["type"] != "Ready" {
			continue
		}
		if cm["status"] == "True" {
			f.Phase, f.Message = PhaseReady, ""
			return f, true
		}
		f.Message = stringOf(cm, "message")
		if f.Message == "" {
			f.Message = stringOf(cm, "reason")
		}
	}
	return f, false
}

// modelURI is the storage URI of an InferenceService's predictor:
// spec.predictor.model.storageUri, else that of the first framework
// (spec.predictor.sklearn, ...) that has one.
func modelURI(obj *unstructured.Unstructured) string {
	if uri := nestedString(obj.Object, "spec", "predictor", "model", "storageUri"); uri != "" {
		return uri
	}
	predictor, _, _ := unstructured.NestedMap(obj.Object, "spec", "predictor")
	keys := make([]string, 0, len(predictor))
	for k := range predictor {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m, ok := predictor[k].(map[string]any); ok && stringOf(m, "storageUri") != "" {
			return stringOf(m, "storageUri")
		}
	}
	return ""
}

// traffic is the predictor's traffic split, percent by target: its tag,
// else its revision, else "latest".
func traffic(obj *unstructured.Unstructured) map[string]int {
	list, _, _ := unstructured.NestedSlice(obj.Object, "status", "components", "predictor", "traffic")
	var out map[string]int
	for _, t := range list {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		name := stringOf(tm, "tag")
		if name == "" {
			name = stringOf(tm, "revisionName")
		}
		if name == "" {
			name = "latest"
		}
		if out == nil {
			out = map[string]int{}
		}
		out[name] += intOf(tm["percent"])
	}
	return out
}

func nestedString(obj map[string]any, fields ...string) string {
	s, _, _ := unstructured.NestedString(obj, fields...)
	return s
}

func stringOf(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// intOf reads a JSON number as decoded into an Unstructured.
func intOf(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int:
		return n
	case float64:
		return int(n)
	}
	return 0
}

// timeOf parses an RFC 3339 time of a status; nil when empty or invalid.
func timeOf(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}
