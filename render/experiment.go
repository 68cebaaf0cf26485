package render

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Katib and Kubeflow Training names.
const (
	katibAPIVersion   = "kubeflow.org/v1beta1"
	pytorchAPIVersion = "kubeflow.org/v1"
	trialKindJob      = "Job"
	trialKindPyTorch  = "PyTorchJob"
	trialKindTF       = "TFJob"
	trialKindTrainJob = "TrainJob"
	trialKindMPI      = "MPIJob"
	mpiLauncher       = "mpi-launcher"
	mpiWorker         = "mpi-worker"
	// mpiJobRoleLabel marks an MPIJob's launcher pod, whose metrics Katib
	// collects (katib v0.19.0 examples/v1beta1/kubeflow-training-operator/mpijob-horovod.yaml).
	mpiJobRoleLabel    = "mpi-job-role"
	trainerAPIVersion  = "trainer.kubeflow.org/v1alpha1"
	trainJobContainer  = "node"       // the container of a TrainJob's node pods
	tfContainer        = "tensorflow" // the training operator requires this name
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
	// tfReplicaTypeLabel marks a TFJob's pods with their replica type;
	// a TFJob trial's metrics are collected from its workers.
	tfReplicaTypeLabel = "training.kubeflow.org/replica-type"
)

// renderExperiment renders an Experiment to a Katib Experiment named after
// it and the hash of the rendered spec: Katib rejects most spec changes, so
// a changed experiment is a new Experiment and the old one is history. The
// name is at most 40 characters, Katib's limit.
func renderExperiment(in kindInput, e *schema.Experiment) []*unstructured.Unstructured {
	spec := experimentSpec(in.Cluster, &e.Spec, defaultLimits(in))
	mergeUpstream(spec, e.Spec.Upstream)
	labels := map[string]string{LabelRunOf: RunOf("experiment", in.Name)}
	annotations := map[string]string{AnnotationKeepRuns: strconv.Itoa(experimentKeepRuns)}
	x := newObject(katibAPIVersion, "Experiment", in.Namespace,
		hashedName(in.Name, contentHash(spec), maxKatibNameLen),
		mergeStrings(in.Labels, labels), mergeStrings(in.Annotations, annotations))
	x.Object["spec"] = spec
	return []*unstructured.Unstructured{x}
}

