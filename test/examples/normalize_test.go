package examples

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The corpus test compares an upstream example with what trellis renders
// from its declaration after both are normalised the same way, so that
// only differences of meaning remain. The normalisation:
//
//   - compares metadata.labels and metadata.annotations without trellis's
//     own (trellis.dev/..., app.kubernetes.io/managed-by) and the spec;
//     names, generateName and namespaces are trellis's to choose (a
//     declaration's namespace is its Cluster's; runs and experiments are
//     named with a content hash);
//   - writes every number as a string (Argo's and Kubernetes' int-or-string
//     fields take either) and drops empty objects and lists;
//   - applies the defaults the apiserver gives a container: requests equal
//     to limits where only limits are set, quantities in canonical form,
//     ports with protocol TCP; sorts env by name unless a value refers to
//     another variable ($(NAME)), the one case where order matters;
//   - Argo: flattens the entrypoint and the exit handler into their tasks,
//     each with the template it runs inlined and its input parameters
//     replaced by the values its task passes (an entrypoint's inputs are
//     the workflow's parameters); a steps template's groups become tasks
//     that depend on the whole previous group; dependencies [A, B] is
//     depends "A && B" (Argo's docs/enhanced-depends-logic.md says they
//     are the same); {{steps.X}} is {{tasks.X}}; template names and the
//     order of a DAG's tasks carry no meaning and are dropped;
//   - Katib: applies Katib's own defaults (katib v0.19.0
//     pkg/apis/controller/experiments/v1beta1/experiment_defaults.go,
//     SetDefault), names each trial parameter by what it references
//     (trial parameter names are placeholders only), and sorts algorithm
//     settings and metric strategies by name (Katib reads them by name);
//   - KServe: a predictor written with a framework key (predictor.sklearn)
//     is the same predictor.model with that modelFormat (kserve v0.19.0
//     pkg/apis/serving/v1beta1/inference_service_defaults.go,
//     setPredictorModelDefaults), and minReplicas defaults to 1
//     (constants.DefaultMinReplicas, used by component.go validateReplicas).

// normalize returns the comparable form of an object of system.
func normalize(system string, obj map[string]any) map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	spec = deepCopy(spec).(map[string]any)
	switch system {
	case "argo":
		spec = argoSpec(spec)
	case "katib":
		spec = katibSpec(spec)
	case "kserve":
		spec = kserveSpec(spec)
	}
	out := map[string]any{"spec": spec}
	if meta, ok := obj["metadata"].(map[string]any); ok {
		for _, key := range []string{"labels", "annotations"} {
			m, _ := meta[key].(map[string]any)
			kept := map[string]any{}
			for k, v := range m {
				if !strings.HasPrefix(k, "trellis.dev/") && k != "app.kubernetes.io/managed-by" {
					kept[k] = v
				}
			}
			out[key] = kept
		}
	}
	podDefaults(out)
	return canon(out).(map[string]any)
}

// deepCopy copies a JSON value.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	case nil:
		return map[string]any{}
	}
	return v
}

// canon writes numbers and booleans of int-or-string kind as strings and
// drops nulls, empty objects and empty lists.
func canon(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if c := canon(x); c != nil {
				out[k] = c
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			if c := canon(x); c != nil {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	}
	return v
}

// podDefaults applies the apiserver's container defaults everywhere in v.
func podDefaults(v any) {
	switch v := v.(type) {
	case map[string]any:
		if res, ok := v["resources"].(map[string]any); ok {
			containerResourceDefaults(res)
		}
		if env, ok := v["env"].([]any); ok && !strings.Contains(fmt.Sprint(env), "$(") {
			sortByName(env)
		}
		if ports, ok := v["ports"].([]any); ok {
			for _, p := range ports {
				if pm, ok := p.(map[string]any); ok && pm["protocol"] == nil {
					pm["protocol"] = "TCP"
				}
			}
		}
		for _, x := range v {
			podDefaults(x)
		}
	case []any:
		for _, x := range v {
			podDefaults(x)
		}
	}
}

// containerResourceDefaults sets requests from limits where unset, and
// writes quantities canonically.
func containerResourceDefaults(res map[string]any) {
	limits, _ := res["limits"].(map[string]any)
	requests, _ := res["requests"].(map[string]any)
	if len(limits) > 0 {
		if requests == nil {
			requests = map[string]any{}
			res["requests"] = requests
		}
		for k, v := range limits {
			if _, ok := requests[k]; !ok {
				requests[k] = v
			}
		}
	}
	for _, m := range []map[string]any{limits, requests} {
		for k, v := range m {
			if q, err := resource.ParseQuantity(fmt.Sprint(v)); err == nil {
				m[k] = q.String()
			}
		}
	}
}

// replaceStrings replaces in every string of v.
func replaceStrings(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = replaceStrings(x, r)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = replaceStrings(x, r)
		}
		return v
	case string:
		return r.Replace(v)
	}
	return v
}

