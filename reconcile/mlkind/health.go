package mlkind

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Status is the health of one object, as kstatus names it.
type Status string

// Statuses. Current and Failed are final ("done", see Status.Done);
// InProgress and Unknown are not.
const (
	// StatusCurrent means the object is ready: its controller has acted on
	// its latest spec, or, for a run, the run has succeeded.
	StatusCurrent Status = "Current"
	// StatusInProgress means the object is on its way: being reconciled,
	// or a run that has not finished.
	StatusInProgress Status = "InProgress"
	// StatusFailed means the object will not become ready without a
	// change: a failed run, a stalled controller, an invalid spec.
	StatusFailed Status = "Failed"
	// StatusUnknown means its health cannot be told: its status is
	// malformed, or the object could not be read.
	StatusUnknown Status = "Unknown"
)

// Done reports whether s is final, so that waiting for the object can
// stop: it is ready (StatusCurrent) or has failed (StatusFailed).
//
// What "done" means depends on the kind, and Health encodes it:
//   - templates and configuration (Argo WorkflowTemplate, CronWorkflow,
//     ConfigMaps, RBAC, quotas) are done once the apiserver accepted them;
//   - runs (Argo Workflow, Katib Experiment, PyTorchJob, TFJob, TrainJob)
//     are done when they finished, successfully or not;
//   - services (KServe InferenceService, Deployments, ...) are done when
//     ready, or failed for a reason that waiting will not fix.
func (s Status) Done() bool { return s == StatusCurrent || s == StatusFailed }

// Kinds with their own health rules, by "group/Kind".
const (
	kindArgoWorkflow         = "argoproj.io/Workflow"
	kindArgoWorkflowTemplate = "argoproj.io/WorkflowTemplate"
	kindArgoClusterTemplate  = "argoproj.io/ClusterWorkflowTemplate"
	kindArgoCronWorkflow     = "argoproj.io/CronWorkflow"
	kindKatibExperiment      = "kubeflow.org/Experiment"
	kindPyTorchJob           = "kubeflow.org/PyTorchJob"
	kindTFJob                = "kubeflow.org/TFJob"
	kindTrainJob             = "trainer.kubeflow.org/TrainJob"
	kindInferenceService     = "serving.kserve.io/InferenceService"
)

// healthRules are the ML-aware rules, by "group/Kind". Every other kind
// goes through kstatus.
var healthRules = map[string]func(*unstructured.Unstructured) (Status, string){
	kindArgoWorkflow:         workflowHealth,
	kindArgoWorkflowTemplate: acceptedHealth,
	kindArgoClusterTemplate:  acceptedHealth,
	kindArgoCronWorkflow:     cronWorkflowHealth,
	kindKatibExperiment:      conditionsHealth("Succeeded", "Failed"),
	kindPyTorchJob:           conditionsHealth("Succeeded", "Failed"),
	kindTFJob:                conditionsHealth("Succeeded", "Failed"),
	kindTrainJob:             conditionsHealth("Complete", "Failed"),
	kindInferenceService:     inferenceServiceHealth,
}

// Health returns the health of obj, as read from the cluster, and a
// message saying why. Argo, Katib, Kubeflow training and KServe kinds
// follow their own rules (see Status.Done); every other kind is judged by
// kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute).
func Health(obj *unstructured.Unstructured) (Status, string) {
	if obj == nil {
		return StatusUnknown, "object not found"
	}
	if ts := obj.GetDeletionTimestamp(); ts != nil {
		return StatusInProgress, "being deleted"
	}
	gvk := obj.GroupVersionKind()
	if rule := healthRules[gvk.Group+"/"+gvk.Kind]; rule != nil {
		return rule(obj)
	}
	return kstatusHealth(obj)
}