// experimentSpec returns the Katib Experiment's spec.
func experimentSpec(c *schema.Cluster, e *schema.ExperimentSpec, defaults *schema.Resources) map[string]any {
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
	strategies := make([]any, 0, len(e.Objective.Strategies))
	for _, name := range sortedKeys(e.Objective.Strategies) {
		strategies = append(strategies, map[string]any{"name": name, "value": e.Objective.Strategies[name]})
	}
	setIf(objective, "metricStrategies", strategies)
	spec := map[string]any{
		"objective":            objective,
		"algorithm":            algorithm,
		"parallelTrialCount":   int64(e.Budget.ParallelTrials),
		"maxTrialCount":        int64(e.Budget.MaxTrials),
		"maxFailedTrialCount":  int64(e.Budget.MaxFailedTrials),
		"parameters":           params,
		"metricsCollectorSpec": metricsCollectorSpec(e.Objective),
		"trialTemplate":        trialTemplate(c, e, defaults),
	}
	if es := e.EarlyStopping; es != nil {
		early := map[string]any{"algorithmName": es.Algorithm}
		settings := make([]any, 0, len(es.Settings))
		for _, k := range sortedKeys(es.Settings) {
			settings = append(settings, map[string]any{"name": k, "value": es.Settings[k]})
		}
		setIf(early, "algorithmSettings", settings)
		spec["earlyStopping"] = early
	}
	setIf(spec, "resumePolicy", e.ResumePolicy)
	return spec
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
	setIf(space, "distribution", p.Distribution)
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
// ${trialParameters.NAME} and every ${trialSpec.KEY} of trial metadata
// ${trialParameters.trialSpec.KEY}, with a trial parameter for each.
//
// Katib builds a trial only when every search parameter is a trial
// parameter (katib v0.19.0
// pkg/controller.v1beta1/experiment/manifest/generator.go, applyParameters:
// "number of parameter assignments must equal the number of non-meta trial
// parameters"), and its webhook rejects a trial parameter the template does
// not use (pkg/webhook/v1beta1/experiment/validator/validator.go); validate
// refuses a search parameter the trial does not use, so both hold.
func trialTemplate(c *schema.Cluster, e *schema.ExperimentSpec, defaults *schema.Resources) map[string]any {
	tt := trialTemplateOf(c, e, defaults)
	meta := map[string]any{}
	if len(e.Trial.Labels) > 0 {
		meta["labels"] = stringMap(e.Trial.Labels)
	}
	if len(e.Trial.Annotations) > 0 {
		meta["annotations"] = stringMap(e.Trial.Annotations)
	}
	if len(meta) > 0 {
		tt["trialSpec"].(map[string]any)["metadata"] = meta
	}
	return tt
}

// trialTemplateOf returns the trial template by the trial's kind.
func trialTemplateOf(c *schema.Cluster, e *schema.ExperimentSpec, defaults *schema.Resources) map[string]any {
	t := trialSubstitution(e)
	tt := map[string]any{"trialParameters": t.params}
	if e.Trial.Retain {
		tt["retain"] = true
	}
	switch e.Trial.Kind {
	case trialKindTF:
		tt["primaryContainerName"] = tfContainer
		tt["trialSpec"] = tfTrial(c, e.Trial, t.subst, defaults)
		tt["successCondition"] = kubeflowSuccessCondition
		tt["failureCondition"] = kubeflowFailureCondition
		tt["primaryPodLabels"] = map[string]any{tfReplicaTypeLabel: "worker"}
		return tt
	case trialKindMPI:
		tt["primaryContainerName"] = mpiLauncher
		tt["trialSpec"] = mpiTrial(c, e.Trial, t.subst, defaults)
		tt["successCondition"] = kubeflowSuccessCondition
		tt["failureCondition"] = kubeflowFailureCondition
		tt["primaryPodLabels"] = map[string]any{mpiJobRoleLabel: "launcher"}
		return tt
	case trialKindTrainJob:
		// Katib's defaults for a TrainJob (katib v0.19.0
		// pkg/apis/controller/experiments/v1beta1/constants.go), written out.
		tt["primaryContainerName"] = trainJobContainer
		tt["trialSpec"] = trainJobTrial(e.Trial, t.subst, defaults)
		tt["successCondition"] = `status.conditions.#(type=="Complete")#|#(status=="True")#`
		tt["failureCondition"] = kubeflowFailureCondition
		tt["primaryPodLabels"] = map[string]any{
			"jobset.sigs.k8s.io/replicatedjob-name":    "node",
			"batch.kubernetes.io/job-completion-index": "0",
		}
		return tt
	case trialKindPyTorch:
		tt["primaryContainerName"] = pytorchContainer
		tt["trialSpec"] = pytorchTrial(c, e.Trial, t.subst, defaults)
		tt["successCondition"] = kubeflowSuccessCondition
		tt["failureCondition"] = kubeflowFailureCondition
		tt["primaryPodLabels"] = map[string]any{pytorchJobRoleLabel: "master"}
		return tt
	}
	tt["primaryContainerName"] = trialContainer
	tt["trialSpec"] = jobTrial(c, e.Trial, t.subst, defaults)
	return tt
}

// trialMetaKeys are the trial metadata Katib fills in for ${trialSpec.KEY}
// in a trial template (katib v0.19.0 pkg/controller.v1beta1/consts/const.go,
// TrialTemplateMetaKeyOf*). Labels[KEY] and Annotations[KEY] read the
// trial's labels and annotations (see trialMetaMapRefs).
var trialMetaKeys = []string{"Name", "Namespace", "Kind", "APIVersion"}

// trialMetaPrefix is the prefix of trial metadata references, and of the
// trial parameters that carry them.
const trialMetaPrefix = "trialSpec."

// substitution is how a trial's texts become a Katib trial template.
type substitution struct {
	subst  func(string) string // ${NAME} -> ${trialParameters.NAME}
	params []any               // Katib's trialParameters, for what the trial uses
}

// trialSubstitution returns the trial's substitution: every search parameter
// and trial metadata key that the trial's texts use, as ${NAME} or
// ${trialSpec.KEY}.
func trialSubstitution(e *schema.ExperimentSpec) substitution {
	uses := trialUses(e.Trial)
	pairs := []string{}
	params := []any{}
	use := func(name, reference string) {
		if !uses(name) {
			return
		}
		pairs = append(pairs, "${"+name+"}", "${trialParameters."+name+"}")
		params = append(params, map[string]any{"name": name, "reference": reference})
	}
	for _, p := range e.Parameters {
		use(p.Name, p.Name)
	}
	for _, key := range trialMetaKeys {
		use(trialMetaPrefix+key, "${"+trialMetaPrefix+key+"}")
	}
	for _, ref := range trialMetaMapRefs(e.Trial) {
		// Katib's trial parameter names are plain: Labels[k] becomes Labels.k.
		name := strings.TrimSuffix(strings.Replace(ref, "[", ".", 1), "]")
		pairs = append(pairs, "${"+ref+"}", "${trialParameters."+name+"}")
		params = append(params, map[string]any{"name": name, "reference": "${" + ref + "}"})
	}
	return substitution{subst: strings.NewReplacer(pairs...).Replace, params: params}
}

// trialMetaMapPattern matches a reference to a label or annotation of the
// trial's job: trialSpec.Labels[KEY] or trialSpec.Annotations[KEY].
var trialMetaMapPattern = regexp.MustCompile(`^trialSpec\.(Labels|Annotations)\[[^\]]+\]$`)

// trialMetaMapRefs returns the label and annotation references the trial's
// texts use, without ${ }, sorted.
func trialMetaMapRefs(t schema.Trial) []string {
	seen := map[string]bool{}
	for _, text := range trialTexts(t) {
		for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
			if trialMetaMapPattern.MatchString(m[1]) {
				seen[m[1]] = true
			}
		}
	}
	return sortedKeys(seen)
}

