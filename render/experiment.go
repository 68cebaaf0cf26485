package render

import (
	"encoding/json"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Katib and Kubeflow Training names.
const (
	katibAPIVersion    = "kubeflow.org/v1beta1"
	pytorchAPIVersion  = "kubeflow.org/v1"
	trialKindJob       = "Job"
	trialKindPyTorch   = "PyTorchJob"
	trialContainer     = "training-container"
	pytorchContainer   = "pytorch" // the training operator requires this name
	metricsCollector   = "StdOut"
	experimentKeepRuns = defaultKeepRuns
	// Katib reads a Kubeflow training job's conditions with these GJSON
	// expressions; they are also Katib's defaults.
	kubeflowSuccessCondition = `status.conditions.#(type=="Succeeded")#|#(status=="True")#`
	kubeflowFailureCondition = `status.conditions.#(type=="Failed")#|#(status=="True")#`
	// pytorchJobRoleLabel marks a PyTorchJob's master pod, whose metrics
	// Katib collects.
	pytorchJobRoleLabel = "training.kubeflow.org/job-role"
)

// renderExperiment renders an Experiment to a Katib Experiment named after
// it and the hash of the rendered spec: Katib rejects most spec changes, so
// a changed experiment is a new Experiment and the old one is history. The
// name is at most 40 characters, Katib's limit.
func renderExperiment(in kindInput, e *schema.Experiment) []*unstructured.Unstructured {
	spec := experimentSpec(in.Cluster, &e.Spec)
	labels := map[string]string{LabelRunOf: RunOf("experiment", in.Name)}
	annotations := map[string]string{AnnotationKeepRuns: strconv.Itoa(experimentKeepRuns)}
	x := newObject(katibAPIVersion, "Experiment", in.Namespace,
		hashedName(in.Name, contentHash(spec), maxKatibNameLen),
		mergeStrings(in.Labels, labels), mergeStrings(in.Annotations, annotations))
	x.Object["spec"] = spec
	return []*unstructured.Unstructured{x}
}

// experimentSpec returns the Katib Experiment's spec.
func experimentSpec(c *schema.Cluster, e *schema.ExperimentSpec) map[string]any {
	objective := map[string]any{
		"type":                e.Objective.Type,
		"objectiveMetricName": e.Objective.Metric,
	}
	if e.Objective.Goal != nil {
		objective["goal"] = *e.Objective.Goal
	}
	setIf(objective, "additionalMetricNames", anyList(e.Objective.AdditionalMetrics, nil))
	algorithm := map[string]any{"algorithmName": e.Algorithm.Name}
	settings := make([]any, 0, len(e.Algorithm.Settings))
	for _, k := range sortedKeys(e.Algorithm.Settings) {
		settings = append(settings, map[string]any{"name": k, "value": e.Algorithm.Settings[k]})
	}
	setIf(algorithm, "algorithmSettings", settings)
	params := make([]any, len(e.Parameters))
	for i, p := range e.Parameters {
		params[i] = searchParameter(p)
	}
	return map[string]any{
		"objective":            objective,
		"algorithm":            algorithm,
		"parallelTrialCount":   int64(e.Budget.ParallelTrials),
		"maxTrialCount":        int64(e.Budget.MaxTrials),
		"maxFailedTrialCount":  int64(e.Budget.MaxFailedTrials),
		"parameters":           params,
		"metricsCollectorSpec": metricsCollectorSpec(e.Objective),
		"trialTemplate":        trialTemplate(c, e),
	}
}

// searchParameter returns a Katib parameter: a range for double and int,
// a list for categorical and discrete, all values as strings.
func searchParameter(p schema.SearchParameter) map[string]any {
	space := map[string]any{}
	for key, n := range map[string]*json.Number{"min": p.Min, "max": p.Max, "step": p.Step} {
		if n != nil {
			space[key] = n.String()
		}
	}
	if len(p.Values) > 0 {
		list := make([]any, len(p.Values))
		for i, v := range p.Values {
			list[i] = rawText(v)
		}
		space["list"] = list
	}
	return map[string]any{"name": p.Name, "parameterType": p.Type, "feasibleSpace": space}
}

// rawText returns a JSON string's value, or the text of another JSON value.
func rawText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// trialTemplate returns the Katib trial template: the trial's Job or
// PyTorchJob, in which every ${NAME} of a search parameter becomes Katib's
// ${trialParameters.NAME}, and a trial parameter for each search parameter
// the trial uses (Katib rejects one the template does not use).
func trialTemplate(c *schema.Cluster, e *schema.ExperimentSpec) map[string]any {
	subst, used := trialSubstitution(e)
	trialParams := []any{}
	for _, p := range e.Parameters {
		if used[p.Name] {
			trialParams = append(trialParams, map[string]any{"name": p.Name, "reference": p.Name})
		}
	}
	tt := map[string]any{"trialParameters": trialParams}
	if e.Trial.Kind == trialKindPyTorch {
		tt["primaryContainerName"] = pytorchContainer
		tt["trialSpec"] = pytorchTrial(c, e.Trial, subst)
		tt["successCondition"] = kubeflowSuccessCondition
		tt["failureCondition"] = kubeflowFailureCondition
		tt["primaryPodLabels"] = map[string]any{pytorchJobRoleLabel: "master"}
		return tt
	}
	tt["primaryContainerName"] = trialContainer
	tt["trialSpec"] = jobTrial(c, e.Trial, subst)
	return tt
}

// trialSubstitution returns the function that turns ${NAME} into
// ${trialParameters.NAME} for every search parameter, and the parameters
// that the trial's command, args or env use.
func trialSubstitution(e *schema.ExperimentSpec) (func(string) string, map[string]bool) {
	pairs := make([]string, 0, 2*len(e.Parameters))
	for _, p := range e.Parameters {
		pairs = append(pairs, "${"+p.Name+"}", "${trialParameters."+p.Name+"}")
	}
	texts := append(append([]string(nil), e.Trial.Command...), e.Trial.Args...)
	for _, v := range e.Trial.Env {
		texts = append(texts, v)
	}
	used := map[string]bool{}
	for _, p := range e.Parameters {
		for _, s := range texts {
			if strings.Contains(s, "${"+p.Name+"}") {
				used[p.Name] = true
				break
			}
		}
	}
	return strings.NewReplacer(pairs...).Replace, used
}

// trialPodSpec returns the pod spec of a trial, with its one container.
func trialPodSpec(c *schema.Cluster, t schema.Trial, container string, subst func(string) string) map[string]any {
	ctr := map[string]any{"name": container, "image": t.Image}
	setIf(ctr, "command", anyList(t.Command, subst))
	setIf(ctr, "args", anyList(t.Args, subst))
	setIf(ctr, "env", envList(t.Env, subst))
	setIf(ctr, "resources", containerResources(t.Resources))
	spec := map[string]any{"containers": []any{ctr}}
	setNodePool(spec, c, t.NodePool)
	return spec
}

// jobTrial returns a trial as a batch/v1 Job that never restarts its pod.
func jobTrial(c *schema.Cluster, t schema.Trial, subst func(string) string) map[string]any {
	pod := trialPodSpec(c, t, trialContainer, subst)
	pod["restartPolicy"] = "Never"
	return map[string]any{
		"apiVersion": "batch/v1",
		"kind":       trialKindJob,
		"spec":       map[string]any{"template": map[string]any{"spec": pod}},
	}
}

// pytorchTrial returns a trial as a PyTorchJob with one master and, when
// the trial has workers, that many workers.
func pytorchTrial(c *schema.Cluster, t schema.Trial, subst func(string) string) map[string]any {
	replica := func(n int) map[string]any {
		return map[string]any{
			"replicas":      int64(n),
			"restartPolicy": "OnFailure",
			"template":      map[string]any{"spec": trialPodSpec(c, t, pytorchContainer, subst)},
		}
	}
	replicas := map[string]any{"Master": replica(1)}
	if t.Workers > 0 {
		replicas["Worker"] = replica(t.Workers)
	}
	return map[string]any{
		"apiVersion": pytorchAPIVersion,
		"kind":       trialKindPyTorch,
		"spec":       map[string]any{"pytorchReplicaSpecs": replicas},
	}
}

// metricsCollectorSpec collects metrics from the trial's standard output,
// with the objective's metric formats when it sets any.
func metricsCollectorSpec(o schema.Objective) map[string]any {
	spec := map[string]any{"collector": map[string]any{"kind": metricsCollector}}
	if len(o.MetricsFormat) > 0 {
		formats := make([]any, len(o.MetricsFormat))
		for i, f := range o.MetricsFormat {
			formats[i] = f
		}
		spec["source"] = map[string]any{"filter": map[string]any{"metricsFormat": formats}}
	}
	return spec
}
