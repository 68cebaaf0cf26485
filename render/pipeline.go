package render

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Argo Workflows names.
const (
	argoAPIVersion = "argoproj.io/v1alpha1"
	// dagTemplate is the entrypoint template, the pipeline's DAG.
	dagTemplate = "main"
	// exitTemplate is the DAG of the pipeline's onExit steps.
	exitTemplate = "exit-handler"
	// defaultKeepRuns is how many runs are kept when nothing says.
	defaultKeepRuns = 5
	// defaultTimezone is the time zone of a schedule that names none.
	defaultTimezone = "UTC"
)

// renderPipeline renders a Pipeline to an Argo WorkflowTemplate named
// after it; a CronWorkflow of the same name when it has a schedule; and,
// when runOnChange is set, a Workflow run named after the pipeline and the
// hash of the template's spec, so that a changed template or parameter
// makes a new run and an unchanged one the same run.
func renderPipeline(in kindInput, p *schema.Pipeline) []*unstructured.Unstructured {
	out, hash := pipelineTemplates(in, p)
	if p.Spec.RunOnChange {
		out = append(out, pipelineRun(in, &p.Spec, hash, out[0]))
	}
	return out
}

// pipelineTemplates renders what of a Pipeline does not depend on the
// revision: the WorkflowTemplate and the CronWorkflow, and the hash of
// the template's spec that names a run ("" without runOnChange).
func pipelineTemplates(in kindInput, p *schema.Pipeline) ([]*unstructured.Unstructured, string) {
	wt := newObject(argoAPIVersion, "WorkflowTemplate", in.Namespace, in.Name, in.Labels, in.Annotations)
	spec := workflowTemplateSpec(in.Cluster, &p.Spec, defaultLimits(in))
	mergeUpstream(spec, p.Spec.Upstream)
	wt.Object["spec"] = spec
	out := []*unstructured.Unstructured{wt}
	if p.Spec.Schedule != "" {
		out = append(out, cronWorkflow(in, &p.Spec))
	}
	hash := ""
	if p.Spec.RunOnChange {
		hash = contentHash(wt.Object["spec"])
	}
	return out, hash
}

// workflowTemplateSpec returns the WorkflowTemplate's spec: the DAG as
// entrypoint, then one container template per step, then the exit
// handler's DAG and its steps' templates, and the run's options.
func workflowTemplateSpec(c *schema.Cluster, p *schema.PipelineSpec, defaults *schema.Resources) map[string]any {
	params := newPipelineParams(p)
	templates := []any{dagOf(dagTemplate, p.Steps, params)}
	templates = append(templates, stepTemplates(c, p.Steps, params, defaults)...)
	spec := map[string]any{"entrypoint": dagTemplate}
	if len(p.OnExit) > 0 {
		templates = append(templates, dagOf(exitTemplate, p.OnExit, params))
		templates = append(templates, stepTemplates(c, p.OnExit, params, defaults)...)
		spec["onExit"] = exitTemplate
	}
	spec["templates"] = templates
	setIf(spec, "arguments", params.arguments)
	setIf(spec, "serviceAccountName", p.ServiceAccountName)
	if secs, ok := durationSeconds(p.Timeout); ok {
		spec["activeDeadlineSeconds"] = secs
	}
	setRunOptions(spec, p)
	return spec
}

// dagOf returns a DAG template named name with a task per step.
func dagOf(name string, steps []schema.Step, params *pipelineParams) map[string]any {
	tasks := make([]any, len(steps))
	for i, s := range steps {
		task := dagTask(s, params)
		mergeUpstream(task, s.Task)
		tasks[i] = task
	}
	return map[string]any{"name": name, "dag": map[string]any{"tasks": tasks}}
}

// stepTemplates returns the template of each step.
func stepTemplates(c *schema.Cluster, steps []schema.Step, params *pipelineParams, defaults *schema.Resources) []any {
	out := make([]any, len(steps))
	for i, s := range steps {
		tmpl := stepTemplate(c, s, params, defaults)
		mergeUpstream(tmpl, s.Upstream)
		out[i] = tmpl
	}
	return out
}