// trialUses returns whether the trial uses ${name} anywhere it is replaced.
func trialUses(t schema.Trial) func(name string) bool {
	texts := strings.Join(trialTexts(t), "\x00")
	return func(name string) bool { return strings.Contains(texts, "${"+name+"}") }
}

// trialTexts returns the texts of a trial in which ${NAME} is replaced: its
// image, command, args and env values.
func trialTexts(t schema.Trial) []string {
	texts := append([]string{t.Image}, t.Command...)
	texts = append(texts, t.Args...)
	for _, k := range sortedKeys(t.Env) {
		texts = append(texts, t.Env[k])
	}
	return texts
}

// trialPodSpec returns the pod spec of a trial, with its one container.
func trialPodSpec(c *schema.Cluster, t schema.Trial, container string, subst func(string) string, defaults *schema.Resources) map[string]any {
	ctr := map[string]any{"name": container, "image": subst(t.Image)}
	setIf(ctr, "command", anyList(t.Command, subst))
	setIf(ctr, "args", anyList(t.Args, subst))
	setIf(ctr, "env", containerEnv(t.Env, t.EnvRefs, subst))
	setIf(ctr, "resources", containerResources(t.Resources, defaults))
	volumes, mounts := podVolumes(t.Volumes)
	setIf(ctr, "volumeMounts", mounts)
	spec := map[string]any{"containers": []any{ctr}}
	setIf(spec, "volumes", volumes)
	setNodePool(spec, c, t.NodePool)
	return spec
}

// jobTrial returns a trial as a batch/v1 Job that never restarts its pod.
func jobTrial(c *schema.Cluster, t schema.Trial, subst func(string) string, defaults *schema.Resources) map[string]any {
	pod := trialPodSpec(c, t, trialContainer, subst, defaults)
	pod["restartPolicy"] = "Never"
	return map[string]any{
		"apiVersion": "batch/v1",
		"kind":       trialKindJob,
		"spec":       map[string]any{"template": map[string]any{"spec": pod}},
	}
}