// argoSpec flattens a Workflow's or WorkflowTemplate's spec (see above).
func argoSpec(spec map[string]any) map[string]any {
	templates := map[string]map[string]any{}
	list, _ := spec["templates"].([]any)
	for _, t := range list {
		tm := t.(map[string]any)
		templates[tm["name"].(string)] = tm
	}
	out := maps.Clone(spec)
	delete(out, "templates")
	delete(out, "entrypoint")
	delete(out, "onExit")
	if entry, ok := spec["entrypoint"].(string); ok {
		out["main"] = argoFlow(templates, entry, true)
	}
	if exit, ok := spec["onExit"].(string); ok {
		out["exit"] = argoFlow(templates, exit, false)
	}
	return replaceStrings(out, strings.NewReplacer("{{steps.", "{{tasks.")).(map[string]any)
}

// argoFlow returns the tasks a template runs, sorted by name.
func argoFlow(templates map[string]map[string]any, name string, entry bool) []any {
	tmpl := templates[name]
	var entryInputs *strings.Replacer
	if entry {
		entryInputs = workflowInputs(tmpl)
	}
	var tasks []any
	switch {
	case tmpl["dag"] != nil:
		for _, t := range tmpl["dag"].(map[string]any)["tasks"].([]any) {
			tasks = append(tasks, argoTask(templates, t.(map[string]any), entryInputs, ""))
		}
	case tmpl["steps"] != nil:
		prev := ""
		for _, g := range tmpl["steps"].([]any) {
			var names []string
			for _, s := range g.([]any) {
				sm := s.(map[string]any)
				tasks = append(tasks, argoTask(templates, sm, entryInputs, prev))
				names = append(names, sm["name"].(string))
			}
			sort.Strings(names)
			prev = strings.Join(names, " && ")
		}
	default:
		body := deepCopy(tmpl).(map[string]any)
		tasks = append(tasks, map[string]any{"name": name, "template": argoBody(body, nil, entryInputs)})
	}
	sortByName(tasks)
	return tasks
}

// workflowInputs replaces an entrypoint's {{inputs.parameters.X}} with the
// workflow parameter it receives.
func workflowInputs(tmpl map[string]any) *strings.Replacer {
	var pairs []string
	inputs, _ := tmpl["inputs"].(map[string]any)
	params, _ := inputs["parameters"].([]any)
	for _, p := range params {
		name := p.(map[string]any)["name"].(string)
		pairs = append(pairs, "{{inputs.parameters."+name+"}}", "{{workflow.parameters."+name+"}}")
	}
	return strings.NewReplacer(pairs...)
}

// argoTask returns a task with its template inlined; depends is the
// previous steps group's when the task comes from a steps template.
func argoTask(templates map[string]map[string]any, task map[string]any, entryInputs *strings.Replacer, depends string) map[string]any {
	out := map[string]any{"name": task["name"]}
	switch {
	case task["depends"] != nil:
		out["depends"] = task["depends"]
	case task["dependencies"] != nil:
		var deps []string
		for _, d := range task["dependencies"].([]any) {
			deps = append(deps, d.(string))
		}
		sort.Strings(deps)
		out["depends"] = strings.Join(deps, " && ")
	case depends != "":
		out["depends"] = depends
	}
	for _, key := range []string{"when", "withItems", "withParam", "continueOn"} {
		if v, ok := task[key]; ok {
			out[key] = v
		}
	}
	values := map[string]string{}
	if args, ok := task["arguments"].(map[string]any); ok {
		params, _ := args["parameters"].([]any)
		for _, p := range params {
			pm := p.(map[string]any)
			values[pm["name"].(string)] = fmt.Sprint(pm["value"])
		}
		if arts, ok := args["artifacts"]; ok {
			out["artifacts"] = arts
		}
	}
	if entryInputs != nil {
		out = replaceStrings(out, entryInputs).(map[string]any)
	}
	name, _ := task["template"].(string)
	out["template"] = argoBody(deepCopy(templates[name]).(map[string]any), values, nil)
	return out
}

