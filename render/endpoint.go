package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// KServe names.
const (
	// kserveAPIVersion is the API version of KServe's InferenceService.
	kserveAPIVersion = "serving.kserve.io/v1beta1"
	// kserveContainer is the name KServe gives a component's main container.
	kserveContainer = "kserve-container"
)

// renderEndpoint renders an Endpoint to a KServe InferenceService named
// after it, updated in place. A model taken from a pipeline's output has no
// storageUri yet: the InferenceService is annotated with
// PIPELINE/STEP/ARTIFACT, and a later stage pins the URI of that output of
// the pipeline's latest successful run.
func renderEndpoint(in kindInput, e *schema.Endpoint) []*unstructured.Unstructured {
	m := e.Spec.Model
	annotations := in.Annotations
	if m.FromPipeline != nil && m.StorageURI == "" {
		ref := m.FromPipeline.Pipeline + "/" + m.FromPipeline.Step + "/" + m.FromPipeline.Artifact
		annotations = mergeStrings(in.Annotations, map[string]string{AnnotationModelFrom: ref})
	}
	isvc := newObject(kserveAPIVersion, "InferenceService", in.Namespace, in.Name, in.Labels, annotations)
	spec := map[string]any{"predictor": predictor(in.Cluster, &e.Spec, defaultLimits(in))}
	if t := e.Spec.Transformer; t != nil {
		spec["transformer"] = map[string]any{"containers": []any{container(*t, kserveContainer, defaultLimits(in))}}
	}
	mergeUpstream(spec, e.Spec.Upstream)
	isvc.Object["spec"] = spec
	return []*unstructured.Unstructured{isvc}
}

// predictor returns the InferenceService's predictor: replicas, the
// autoscaling metric and target, the canary share, placement, and the
// model or the custom predictor's container.
//
// Without replicas.max, maxReplicas is left out, which is KServe's "no upper
// bound": its Knative reconciler sets the max-scale annotation only when
// MaxReplicas != 0 (kserve
// pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go),
// and Knative scales without bound when max-scale is unset.
func predictor(c *schema.Cluster, e *schema.EndpointSpec, defaults *schema.Resources) map[string]any {
	p := map[string]any{"minReplicas": int64(e.Replicas.Min)}
	if e.Container != nil {
		ctr := *e.Container
		if ctr.Resources == nil {
			ctr.Resources = e.Resources
		}
		p["containers"] = []any{container(ctr, kserveContainer, defaults)}
	} else {
		p["model"] = predictorModel(e, defaults)
	}
	if e.Replicas.Max > 0 {
		p["maxReplicas"] = int64(e.Replicas.Max)
	}
	if a := e.Autoscaling; a != nil {
		p["scaleMetric"] = a.Metric
		p["scaleTarget"] = int64(a.Target)
	}
	if e.CanaryPercent != nil {
		p["canaryTrafficPercent"] = int64(*e.CanaryPercent)
	}
	setIf(p, "serviceAccountName", e.ServiceAccountName)
	if e.Timeout > 0 {
		p["timeout"] = int64(e.Timeout)
	}
	setNodePool(p, c, e.NodePool)
	return p
}

// predictorModel returns the predictor's model: its format, runtime,
// storage URI, protocol, server arguments and environment, and resources.
func predictorModel(e *schema.EndpointSpec, defaults *schema.Resources) map[string]any {
	format := map[string]any{"name": e.Model.Format}
	setIf(format, "version", e.Model.Version)
	model := map[string]any{"modelFormat": format}
	setIf(model, "runtime", e.Model.Runtime)
	setIf(model, "runtimeVersion", e.Model.RuntimeVersion)
	setIf(model, "storageUri", e.Model.StorageURI)
	if st := e.Model.Storage; st != nil {
		storage := map[string]any{"path": st.Path}
		setIf(storage, "key", st.Key)
		if len(st.Parameters) > 0 {
			storage["parameters"] = stringMap(st.Parameters)
		}
		model["storage"] = storage
	}
	setIf(model, "protocolVersion", e.Model.ProtocolVersion)
	setIf(model, "args", anyList(e.Model.Args, nil))
	setIf(model, "env", containerEnv(e.Model.Env, e.Model.EnvRefs, nil))
	setIf(model, "resources", containerResources(e.Resources, defaults))
	setIf(model, "livenessProbe", probe(e.Model.LivenessProbe))
	setIf(model, "readinessProbe", probe(e.Model.ReadinessProbe))
	return model
}

// probe is a Kubernetes probe; nil for none.
func probe(p *schema.Probe) map[string]any {
	if p == nil {
		return nil
	}
	out := map[string]any{}
	switch {
	case p.HTTPGet != nil:
		get := map[string]any{"path": p.HTTPGet.Path}
		if p.HTTPGet.Port != nil {
			get["port"] = probePort(p.HTTPGet.Port)
		}
		out["httpGet"] = get
	case p.TCPSocket != nil:
		out["tcpSocket"] = map[string]any{"port": probePort(p.TCPSocket.Port)}
	case p.Exec != nil:
		out["exec"] = map[string]any{"command": anyList(p.Exec.Command, nil)}
	}
	if p.InitialDelaySeconds != nil {
		out["initialDelaySeconds"] = int64(*p.InitialDelaySeconds)
	}
	for k, v := range map[string]int{"periodSeconds": p.PeriodSeconds, "timeoutSeconds": p.TimeoutSeconds,
		"failureThreshold": p.FailureThreshold, "successThreshold": p.SuccessThreshold} {
		if v > 0 {
			out[k] = int64(v)
		}
	}
	return out
}

// probePort is a probe's port: a number (JSON decodes it as float64) or
// a name.
func probePort(port any) any {
	if f, ok := port.(float64); ok {
		return int64(f)
	}
	return port
}