// pytorchTrial returns a trial as a PyTorchJob with one master and, when
// the trial has workers, that many workers.
func pytorchTrial(c *schema.Cluster, t schema.Trial, subst func(string) string, defaults *schema.Resources) map[string]any {
	replica := func(n int) map[string]any {
		return map[string]any{
			"replicas":      int64(n),
			"restartPolicy": "OnFailure",
			"template":      map[string]any{"spec": trialPodSpec(c, t, pytorchContainer, subst, defaults)},
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

// tfTrial returns a trial as a TFJob of workers.
func tfTrial(c *schema.Cluster, t schema.Trial, subst func(string) string, defaults *schema.Resources) map[string]any {
	worker := map[string]any{
		"replicas":      int64(t.Workers),
		"restartPolicy": "OnFailure",
		"template":      map[string]any{"spec": trialPodSpec(c, t, tfContainer, subst, defaults)},
	}
	return map[string]any{
		"apiVersion": pytorchAPIVersion,
		"kind":       trialKindTF,
		"spec":       map[string]any{"tfReplicaSpecs": map[string]any{"Worker": worker}},
	}
}

// mpiTrial returns a trial as an MPIJob: a launcher that runs the trial's
// command (mpirun) and workers that run its image, one slot each; the
// workers are deleted once the launcher ends (cleanPodPolicy Running).
func mpiTrial(c *schema.Cluster, t schema.Trial, subst func(string) string, defaults *schema.Resources) map[string]any {
	worker := t
	worker.Command, worker.Args = nil, nil
	if t.WorkerResources != nil {
		worker.Resources = t.WorkerResources
	}
	return map[string]any{
		"apiVersion": pytorchAPIVersion,
		"kind":       trialKindMPI,
		"spec": map[string]any{
			"slotsPerWorker": int64(1),
			"cleanPodPolicy": "Running",
			"mpiReplicaSpecs": map[string]any{
				"Launcher": map[string]any{
					"replicas": int64(1),
					"template": map[string]any{"spec": trialPodSpec(c, t, mpiLauncher, subst, defaults)},
				},
				"Worker": map[string]any{
					"replicas": int64(t.Workers),
					"template": map[string]any{"spec": trialPodSpec(c, worker, mpiWorker, subst, defaults)},
				},
			},
		},
	}
}

// trainJobTrial returns a trial as a Kubeflow Trainer TrainJob of the
// trial's runtime, with workers nodes. A TrainJob sets no pod spec of its
// own: node pools and volumes are the runtime's.
func trainJobTrial(t schema.Trial, subst func(string) string, defaults *schema.Resources) map[string]any {
	trainer := map[string]any{"numNodes": int64(t.Workers), "image": subst(t.Image)}
	setIf(trainer, "command", anyList(t.Command, subst))
	setIf(trainer, "args", anyList(t.Args, subst))
	setIf(trainer, "env", containerEnv(t.Env, t.EnvRefs, subst))
	setIf(trainer, "resourcesPerNode", containerResources(t.Resources, defaults))
	return map[string]any{
		"apiVersion": trainerAPIVersion,
		"kind":       trialKindTrainJob,
		"spec": map[string]any{
			"runtimeRef": map[string]any{"name": t.Runtime},
			"trainer":    trainer,
		},
	}
}

// metricsCollectorSpec says where Katib finds the metrics: the trial's
// standard output unless the objective's collector says otherwise, read
// with the objective's metric formats when it sets any.
func metricsCollectorSpec(o schema.Objective) map[string]any {
	mc := schema.MetricsCollector{Kind: metricsCollector}
	if o.Collector != nil {
		mc = *o.Collector
	}
	spec := map[string]any{"collector": map[string]any{"kind": mc.Kind}}
	source := map[string]any{}
	if len(o.MetricsFormat) > 0 {
		source["filter"] = map[string]any{"metricsFormat": anyList(o.MetricsFormat, nil)}
	}
	switch mc.Kind {
	case "File":
		fs := map[string]any{"path": mc.Path, "kind": "File"}
		setIf(fs, "format", mc.Format)
		source["fileSystemPath"] = fs
	case "TensorFlowEvent":
		source["fileSystemPath"] = map[string]any{"path": mc.Path, "kind": "Directory"}
	case "Prometheus":
		source["httpGet"] = map[string]any{"port": int64(mc.Port), "path": mc.Path}
	}
	setIf(spec, "source", source)
	return spec
}
