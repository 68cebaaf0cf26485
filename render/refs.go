package render

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"

	"trellis.dev/trellis/schema"
)

// refCheck checks one namespaced declaration against its cluster and
// namespace.
type refCheck struct {
	l       *loader
	d       *Declaration
	cluster *schema.Cluster
	ns      schema.Namespace
}

func (c refCheck) errorf(path string, format string, args ...any) {
	c.l.errs.addf(c.d.pos(cue.ParsePath(path)), path+": "+format, args...)
}

func (c refCheck) nodePool(path, pool string) {
	if pool == "" {
		return
	}
	if _, ok := c.cluster.Spec.NodePools[pool]; !ok {
		c.errorf(path, "node pool %q is not declared by Cluster %q: %s", pool, c.d.Cluster, schema.Hint(pool, slices.Collect(maps.Keys(c.cluster.Spec.NodePools))))
	}
}

func (c refCheck) pipeline(p *schema.Pipeline) {
	volumes := c.pipelineVolumes(&p.Spec)
	c.stepGroup("spec.steps", p.Spec.Steps, volumes)
	c.stepGroup("spec.onExit", p.Spec.OnExit, volumes)
	for i, s := range p.Spec.OnExit {
		for _, main := range p.Spec.Steps {
			if main.Name == s.Name {
				c.errorf(fmt.Sprintf("spec.onExit[%d].name", i), "step %q is also a step of the pipeline: name it otherwise", s.Name)
			}
		}
	}
}

// stepGroup checks the steps of one DAG: the pipeline's steps or its
// exit handler's.
func (c refCheck) stepGroup(path string, group []schema.Step, volumes map[string]bool) {
	steps := map[string]*schema.Step{}
	for i := range group {
		s := &group[i]
		at := fmt.Sprintf("%s[%d]", path, i)
		if _, dup := steps[s.Name]; dup {
			c.errorf(at+".name", "duplicate step %q", s.Name)
		}
		steps[s.Name] = s
		c.nodePool(at+".nodePool", s.NodePool)
		c.fits(at+".resources", requests(s.Resources), 1, "")
		c.limits(at+".resources", s.Resources)
		c.stepFields(at, *s, volumes)
	}
	for i, s := range group {
		at := fmt.Sprintf("%s[%d]", path, i)
		for j, dep := range s.DependsOn {
			if _, ok := steps[dep]; !ok {
				c.errorf(fmt.Sprintf("%s.dependsOn[%d]", at, j), "unknown step %q: %s", dep, schema.Hint(dep, slices.Collect(maps.Keys(steps))))
			}
		}
		for j, in := range s.Inputs {
			c.input(fmt.Sprintf("%s.inputs[%d].from", at, j), s, in, steps)
		}
		c.stepFlow(at, s, steps)
	}
	if cycle := findCycle(group); cycle != "" {
		c.errorf(path, "dependsOn forms a cycle: %s", cycle)
	}
}

// input checks that an input artifact comes from a step this one depends on.
func (c refCheck) input(at string, s schema.Step, in schema.InputArtifact, steps map[string]*schema.Step) {
	stepName, art, _ := strings.Cut(in.From, ".")
	from, ok := steps[stepName]
	if !ok {
		c.errorf(at, "unknown step %q: %s", stepName, schema.Hint(stepName, slices.Collect(maps.Keys(steps))))
		return
	}
	if !hasArtifact(from, art) {
		c.errorf(at, "step %q has no output artifact %q: %s", stepName, art, schema.Hint(art, artifactNames(from)))
		return
	}
	if s.Depends != "" {
		if !slices.Contains(dependencies(s), stepName) {
			c.errorf(at, "step %q must name %q in depends to use its artifact", s.Name, stepName)
		}
		return
	}
	if !slices.Contains(s.DependsOn, stepName) {
		c.errorf(at, "step %q must list %q in dependsOn to use its artifact", s.Name, stepName)
	}
}

// artifactNames are the names of a step's output artifacts.
func artifactNames(s *schema.Step) []string {
	var names []string
	for _, a := range s.Outputs.Artifacts {
		names = append(names, a.Name)
	}
	return names
}

