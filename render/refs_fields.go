package render

import (
	"fmt"
	"regexp"
	"slices"

	"trellis.dev/trellis/schema"
)

// Checks of the fields that reach into pods and into other steps: env
// references, volumes and mounts, extra containers, and a step's use of an
// earlier step's outputs in its arguments, condition and loop.

// envRefs checks that each env reference names a Secret or a ConfigMap,
// not both, and that no name is also a plain env value.
func (c refCheck) envRefs(path string, refs map[string]schema.EnvRef, env map[string]string) {
	for _, name := range sortedKeys(refs) {
		r := refs[name]
		at := path + "." + pathLabel(name)
		switch {
		case r.Secret == "" && r.ConfigMap == "":
			c.errorf(at, "set secret or configMap: the object of this namespace that holds key %q", r.Key)
		case r.Secret != "" && r.ConfigMap != "":
			c.errorf(at, "set secret or configMap, not both")
		}
		if _, dup := env[name]; dup {
			c.errorf(at, "%s is also set in env: keep one", name)
		}
	}
}

// volumeSource checks that a volume has exactly one source.
func (c refCheck) volumeSource(path string, v schema.VolumeSource, claimTemplate bool) {
	n := 0
	for _, set := range []bool{v.EmptyDir != nil, v.Claim != "", v.Secret != "", v.ConfigMap != "", claimTemplate} {
		if set {
			n++
		}
	}
	if n != 1 {
		c.errorf(path, "volume %q must have exactly one source (emptyDir, claim, secret, configMap or claimTemplate); it has %d", v.Name, n)
	}
}

// containers checks extra containers: named, unique, with valid env
// references and mounts of known volumes.
func (c refCheck) containers(path string, cs []schema.Container, volumes map[string]bool) {
	seen := map[string]bool{}
	for i, ctr := range cs {
		at := fmt.Sprintf("%s[%d]", path, i)
		if ctr.Name == "" {
			c.errorf(at, "set name: Kubernetes requires a name for each extra container")
		} else if seen[ctr.Name] {
			c.errorf(at+".name", "duplicate container %q", ctr.Name)
		}
		seen[ctr.Name] = true
		c.container(at, ctr, volumes)
	}
}

// container checks one container's env references and mounts.
func (c refCheck) container(at string, ctr schema.Container, volumes map[string]bool) {
	c.envRefs(at+".envRefs", ctr.EnvRefs, ctr.Env)
	c.mounts(at+".mounts", ctr.Mounts, volumes)
	c.fits(at+".resources", requests(ctr.Resources), 1, "")
	c.limits(at+".resources", ctr.Resources)
}

// mounts checks that each mount names a declared volume.
func (c refCheck) mounts(path string, ms []schema.Mount, volumes map[string]bool) {
	for i, m := range ms {
		if !volumes[m.Volume] {
			c.errorf(fmt.Sprintf("%s[%d].volume", path, i), "no volume %q is declared (a pipeline's volumes)", m.Volume)
		}
	}
}

// pipelineVolumes checks the pipeline's volumes and returns their names.
func (c refCheck) pipelineVolumes(p *schema.PipelineSpec) map[string]bool {
	names := map[string]bool{}
	for i, v := range p.Volumes {
		at := fmt.Sprintf("spec.volumes[%d]", i)
		if names[v.Name] {
			c.errorf(at+".name", "duplicate volume %q", v.Name)
		}
		names[v.Name] = true
		c.volumeSource(at, v.VolumeSource, v.ClaimTemplate != nil)
	}
	return names
}

// taskOutputPattern finds a reference to a step's outputs:
// {{tasks.STEP.outputs.result}} or {{tasks.STEP.outputs.parameters.NAME}}.
var taskOutputPattern = regexp.MustCompile(`\{\{\s*tasks\.([A-Za-z0-9-]+)\.outputs\.(result|parameters\.([A-Za-z0-9_-]+))\s*\}\}`)