// setRunOptions sets the run's volumes, pod garbage collection, TTL and
// parallelism on a WorkflowTemplate's spec.
func setRunOptions(spec map[string]any, p *schema.PipelineSpec) {
	var volumes, claims []any
	for _, v := range p.Volumes {
		if t := v.ClaimTemplate; t != nil {
			claim := map[string]any{
				"accessModes": anyList(t.AccessModes, nil),
				"resources":   map[string]any{"requests": map[string]any{"storage": quantity(t.Storage)}},
			}
			setIf(claim, "storageClassName", t.StorageClassName)
			claims = append(claims, map[string]any{"metadata": map[string]any{"name": v.Name}, "spec": claim})
			continue
		}
		volumes = append(volumes, volume(v.VolumeSource))
	}
	setIf(spec, "volumes", volumes)
	setIf(spec, "volumeClaimTemplates", claims)
	if gc := p.PodGC; gc != nil {
		pgc := map[string]any{"strategy": gc.Strategy}
		setIf(pgc, "deleteDelayDuration", gc.DeleteDelay)
		spec["podGC"] = pgc
	}
	if ttl := p.TTL; ttl != nil {
		strategy := map[string]any{}
		for key, d := range map[string]string{
			"secondsAfterCompletion": ttl.AfterCompletion,
			"secondsAfterSuccess":    ttl.AfterSuccess,
			"secondsAfterFailure":    ttl.AfterFailure,
		} {
			if secs, ok := durationSeconds(d); ok {
				strategy[key] = secs
			}
		}
		setIf(spec, "ttlStrategy", strategy)
	}
	if p.Parallelism > 0 {
		spec["parallelism"] = int64(p.Parallelism)
	}
}

// pipelineParams are a pipeline's parameter names, and what every step's
// template and DAG task declares for them, made once per pipeline and
// shared by its objects (a rendered object is never changed: see Cache).
type pipelineParams struct {
	names []string
	// arguments are the pipeline's parameters with their default values,
	// sorted by name, as Argo arguments, or nil when there are none.
	arguments map[string]any
	// inputs and args are, by name, a template's input parameter and a
	// task's argument passing the pipeline's parameter.
	inputs, args map[string]any
}

func newPipelineParams(p *schema.PipelineSpec) *pipelineParams {
	pp := &pipelineParams{names: sortedKeys(p.Parameters), inputs: map[string]any{}, args: map[string]any{}}
	if len(pp.names) == 0 {
		return pp
	}
	list := make([]any, len(pp.names))
	for i, name := range pp.names {
		list[i] = map[string]any{"name": name, "value": string(p.Parameters[name])}
		pp.inputs[name] = map[string]any{"name": name}
		pp.args[name] = map[string]any{"name": name, "value": "{{workflow.parameters." + name + "}}"}
	}
	pp.arguments = map[string]any{"parameters": list}
	return pp
}

// input is the input parameter name of a step's template.
func (pp *pipelineParams) input(name string) any {
	if e, ok := pp.inputs[name]; ok {
		return e
	}
	return map[string]any{"name": name}
}

// arg is the argument of a task passing the pipeline's parameter name.
func (pp *pipelineParams) arg(name string) any {
	if e, ok := pp.args[name]; ok {
		return e
	}
	return map[string]any{"name": name, "value": "{{workflow.parameters." + name + "}}"}
}

// dagTask returns the DAG task of a step: it depends on depends, or on
// dependsOn and the steps whose artifacts it takes; it passes every
// pipeline parameter, the step's own arguments and its input artifacts to
// the step's template; and it carries the step's condition, loop and
// continueOn.
func dagTask(s schema.Step, params *pipelineParams) map[string]any {
	task := map[string]any{"name": s.Name, "template": StepTemplatePrefix + s.Name}
	if s.Depends != "" {
		task["depends"] = s.Depends
	} else {
		setIf(task, "dependencies", anyList(stepDependencies(s), nil))
	}
	args := map[string]any{}
	names := stepParams(s, params.names)
	paramArgs := make([]any, 0, len(names))
	for _, name := range names {
		if v, own := s.Arguments[name]; own {
			paramArgs = append(paramArgs, map[string]any{"name": name, "value": string(v)})
		} else {
			paramArgs = append(paramArgs, params.arg(name))
		}
	}
	setIf(args, "parameters", paramArgs)
	artifacts := make([]any, len(s.Inputs))
	for i, a := range s.Inputs {
		step, artifact, _ := strings.Cut(a.From, ".")
		artifacts[i] = map[string]any{
			"name": a.Name,
			"from": "{{tasks." + step + ".outputs.artifacts." + artifact + "}}",
		}
	}
	setIf(args, "artifacts", artifacts)
	setIf(task, "arguments", args)
	setIf(task, "when", s.When)
	if len(s.WithItems) > 0 {
		task["withItems"] = normalized(s.WithItems)
	}
	setIf(task, "withParam", s.WithParam)
	if co := s.ContinueOn; co != nil && (co.Failed || co.Error) {
		on := map[string]any{}
		if co.Failed {
			on["failed"] = true
		}
		if co.Error {
			on["error"] = true
		}
		task["continueOn"] = on
	}
	return task
}

