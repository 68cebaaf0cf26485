package mlkind

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Kinds Observe follows as runs or endpoints, by "group/Kind".
var followed = map[string]func(*unstructured.Unstructured) Observation{
	kindArgoWorkflow:     observeWorkflow,
	kindKatibExperiment:  observeExperiment,
	kindInferenceService: observeInferenceService,
}

// Phases Observe gives an object besides those its controller reports.
const (
	// PhasePending is the phase of a run its controller has not started.
	PhasePending = "Pending"
	// PhaseUnknown is the phase of an object that could not be read or
	// is not of a followed kind.
	PhaseUnknown = "Unknown"
	// PhaseReady, PhaseNotReady and PhaseFailed are the phases of an
	// InferenceService.
	PhaseReady    = "Ready"
	PhaseNotReady = "NotReady"
	PhaseFailed   = "Failed"
)

// Observation is what a run or an endpoint reports of itself: its phase,
// times, outputs and, for an endpoint, where it serves.
type Observation struct {
	Phase    string
	Message  string
	Started  *time.Time
	Finished *time.Time
	// Nodes counts a Workflow's nodes by phase.
	Nodes map[string]int
	// Outputs are a Workflow's output parameters and artifacts, or an
	// Experiment's optimal trial's parameters and metrics.
	Outputs []Output
	// URL, ModelURI and Traffic describe an InferenceService.
	URL      string
	ModelURI string
	Traffic  map[string]int
	// Done is Health(obj).Done(): the run ended, or the endpoint is ready
	// or failed for good.
	Done bool
}

// Followable reports whether Observe describes objects of group and kind:
// Argo Workflows, Katib Experiments and KServe InferenceServices.
func Followable(group, kind string) bool {
	return followed[group+"/"+kind] != nil
}

// Observe describes obj, as read from the cluster. Whether it is Done is
// always Health's verdict, so that waiting and following agree:
//   - an Argo Workflow by status.phase (Pending until Argo sets one): its
//     times, its nodes counted by phase and the outputs of its Pod nodes;
//   - a Katib Experiment by its conditions (see Health; Pending when none
//     is True): its times and its optimal trial's parameters and metrics;
//   - a KServe InferenceService as Ready, NotReady or Failed (see Health):
//     its URL, model URI and traffic split.
//
// Any other kind has phase Unknown and is Done.
func Observe(obj *unstructured.Unstructured) Observation {
	gvk := obj.GroupVersionKind()
	observe := followed[gvk.Group+"/"+gvk.Kind]
	if observe == nil {
		return Observation{Phase: PhaseUnknown, Message: "not a kind trellis follows", Done: true}
	}
	o := observe(obj)
	health, _ := Health(obj)
	o.Done = health.Done()
	return o
}

// observeWorkflow describes an Argo Workflow.
func observeWorkflow(obj *unstructured.Unstructured) Observation {
	o := Observation{Phase: nestedString(obj.Object, "status", "phase")}
	if o.Phase == "" {
		o.Phase = PhasePending
	}
	o.Message = nestedString(obj.Object, "status", "message")
	o.Started = timeOf(nestedString(obj.Object, "status", "startedAt"))
	if t := WorkflowFinished(obj); !t.IsZero() {
		t = t.UTC()
		o.Finished = &t
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
		if o.Nodes == nil {
			o.Nodes = map[string]int{}
		}
		o.Nodes[phase]++
	}
	o.Outputs = WorkflowOutputs(obj)
	return o
}

// observeExperiment describes a Katib Experiment: its phase is the
// condition Health judges it by.
func observeExperiment(obj *unstructured.Unstructured) Observation {
	o := Observation{Phase: PhasePending}
	if c, ok := runCondition(conditionsOf(obj), "Succeeded", "Failed"); ok {
		o.Phase, o.Message = c.typ, c.message
	}
	o.Started = timeOf(nestedString(obj.Object, "status", "startTime"))
	o.Finished = timeOf(nestedString(obj.Object, "status", "completionTime"))
	o.Outputs = OptimalTrial(obj)
	return o
}

// OptimalTrial returns the parameters and metrics of a Katib Experiment's
// status.currentOptimalTrial, the step being the trial's name. A metric's
// value is its latest, else its min, else its max.
func OptimalTrial(obj *unstructured.Unstructured) []Output {
	best, _, _ := unstructured.NestedMap(obj.Object, "status", "currentOptimalTrial")
	step, _ := best["bestTrialName"].(string)
	var out []Output
	params, _, _ := unstructured.NestedSlice(best, "parameterAssignments")
	for _, p := range params {
		if pm, ok := p.(map[string]any); ok {
			out = append(out, Output{Step: step, Kind: OutputParameter, Name: str(pm, "name"), Value: str(pm, "value")})
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
			if value = str(mm, k); value != "" {
				break
			}
		}
		out = append(out, Output{Step: step, Kind: OutputMetric, Name: str(mm, "name"), Value: value})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// observeInferenceService describes a KServe InferenceService: Ready,
// Failed or NotReady as Health judges it, with Health's message unless
// ready.
func observeInferenceService(obj *unstructured.Unstructured) Observation {
	o := Observation{
		URL:      nestedString(obj.Object, "status", "url"),
		ModelURI: modelURI(obj),
		Traffic:  traffic(obj),
	}
	status, msg := inferenceServiceHealth(obj)
	switch status {
	case StatusCurrent:
		o.Phase = PhaseReady
	case StatusFailed:
		o.Phase, o.Message = PhaseFailed, msg
	default:
		o.Phase, o.Message = PhaseNotReady, msg
	}
	return o
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
		if m, ok := predictor[k].(map[string]any); ok && str(m, "storageUri") != "" {
			return str(m, "storageUri")
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
		name := str(tm, "tag")
		if name == "" {
			name = str(tm, "revisionName")
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