func hasArtifact(s *schema.Step, name string) bool {
	for _, a := range s.Outputs.Artifacts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// findCycle returns a dependency cycle among steps ("a -> b -> a"), or "".
func findCycle(steps []schema.Step) string {
	deps := map[string][]string{}
	for _, s := range steps {
		deps[s.Name] = dependencies(s)
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) string
	visit = func(n string) string {
		switch state[n] {
		case active:
			i := indexOf(stack, n)
			return strings.Join(append(append([]string{}, stack[i:]...), n), " -> ")
		case done:
			return ""
		}
		state[n] = active
		stack = append(stack, n)
		for _, d := range deps[n] {
			if c := visit(d); c != "" {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return ""
	}
	for _, s := range steps {
		if c := visit(s.Name); c != "" {
			return c
		}
	}
	return ""
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func (c refCheck) experiment(e *schema.Experiment) {
	t := e.Spec.Trial
	c.nodePool("spec.trial.nodePool", t.NodePool)
	pods := 1
	what := fmt.Sprintf("%d parallel trials", e.Spec.Budget.ParallelTrials)
	switch t.Kind {
	case trialKindPyTorch:
		pods = t.Workers + 1
	case trialKindTF, trialKindTrainJob:
		pods = t.Workers
	case trialKindMPI:
		pods = t.Workers + 1
		if t.WorkerResources != nil {
			c.fits("spec.trial.workerResources", requests(t.WorkerResources), int64(e.Spec.Budget.ParallelTrials*t.Workers),
				fmt.Sprintf("%d parallel trials of %d workers", e.Spec.Budget.ParallelTrials, t.Workers))
			c.limits("spec.trial.workerResources", t.WorkerResources)
			pods = 1
		}
	}
	if pods != 1 {
		what = fmt.Sprintf("%d parallel trials of %d pods", e.Spec.Budget.ParallelTrials, pods)
	}
	c.fits("spec.trial.resources", requests(t.Resources), int64(e.Spec.Budget.ParallelTrials*pods), what)
	c.limits("spec.trial.resources", t.Resources)
	c.trialFields(t)
	c.trialPlaceholders(e)
}

// identPattern matches a label that a CUE path may hold unquoted.
var identPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// pathLabel returns a map key as a label of a CUE path, quoted when needed.
func pathLabel(key string) string {
	if identPattern.MatchString(key) {
		return key
	}
	return strconv.Quote(key)
}

// placeholderPattern finds ${...} in a trial's texts.
var placeholderPattern = regexp.MustCompile(`\$\{([^}]*)\}`)

// trialPlaceholders checks that the trial uses every search parameter, and
// that each ${...} in it is one trellis can turn into Katib's trial template:
// Katib starts no trial of an experiment with a search parameter the trial
// does not use, and rejects ${trialParameters.X} that names no trial
// parameter (see trialTemplate).
func (c refCheck) trialPlaceholders(e *schema.Experiment) {
	t := e.Spec.Trial
	uses := trialUses(t)
	for i, p := range e.Spec.Parameters {
		if !uses(p.Name) {
			c.errorf(fmt.Sprintf("spec.parameters[%d].name", i),
				"search parameter %q is not used by the trial: Katib starts no trial until every parameter "+
					"appears as ${%s} in the trial's image, command, args or env", p.Name, p.Name)
		}
	}
	check := func(path, text string) {
		for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
			ref := m[1]
			switch {
			case strings.HasPrefix(ref, "trialParameters."):
				c.errorf(path, "write ${%s}, not %s: trellis writes Katib's trialParameters itself",
					strings.TrimPrefix(ref, "trialParameters."), m[0])
			case trialMetaMapPattern.MatchString(ref):
				c.trialMetaMapKey(path, m[0], ref, t)
			case strings.HasPrefix(ref, trialMetaPrefix) && !slices.Contains(trialMetaKeys, strings.TrimPrefix(ref, trialMetaPrefix)):
				c.errorf(path, "%s is no trial metadata Katib fills in: use ${trialSpec.%s}, ${trialSpec.Labels[KEY]} or ${trialSpec.Annotations[KEY]}",
					m[0], strings.Join(trialMetaKeys, "}, ${trialSpec."))
			}
		}
	}
	check("spec.trial.image", t.Image)
	for i, s := range t.Command {
		check(fmt.Sprintf("spec.trial.command[%d]", i), s)
	}
	for i, s := range t.Args {
		check(fmt.Sprintf("spec.trial.args[%d]", i), s)
	}
	for _, k := range sortedKeys(t.Env) {
		check("spec.trial.env."+pathLabel(k), t.Env[k])
	}
}

// trialMetaMapKey checks that ${trialSpec.Labels[KEY]} or
// ${trialSpec.Annotations[KEY]} reads a label or annotation the trial sets:
// Katib reads them from the trial job's own metadata.
func (c refCheck) trialMetaMapKey(path, placeholder, ref string, t schema.Trial) {
	kind, key, _ := strings.Cut(strings.TrimPrefix(ref, trialMetaPrefix), "[")
	key = strings.TrimSuffix(key, "]")
	set, field := t.Labels, "labels"
	if kind == "Annotations" {
		set, field = t.Annotations, "annotations"
	}
	if _, ok := set[key]; !ok {
		c.errorf(path, "%s reads the trial's %s, which have no %q: set spec.trial.%s", placeholder, field, key, field)
	}
}

func (c refCheck) endpoint(e *schema.Endpoint, all []*Declaration) {
	c.nodePool("spec.nodePool", e.Spec.NodePool)
	// Without a maximum the autoscaler is bounded by the quota itself; what
	// must fit is the replicas that always run.
	replicas := e.Spec.Replicas.Max
	if replicas == 0 {
		replicas = max(e.Spec.Replicas.Min, 1)
	}
	c.fits("spec.resources", requests(e.Spec.Resources), int64(replicas), fmt.Sprintf("%d replicas", replicas))
	c.limits("spec.resources", e.Spec.Resources)
	if !c.endpointFields(&e.Spec) {
		return
	}
	m := e.Spec.Model
	sources := 0
	for _, set := range []bool{m.StorageURI != "", m.FromPipeline != nil, m.Storage != nil} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		c.errorf("spec.model", "set storageUri, storage or fromPipeline")
	case sources > 1:
		c.errorf("spec.model", "set one of storageUri, storage and fromPipeline")
	case m.FromPipeline != nil:
		c.modelSource(m.FromPipeline, all)
	}
}

// modelSource checks that an endpoint's model comes from a pipeline of the
// same cluster and namespace that has the named output artifact.
func (c refCheck) modelSource(ref *schema.PipelineRef, all []*Declaration) {
	for _, d := range all {
		p, ok := d.spec.(*schema.Pipeline)
		if !ok || d.Name != ref.Pipeline || d.Cluster != c.d.Cluster || d.Namespace != c.d.Namespace {
			continue
		}
		for i := range p.Spec.Steps {
			if p.Spec.Steps[i].Name == ref.Step {
				if !hasArtifact(&p.Spec.Steps[i], ref.Artifact) {
					c.errorf("spec.model.fromPipeline.artifact", "step %q of Pipeline %q has no output artifact %q: %s", ref.Step, ref.Pipeline, ref.Artifact, schema.Hint(ref.Artifact, artifactNames(&p.Spec.Steps[i])))
				}
				return
			}
		}
		var steps []string
		for _, s := range p.Spec.Steps {
			steps = append(steps, s.Name)
		}
		c.errorf("spec.model.fromPipeline.step", "Pipeline %q has no step %q: %s", ref.Pipeline, ref.Step, schema.Hint(ref.Step, steps))
		return
	}
	var pipelines []string
	for _, d := range all {
		if _, ok := d.spec.(*schema.Pipeline); ok && d.Cluster == c.d.Cluster && d.Namespace == c.d.Namespace {
			pipelines = append(pipelines, d.Name)
		}
	}
	c.errorf("spec.model.fromPipeline.pipeline", "no Pipeline %q in namespace %q of cluster %q: %s", ref.Pipeline, c.d.Namespace, c.d.Cluster, schema.Hint(ref.Pipeline, pipelines))
}