// stepParams returns the names of a step's input parameters: the
// pipeline's and its own arguments, sorted.
func stepParams(s schema.Step, params []string) []string {
	names := map[string]bool{}
	for _, p := range params {
		names[p] = true
	}
	for p := range s.Arguments {
		names[p] = true
	}
	return sortedKeys(names)
}

// stepDependencies returns dependsOn followed by the producers of the
// step's input artifacts that dependsOn leaves out, without duplicates:
// Argo resolves {{tasks.STEP...}} only for tasks the step depends on.
func stepDependencies(s schema.Step) []string {
	seen := map[string]bool{}
	var deps []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			deps = append(deps, name)
		}
	}
	for _, d := range s.DependsOn {
		add(d)
	}
	for _, a := range s.Inputs {
		step, _, _ := strings.Cut(a.From, ".")
		add(step)
	}
	return deps
}

// stepTemplate returns the container (or script) template of a step. It
// declares every pipeline parameter and step argument as an input, so that
// {{inputs.parameters.NAME}} works in command, args, source and env.
func stepTemplate(c *schema.Cluster, s schema.Step, params *pipelineParams, defaults *schema.Resources) map[string]any {
	container := map[string]any{"image": s.Image}
	setIf(container, "command", anyList(s.Command, nil))
	setIf(container, "args", anyList(s.Args, nil))
	setIf(container, "env", containerEnv(s.Env, s.EnvRefs, nil))
	setIf(container, "resources", containerResources(s.Resources, defaults))
	setIf(container, "volumeMounts", volumeMounts(s.Mounts))
	tmpl := map[string]any{"name": StepTemplatePrefix + s.Name}
	inputs := map[string]any{}
	names := stepParams(s, params.names)
	inParams := make([]any, len(names))
	for i, name := range names {
		inParams[i] = params.input(name)
	}
	setIf(inputs, "parameters", inParams)
	inArtifacts := make([]any, len(s.Inputs))
	for i, a := range s.Inputs {
		inArtifacts[i] = map[string]any{"name": a.Name, "path": a.Path}
	}
	setIf(inputs, "artifacts", inArtifacts)
	setIf(tmpl, "inputs", inputs)
	setIf(tmpl, "outputs", stepOutputs(s.Outputs))
	if s.Source != "" {
		container["source"] = s.Source
		tmpl["script"] = container
	} else {
		tmpl["container"] = container
	}
	setIf(tmpl, "sidecars", containers(s.Sidecars, defaults))
	setIf(tmpl, "initContainers", containers(s.InitContainers, defaults))
	setNodePool(tmpl, c, s.NodePool)
	setIf(tmpl, "retryStrategy", retryStrategy(s))
	if secs, ok := durationSeconds(s.Timeout); ok {
		tmpl["activeDeadlineSeconds"] = secs
	}
	return tmpl
}

// retryStrategy returns a step's retryStrategy, or nil when it is not
// retried.
func retryStrategy(s schema.Step) map[string]any {
	if s.Retries <= 0 {
		return nil
	}
	rs := map[string]any{"limit": int64(s.Retries)}
	setIf(rs, "retryPolicy", s.RetryPolicy)
	if b := s.Backoff; b != nil {
		backoff := map[string]any{"duration": b.Duration}
		if b.Factor > 0 {
			backoff["factor"] = int64(b.Factor)
		}
		setIf(backoff, "cap", b.Cap)
		setIf(backoff, "maxDuration", b.MaxDuration)
		rs["backoff"] = backoff
	}
	return rs
}