// argoBody returns a template without its name and input parameters,
// which are replaced by values, by their defaults, or (for an entrypoint)
// by the workflow's parameters.
func argoBody(tmpl map[string]any, values map[string]string, entryInputs *strings.Replacer) map[string]any {
	delete(tmpl, "name")
	inputs, _ := tmpl["inputs"].(map[string]any)
	params, _ := inputs["parameters"].([]any)
	var pairs []string
	for _, p := range params {
		pm := p.(map[string]any)
		name := pm["name"].(string)
		v, ok := values[name]
		if !ok && pm["value"] != nil {
			v, ok = fmt.Sprint(pm["value"]), true
		}
		if ok {
			pairs = append(pairs, "{{inputs.parameters."+name+"}}", v)
		}
	}
	if inputs != nil {
		inputs = maps.Clone(inputs)
		delete(inputs, "parameters")
		tmpl["inputs"] = inputs
	}
	if entryInputs != nil {
		tmpl = replaceStrings(tmpl, entryInputs).(map[string]any)
	}
	return replaceStrings(tmpl, strings.NewReplacer(pairs...)).(map[string]any)
}

// Katib's defaults (experiment_defaults.go and constants.go, v0.19.0).
const (
	katibJobSuccess      = `status.conditions.#(type=="Complete")#|#(status=="True")#`
	katibKubeflowSuccess = `status.conditions.#(type=="Succeeded")#|#(status=="True")#`
	katibFailure         = `status.conditions.#(type=="Failed")#|#(status=="True")#`
)

// katibSpec applies Katib's defaults and names trial parameters by their
// reference.
func katibSpec(spec map[string]any) map[string]any {
	setDefault(spec, "parallelTrialCount", int64(3))
	setDefault(spec, "resumePolicy", "Never")
	if obj, ok := spec["objective"].(map[string]any); ok {
		katibStrategies(obj)
	}
	for _, key := range []string{"algorithm", "earlyStopping"} {
		if m, ok := spec[key].(map[string]any); ok {
			if settings, ok := m["algorithmSettings"].([]any); ok {
				sortByName(settings)
			}
		}
	}
	mc, _ := spec["metricsCollectorSpec"].(map[string]any)
	if mc == nil {
		mc = map[string]any{}
		spec["metricsCollectorSpec"] = mc
	}
	collector, _ := mc["collector"].(map[string]any)
	if collector == nil {
		collector = map[string]any{"kind": "StdOut"}
		mc["collector"] = collector
	}
	source, _ := mc["source"].(map[string]any)
	if source == nil {
		source = map[string]any{}
		mc["source"] = source
	}
	switch collector["kind"] {
	case "File":
		fs := subMap(source, "fileSystemPath")
		setDefault(fs, "kind", "File")
		setDefault(fs, "path", "/var/log/katib/metrics.log")
		setDefault(fs, "format", "TEXT")
	case "TensorFlowEvent":
		fs := subMap(source, "fileSystemPath")
		setDefault(fs, "kind", "Directory")
		setDefault(fs, "path", "/var/log/katib/tfevent/")
	case "Prometheus":
		hg := subMap(source, "httpGet")
		setDefault(hg, "path", "/metrics")
		setDefault(hg, "port", int64(8080))
	}
	params, _ := spec["parameters"].([]any)
	for _, p := range params {
		setDefault(subMap(p.(map[string]any), "feasibleSpace"), "distribution", "uniform")
	}
	if tt, ok := spec["trialTemplate"].(map[string]any); ok {
		katibTrialTemplate(tt)
	}
	return spec
}