// dependsPattern finds the step names of an enhanced depends expression.
var dependsPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9-]*`)

// dependencies returns the steps a step depends on: its depends
// expression's names, or dependsOn and its input artifacts' producers.
func dependencies(s schema.Step) []string {
	if s.Depends == "" {
		return stepDependencies(s)
	}
	var out []string
	for _, m := range dependsPattern.FindAllString(s.Depends, -1) {
		switch m {
		case "Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed":
			continue
		}
		out = append(out, m)
	}
	return out
}

// stepFlow checks a step's control fields: depends or dependsOn, not both;
// backoff and retryPolicy only with retries; and that every earlier
// step's output it uses (in arguments, when and withParam) is one that
// step produces, of a step this one depends on.
func (c refCheck) stepFlow(at string, s schema.Step, steps map[string]*schema.Step) {
	if s.Depends != "" && len(s.DependsOn) > 0 {
		c.errorf(at+".depends", "set depends or dependsOn, not both")
	}
	deps := dependencies(s)
	if s.Depends != "" {
		for _, d := range deps {
			if _, ok := steps[d]; !ok {
				c.errorf(at+".depends", "unknown step %q", d)
			}
		}
	}
	if s.Retries == 0 && (s.Backoff != nil || s.RetryPolicy != "") {
		c.errorf(at+".retries", "backoff and retryPolicy apply to retries: set retries")
	}
	check := func(path, text string) {
		for _, m := range taskOutputPattern.FindAllStringSubmatch(text, -1) {
			from, ok := steps[m[1]]
			switch {
			case !ok:
				c.errorf(path, "%s: unknown step %q", m[0], m[1])
			case !slices.Contains(deps, m[1]):
				c.errorf(path, "%s: step %q must depend on %q to use its outputs", m[0], s.Name, m[1])
			case m[2] == "result" && from.Source == "":
				c.errorf(path, "%s: step %q has no result: only a step with source (a script) has one; use an output parameter", m[0], m[1])
			case m[3] != "" && !hasParameter(from, m[3]):
				c.errorf(path, "%s: step %q has no output parameter %q", m[0], m[1], m[3])
			}
		}
	}
	for _, name := range sortedKeys(s.Arguments) {
		check(at+".arguments."+pathLabel(name), string(s.Arguments[name]))
	}
	check(at+".when", s.When)
	check(at+".withParam", s.WithParam)
}

// hasParameter reports whether a step has the named output parameter.
func hasParameter(s *schema.Step, name string) bool {
	for _, p := range s.Outputs.Parameters {
		if p.Name == name {
			return true
		}
	}
	return false
}

// stepFields checks a step's env references, mounts and extra containers.
func (c refCheck) stepFields(at string, s schema.Step, volumes map[string]bool) {
	c.envRefs(at+".envRefs", s.EnvRefs, s.Env)
	c.mounts(at+".mounts", s.Mounts, volumes)
	c.containers(at+".sidecars", s.Sidecars, volumes)
	c.containers(at+".initContainers", s.InitContainers, volumes)
}

// trialFields checks a trial's env references and volumes.
func (c refCheck) trialFields(t schema.Trial) {
	c.envRefs("spec.trial.envRefs", t.EnvRefs, t.Env)
	if t.Kind == trialKindTrainJob && (t.NodePool != "" || len(t.Volumes) > 0) {
		c.errorf("spec.trial", "a TrainJob's pods are its runtime's: set nodePool and volumes in the ClusterTrainingRuntime")
	}
	seen := map[string]bool{}
	for i, v := range t.Volumes {
		at := fmt.Sprintf("spec.trial.volumes[%d]", i)
		if seen[v.Name] {
			c.errorf(at+".name", "duplicate volume %q", v.Name)
		}
		seen[v.Name] = true
		c.volumeSource(at, v.VolumeSource, false)
	}
}

// endpointFields checks that an endpoint serves a model or a container,
// and its env references and extra containers.
func (c refCheck) endpointFields(e *schema.EndpointSpec) bool {
	hasModel := e.Model.Format != ""
	switch {
	case hasModel && e.Container != nil:
		c.errorf("spec.container", "set model or container, not both")
	case !hasModel && e.Container == nil:
		c.errorf("spec", "set model (served by a KServe runtime) or container (a custom predictor)")
	}
	c.envRefs("spec.model.envRefs", e.Model.EnvRefs, e.Model.Env)
	c.probe("spec.model.livenessProbe", e.Model.LivenessProbe)
	c.probe("spec.model.readinessProbe", e.Model.ReadinessProbe)
	for path, ctr := range map[string]*schema.Container{"spec.container": e.Container, "spec.transformer": e.Transformer} {
		if ctr == nil {
			continue
		}
		c.container(path, *ctr, nil)
		if ctr.MirrorMounts {
			c.errorf(path+".mirrorMounts", "mirrorMounts is for a pipeline step's sidecars and init containers")
		}
	}
	return hasModel
}

// probe checks that a probe has exactly one way of probing.
func (c refCheck) probe(at string, p *schema.Probe) {
	if p == nil {
		return
	}
	n := 0
	for _, set := range []bool{p.HTTPGet != nil, p.TCPSocket != nil, p.Exec != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		c.errorf(at, "set exactly one of httpGet, tcpSocket or exec")
	}
}