// kstatusHealth maps kstatus' result onto Status.
func kstatusHealth(obj *unstructured.Unstructured) (Status, string) {
	res, err := status.Compute(obj)
	if err != nil {
		return StatusUnknown, fmt.Sprintf("status: %v", err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return StatusCurrent, res.Message
	case status.InProgressStatus, status.TerminatingStatus:
		return StatusInProgress, res.Message
	case status.FailedStatus:
		return StatusFailed, res.Message
	default:
		return StatusUnknown, res.Message
	}
}

// acceptedHealth is the rule of templates: stored is ready.
func acceptedHealth(*unstructured.Unstructured) (Status, string) {
	return StatusCurrent, "accepted"
}

// workflowHealth judges an Argo Workflow run by status.phase.
func workflowHealth(obj *unstructured.Unstructured) (Status, string) {
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	msg, _, _ := unstructured.NestedString(obj.Object, "status", "message")
	describe := func(s string) string {
		if msg != "" {
			return s + ": " + msg
		}
		return s
	}
	switch phase {
	case "":
		return StatusInProgress, "not started"
	case "Pending", "Running":
		return StatusInProgress, describe(phase)
	case "Succeeded":
		return StatusCurrent, describe(phase)
	case "Failed", "Error":
		return StatusFailed, describe(phase)
	default:
		return StatusUnknown, describe("unknown phase " + phase)
	}
}

// cronWorkflowHealth: a CronWorkflow is ready once accepted, unless Argo
// reports its spec or its last submission as broken.
func cronWorkflowHealth(obj *unstructured.Unstructured) (Status, string) {
	conds := conditionsOf(obj)
	for _, t := range []string{"SpecError", "SubmissionError"} {
		if c, ok := conds[t]; ok && c.status == "True" {
			return StatusFailed, c.describe()
		}
	}
	return StatusCurrent, "accepted"
}

// conditionsHealth returns the rule of runs that report their end with a
// success and a failure condition: Katib Experiments, Kubeflow training
// jobs, TrainJobs. Anything else, Running included, is in progress.
func conditionsHealth(success, failure string) func(*unstructured.Unstructured) (Status, string) {
	return func(obj *unstructured.Unstructured) (Status, string) {
		c, ok := runCondition(conditionsOf(obj), success, failure)
		switch {
		case !ok:
			return StatusInProgress, "not started"
		case c.typ == failure:
			return StatusFailed, c.describe()
		case c.typ == success:
			return StatusCurrent, c.describe()
		default:
			return StatusInProgress, c.describe()
		}
	}
}

// runCondition is the True condition a run is judged by: its failure,
// else its success, else the first of Running, Restarting, Suspended and
// Created. Katib (Experiment.MarkExperimentStatusSucceeded/Failed) and the
// Kubeflow training operators set Running False when a run ends, and a
// restart removes Succeeded and Failed, so at most one of these is True in
// practice; the order decides when a status says otherwise.
func runCondition(conds map[string]condition, success, failure string) (condition, bool) {
	for _, t := range []string{failure, success, "Running", "Restarting", "Suspended", "Created"} {
		if c, ok := conds[t]; ok && c.status == "True" {
			return c, true
		}
	}
	return condition{}, false
}

// KServe's marks of an InferenceService that will not become ready without
// a change of its spec (kserve pkg/apis/serving/v1beta1,
// inference_service_status.go): the model transition states a failed load
// or an invalid spec leave (UpdateModelRevisionStates(FailedToLoad),
// UpdateModelTransitionStatus(InvalidSpec)), and the reasons of a False
// Ready condition that say the latest revision or deployment gave up
// (Knative's RevisionFailed, a Deployment's ProgressDeadlineExceeded). Any
// other False Ready (RevisionMissing, a rollout in progress) is waited on.
var (
	isvcFailedTransitions = map[string]bool{"BlockedByFailedLoad": true, "InvalidSpec": true}
	isvcFailedReadyReason = map[string]bool{"RevisionFailed": true, "ProgressDeadlineExceeded": true}
)

// inferenceServiceHealth judges a KServe InferenceService by its model
// transition status and its Ready condition, once KServe has observed its
// latest generation.
func inferenceServiceHealth(obj *unstructured.Unstructured) (Status, string) {
	if gen, ok := observedGenerationLag(obj); ok {
		return StatusInProgress, gen
	}
	transition, _, _ := unstructured.NestedString(obj.Object, "status", "modelStatus", "transitionStatus")
	if isvcFailedTransitions[transition] {
		msg := "model " + transition
		failure, _, _ := unstructured.NestedMap(obj.Object, "status", "modelStatus", "lastFailureInfo")
		for _, k := range []string{"reason", "message"} {
			if v := str(failure, k); v != "" {
				msg += ": " + v
			}
		}
		return StatusFailed, msg
	}
	ready, ok := conditionsOf(obj)["Ready"]
	switch {
	case !ok:
		return StatusInProgress, "no Ready condition yet"
	case ready.status == "True":
		return StatusCurrent, ready.describe()
	case ready.status == "False" && isvcFailedReadyReason[ready.reason]:
		return StatusFailed, ready.describe()
	default:
		return StatusInProgress, ready.describe()
	}
}

// observedGenerationLag says whether the controller has not yet seen the
// object's latest generation, and how far behind it is.
func observedGenerationLag(obj *unstructured.Unstructured) (string, bool) {
	observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if err != nil || !found || obj.GetGeneration() == 0 || observed == obj.GetGeneration() {
		return "", false
	}
	return fmt.Sprintf("generation %d not observed yet (observed %d)", obj.GetGeneration(), observed), true
}

// condition is one entry of status.conditions.
type condition struct {
	typ, status, reason, message string
}

// describe is "Type: Reason: message", leaving out what is empty.
func (c condition) describe() string {
	parts := []string{c.typ}
	for _, p := range []string{c.reason, c.message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// conditionsOf returns status.conditions by type; malformed entries are
// skipped.
func conditionsOf(obj *unstructured.Unstructured) map[string]condition {
	list, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	out := make(map[string]condition, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		c := condition{typ: str("type"), status: str("status"), reason: str("reason"), message: str("message")}
		if c.typ != "" {
			out[c.typ] = c
		}
	}
	return out
}