// katibStrategies sets the default metric strategies and sorts them.
func katibStrategies(obj map[string]any) {
	strategies, _ := obj["metricStrategies"].([]any)
	has := map[string]bool{}
	for _, s := range strategies {
		has[s.(map[string]any)["name"].(string)] = true
	}
	value := "latest"
	switch obj["type"] {
	case "minimize":
		value = "min"
	case "maximize":
		value = "max"
	}
	metrics := []any{obj["objectiveMetricName"]}
	if more, ok := obj["additionalMetricNames"].([]any); ok {
		metrics = append(metrics, more...)
	}
	for _, m := range metrics {
		if name, ok := m.(string); ok && !has[name] {
			strategies = append(strategies, map[string]any{"name": name, "value": value})
		}
	}
	sortByName(strategies)
	obj["metricStrategies"] = strategies
}

// katibTrialTemplate applies the trial template's defaults and renames its
// trial parameters by reference.
func katibTrialTemplate(tt map[string]any) {
	trialSpec, _ := tt["trialSpec"].(map[string]any)
	switch kind, _ := trialSpec["kind"].(string); kind {
	case "Job":
		setDefault(tt, "successCondition", katibJobSuccess)
		setDefault(tt, "failureCondition", katibFailure)
	case "TrainJob":
		setDefault(tt, "successCondition", katibJobSuccess)
		setDefault(tt, "failureCondition", katibFailure)
		setDefault(tt, "primaryPodLabels", map[string]any{
			"jobset.sigs.k8s.io/replicatedjob-name":    "node",
			"batch.kubernetes.io/job-completion-index": "0",
		})
	case "TFJob", "PyTorchJob", "XGBoostJob", "MXJob", "MPIJob":
		setDefault(tt, "successCondition", katibKubeflowSuccess)
		setDefault(tt, "failureCondition", katibFailure)
		setDefault(tt, "primaryPodLabels", map[string]any{"training.kubeflow.org/job-role": "master"})
	}
	params, _ := tt["trialParameters"].([]any)
	var pairs []string
	var refs []string
	for _, p := range params {
		pm := p.(map[string]any)
		ref := fmt.Sprint(pm["reference"])
		pairs = append(pairs, "${trialParameters."+fmt.Sprint(pm["name"])+"}", "<"+ref+">")
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	tt["trialParameters"] = anyStrings(refs)
	if trialSpec != nil {
		tt["trialSpec"] = replaceStrings(trialSpec, strings.NewReplacer(pairs...))
	}
}

// kserveSpec moves a framework predictor to predictor.model and sets the
// default minReplicas.
func kserveSpec(spec map[string]any) map[string]any {
	pred, _ := spec["predictor"].(map[string]any)
	if pred == nil {
		return spec
	}
	for _, framework := range []string{"sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "triton",
		"huggingface", "pmml", "paddle"} {
		if m, ok := pred[framework].(map[string]any); ok {
			m["modelFormat"] = map[string]any{"name": framework}
			pred["model"] = m
			delete(pred, framework)
		}
	}
	setDefault(pred, "minReplicas", int64(1))
	return spec
}

// sortByName sorts a list of objects by their name.
func sortByName(list []any) {
	sort.SliceStable(list, func(i, j int) bool {
		return fmt.Sprint(list[i].(map[string]any)["name"]) < fmt.Sprint(list[j].(map[string]any)["name"])
	})
}

// setDefault sets m[key] when it is unset.
func setDefault(m map[string]any, key string, v any) {
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}

// subMap returns m[key] as an object, creating it when unset.
func subMap(m map[string]any, key string) map[string]any {
	sub, ok := m[key].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[key] = sub
	}
	return sub
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// fieldDiff returns the differences of two normalised values, one line per
// field path: what upstream has and what trellis rendered.
func fieldDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := slices.Sorted(maps.Keys(w))
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		var out []string
		for _, k := range keys {
			out = append(out, fieldDiff(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var out []string
		for i := range w {
			out = append(out, fieldDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s: upstream %s, trellis %s", path, show(want), show(got))}
}

// show prints a value of a diff.
func show(v any) string {
	if v == nil {
		return "(unset)"
	}
	return fmt.Sprintf("%#v", v)
}