// stepOutputs returns a template's outputs: artifacts saved from their
// path, parameters read from theirs.
func stepOutputs(o schema.StepOutputs) map[string]any {
	artifacts := make([]any, len(o.Artifacts))
	for i, a := range o.Artifacts {
		artifacts[i] = map[string]any{"name": a.Name, "path": a.Path}
	}
	params := make([]any, len(o.Parameters))
	for i, p := range o.Parameters {
		from := map[string]any{"path": p.Path}
		setIf(from, "default", p.Default)
		params[i] = map[string]any{"name": p.Name, "valueFrom": from}
	}
	out := map[string]any{}
	setIf(out, "artifacts", artifacts)
	setIf(out, "parameters", params)
	return out
}

// cronWorkflow returns the CronWorkflow that runs the WorkflowTemplate on
// the pipeline's schedule, one run at a time.
func cronWorkflow(in kindInput, p *schema.PipelineSpec) *unstructured.Unstructured {
	tz := p.Timezone
	if tz == "" {
		tz = defaultTimezone
	}
	cw := newObject(argoAPIVersion, "CronWorkflow", in.Namespace, in.Name, in.Labels, in.Annotations)
	spec := map[string]any{
		"schedules": []any{p.Schedule},
		"timezone":  tz,
		// Argo copies workflowMetadata onto every Workflow it creates
		// (argo-workflows workflow/common/convert.go, ConvertCronWorkflowToWorkflow),
		// so scheduled runs are runs of the pipeline too: pinning and
		// lineage find them by label.
		"workflowMetadata": map[string]any{
			"labels":      map[string]any{LabelRunOf: RunOf("pipeline", in.Name)},
			"annotations": map[string]any{AnnotationKeepRuns: strconv.Itoa(keepRunsOf(p))},
		},
		// Argo, not trellis, deletes scheduled runs: keep as many as keepRuns.
		"successfulJobsHistoryLimit": int64(keepRunsOf(p)),
		"workflowSpec": map[string]any{
			"workflowTemplateRef": map[string]any{"name": in.Name},
		},
	}
	// Allow is Argo's default (argo-workflows workflow/validate/validate.go,
	// ValidateCronWorkflow, accepts "" as Allow).
	if p.ConcurrencyPolicy != "" && p.ConcurrencyPolicy != "Allow" {
		spec["concurrencyPolicy"] = p.ConcurrencyPolicy
	}
	cw.Object["spec"] = spec
	return cw
}

// StepTemplatePrefix starts the name of a step's container template, so
// that a step named "main" cannot clash with the DAG.
const StepTemplatePrefix = "step-"

// pipelineRun returns the Workflow run of the WorkflowTemplate whose spec
// hashes to hash. It is labelled as a run of the pipeline, with the
// revision, and annotated with how many runs to keep.
// The run's arguments are the template's (wt), shared.
func pipelineRun(in kindInput, p *schema.PipelineSpec, hash string, wt *unstructured.Unstructured) *unstructured.Unstructured {
	labels := map[string]string{LabelRunOf: RunOf("pipeline", in.Name)}
	if rev := labelValue(in.Revision, true); rev != "" {
		labels[LabelRevision] = rev
	}
	annotations := map[string]string{AnnotationKeepRuns: strconv.Itoa(keepRunsOf(p))}
	wf := newObject(argoAPIVersion, "Workflow", in.Namespace, hashedName(in.Name, hash, maxNameLen),
		mergeStrings(in.Labels, labels), mergeStrings(in.Annotations, annotations))
	spec := map[string]any{"workflowTemplateRef": map[string]any{"name": in.Name}}
	if wtSpec, ok := wt.Object["spec"].(map[string]any); ok {
		setIf(spec, "arguments", wtSpec["arguments"])
	}
	wf.Object["spec"] = spec
	return wf
}

// keepRunsOf returns how many runs of a pipeline to keep.
func keepRunsOf(p *schema.PipelineSpec) int {
	if p.KeepRuns <= 0 {
		return defaultKeepRuns
	}
	return p.KeepRuns
}
