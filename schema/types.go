package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The Go types below mirror the CUE definitions in cue/. Declarations are
// validated and defaulted by CUE first and only then decoded into them, so
// they carry no validation of their own. TestTypesMirrorSchema keeps the
// field sets in step.

// Kind names.
const (
	KindCluster    = "Cluster"
	KindPipeline   = "Pipeline"
	KindExperiment = "Experiment"
	KindEndpoint   = "Endpoint"
)

// Kinds lists the declaration kinds in the order they render.
var Kinds = []string{KindCluster, KindPipeline, KindExperiment, KindEndpoint}

// Metadata mirrors #Metadata.
type Metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Quantity is a Kubernetes quantity written as a number or a string.
type Quantity string

// UnmarshalJSON accepts a JSON number or string.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*q = Quantity(n.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("quantity: %w", err)
	}
	*q = Quantity(s)
	return nil
}

// Resources mirrors #Resources.
type Resources struct {
	CPU    Quantity `json:"cpu,omitempty"`
	Memory Quantity `json:"memory,omitempty"`
	GPU    int64    `json:"gpu,omitempty"`
}

// WorkloadResources mirrors #WorkloadResources: requests, and limits.
type WorkloadResources struct {
	Resources
	Limits *ResourceLimits `json:"limits,omitempty"`
}

// ResourceLimits mirrors #WorkloadResources.limits.
type ResourceLimits struct {
	CPU    Quantity `json:"cpu,omitempty"`
	Memory Quantity `json:"memory,omitempty"`
}

// Toleration mirrors #Toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// Placement mirrors #Placement.
type Placement struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
}

// Cluster mirrors #Cluster.
type Cluster struct {
	Metadata Metadata    `json:"metadata"`
	Spec     ClusterSpec `json:"spec"`
}

// ClusterSpec mirrors #ClusterSpec.
type ClusterSpec struct {
	Context            string               `json:"context,omitempty"`
	KubeconfigSecret   *SecretKeyRef        `json:"kubeconfigSecret,omitempty"`
	NodePools          map[string]NodePool  `json:"nodePools"`
	Namespaces         map[string]Namespace `json:"namespaces"`
	PlatformNamespaces []string             `json:"platformNamespaces"`
}

// SecretKeyRef mirrors #ClusterSpec.kubeconfigSecret.
type SecretKeyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// NodePool mirrors #NodePool.
type NodePool struct {
	NodeSelector map[string]string `json:"nodeSelector"`
	Tolerations  []Toleration      `json:"tolerations"`
}

// Namespace mirrors #Namespace.
type Namespace struct {
	Labels         map[string]string `json:"labels,omitempty"`
	Quota          *Quota            `json:"quota,omitempty"`
	Limits         *Limits           `json:"limits,omitempty"`
	Access         []Access          `json:"access"`
	Isolated       bool              `json:"isolated"`
	AllowFrom      []string          `json:"allowFrom"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Paths          []string          `json:"paths,omitempty"`
}

// DefaultApplier is the service account of a tenant namespace that lists
// paths and names no serviceAccount.
const DefaultApplier = "trellis-applier"

// Applier returns the service account that applies the namespace's
// objects: its serviceAccount, else DefaultApplier when it lists paths
// (a tenant's objects are always applied through impersonation), else ""
// (trellis's own identity).
func (n Namespace) Applier() string {
	if n.ServiceAccount == "" && len(n.Paths) > 0 {
		return DefaultApplier
	}
	return n.ServiceAccount
}

// TrellisNamespace is trellis's own namespace: its inventories, its
// Lease, its kubeconfig Secrets.
const TrellisNamespace = "trellis-system"

// SystemNamespaces can never be tenant namespaces: Kubernetes' own and
// trellis's.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease", TrellisNamespace}

// Quota mirrors #Quota.
type Quota struct {
	CPU    Quantity `json:"cpu,omitempty"`
	Memory Quantity `json:"memory,omitempty"`
	GPU    *int64   `json:"gpu,omitempty"`
	Pods   *int64   `json:"pods,omitempty"`
}

// Limits mirrors #Limits.
type Limits struct {
	DefaultRequest *Resources `json:"defaultRequest,omitempty"`
	Default        *Resources `json:"default,omitempty"`
	Max            *Resources `json:"max,omitempty"`
}

// Access mirrors #Access.
type Access struct {
	Role            string   `json:"role"`
	Users           []string `json:"users"`
	Groups          []string `json:"groups"`
	ServiceAccounts []string `json:"serviceAccounts"`
}

// Pipeline mirrors #Pipeline.
type Pipeline struct {
	Metadata Metadata     `json:"metadata"`
	Spec     PipelineSpec `json:"spec"`
}

// PipelineSpec mirrors #PipelineSpec.
type PipelineSpec struct {
	Placement
	Parameters         map[string]ParamValue `json:"parameters"`
	Steps              []Step                `json:"steps"`
	Schedule           string                `json:"schedule,omitempty"`
	Timezone           string                `json:"timezone,omitempty"`
	ConcurrencyPolicy  string                `json:"concurrencyPolicy,omitempty"`
	RunOnChange        bool                  `json:"runOnChange"`
	KeepRuns           int                   `json:"keepRuns"`
	ServiceAccountName string                `json:"serviceAccountName,omitempty"`
	Timeout            string                `json:"timeout,omitempty"`
	Volumes            []PipelineVolume      `json:"volumes"`
	OnExit             []Step                `json:"onExit,omitempty"`
	PodGC              *PodGC                `json:"podGC,omitempty"`
	TTL                *TTL                  `json:"ttl,omitempty"`
	Parallelism        int                   `json:"parallelism,omitempty"`
	Upstream           map[string]any        `json:"upstream,omitempty"`
}

// PodGC mirrors #PipelineSpec.podGC.
type PodGC struct {
	Strategy    string `json:"strategy"`
	DeleteDelay string `json:"deleteDelay,omitempty"`
}

// TTL mirrors #PipelineSpec.ttl.
type TTL struct {
	AfterCompletion string `json:"afterCompletion,omitempty"`
	AfterSuccess    string `json:"afterSuccess,omitempty"`
	AfterFailure    string `json:"afterFailure,omitempty"`
}

// EnvRef mirrors #EnvRef.
type EnvRef struct {
	Secret    string `json:"secret,omitempty"`
	ConfigMap string `json:"configMap,omitempty"`
	Key       string `json:"key"`
	Optional  *bool  `json:"optional,omitempty"`
}

// VolumeSource mirrors #VolumeSource.
type VolumeSource struct {
	Name      string    `json:"name"`
	EmptyDir  *EmptyDir `json:"emptyDir,omitempty"`
	Claim     string    `json:"claim,omitempty"`
	Secret    string    `json:"secret,omitempty"`
	ConfigMap string    `json:"configMap,omitempty"`
}

// EmptyDir mirrors #VolumeSource.emptyDir.
type EmptyDir struct {
	Medium    string   `json:"medium,omitempty"`
	SizeLimit Quantity `json:"sizeLimit,omitempty"`
}

// Mount mirrors #Mount.
type Mount struct {
	Volume    string `json:"volume"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	SubPath   string `json:"subPath,omitempty"`
}

// Volume mirrors #Volume.
type Volume struct {
	VolumeSource
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// PipelineVolume mirrors #PipelineVolume.
type PipelineVolume struct {
	VolumeSource
	ClaimTemplate *ClaimTemplate `json:"claimTemplate,omitempty"`
}

// ClaimTemplate mirrors #PipelineVolume.claimTemplate.
type ClaimTemplate struct {
	Storage          Quantity `json:"storage"`
	AccessModes      []string `json:"accessModes"`
	StorageClassName string   `json:"storageClassName,omitempty"`
}

// Container mirrors #Container.
type Container struct {
	Name      string             `json:"name,omitempty"`
	Image     string             `json:"image"`
	Command   []string           `json:"command,omitempty"`
	Args      []string           `json:"args,omitempty"`
	Env       map[string]string  `json:"env,omitempty"`
	EnvRefs   map[string]EnvRef  `json:"envRefs,omitempty"`
	Resources *WorkloadResources `json:"resources,omitempty"`
	Port      int                `json:"port,omitempty"`
	Mounts    []Mount            `json:"mounts,omitempty"`
	// MirrorMounts is Argo's mirrorVolumeMounts.
	MirrorMounts bool `json:"mirrorMounts,omitempty"`
}

// ParamValue is a parameter value written as a string, number or boolean;
// it holds the value's text.
type ParamValue string

// UnmarshalJSON accepts a JSON string, number or boolean.
func (p *ParamValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = ParamValue(s)
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("parameter: %w", err)
	}
	switch v := v.(type) {
	case bool:
		*p = ParamValue(strconv.FormatBool(v))
	default:
		*p = ParamValue(string(b))
	}
	return nil
}

// Step mirrors #Step.
type Step struct {
	Name           string                `json:"name"`
	Image          string                `json:"image"`
	Command        []string              `json:"command,omitempty"`
	Args           []string              `json:"args,omitempty"`
	Env            map[string]string     `json:"env,omitempty"`
	Resources      *WorkloadResources    `json:"resources,omitempty"`
	NodePool       string                `json:"nodePool,omitempty"`
	DependsOn      []string              `json:"dependsOn"`
	Inputs         []InputArtifact       `json:"inputs"`
	Outputs        StepOutputs           `json:"outputs"`
	Source         string                `json:"source,omitempty"`
	EnvRefs        map[string]EnvRef     `json:"envRefs,omitempty"`
	Mounts         []Mount               `json:"mounts"`
	Sidecars       []Container           `json:"sidecars"`
	InitContainers []Container           `json:"initContainers"`
	Arguments      map[string]ParamValue `json:"arguments"`
	Depends        string                `json:"depends,omitempty"`
	When           string                `json:"when,omitempty"`
	WithItems      []any                 `json:"withItems,omitempty"`
	WithParam      string                `json:"withParam,omitempty"`
	ContinueOn     *ContinueOn           `json:"continueOn,omitempty"`
	Retries        int                   `json:"retries"`
	RetryPolicy    string                `json:"retryPolicy,omitempty"`
	Backoff        *Backoff              `json:"backoff,omitempty"`
	Timeout        string                `json:"timeout,omitempty"`
	Upstream       map[string]any        `json:"upstream,omitempty"`
	Task           map[string]any        `json:"task,omitempty"`
}

// ContinueOn mirrors #Step.continueOn.
type ContinueOn struct {
	Failed bool `json:"failed,omitempty"`
	Error  bool `json:"error,omitempty"`
}

// Backoff mirrors #Step.backoff.
type Backoff struct {
	Duration    string `json:"duration"`
	Factor      int    `json:"factor,omitempty"`
	Cap         string `json:"cap,omitempty"`
	MaxDuration string `json:"maxDuration,omitempty"`
}

// InputArtifact mirrors #InputArtifact.
type InputArtifact struct {
	Name string `json:"name"`
	From string `json:"from"`
	Path string `json:"path"`
}

// StepOutputs mirrors #StepOutputs.
type StepOutputs struct {
	Artifacts  []NamedPath       `json:"artifacts"`
	Parameters []OutputParameter `json:"parameters"`
}

// OutputParameter mirrors #StepOutputs.parameters.
type OutputParameter struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Default string `json:"default,omitempty"`
}

// NamedPath is a named file in a container.
type NamedPath struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Experiment mirrors #Experiment.
type Experiment struct {
	Metadata Metadata       `json:"metadata"`
	Spec     ExperimentSpec `json:"spec"`
}

// ExperimentSpec mirrors #ExperimentSpec.
type ExperimentSpec struct {
	Placement
	Objective     Objective         `json:"objective"`
	Algorithm     Algorithm         `json:"algorithm"`
	Budget        Budget            `json:"budget"`
	EarlyStopping *EarlyStopping    `json:"earlyStopping,omitempty"`
	ResumePolicy  string            `json:"resumePolicy,omitempty"`
	Parameters    []SearchParameter `json:"parameters"`
	Trial         Trial             `json:"trial"`
	Upstream      map[string]any    `json:"upstream,omitempty"`
}

// EarlyStopping mirrors #ExperimentSpec.earlyStopping.
type EarlyStopping struct {
	Algorithm string            `json:"algorithm"`
	Settings  map[string]string `json:"settings"`
}

// MetricsCollector mirrors #MetricsCollector.
type MetricsCollector struct {
	Kind   string `json:"kind"`
	Path   string `json:"path,omitempty"`
	Format string `json:"format,omitempty"`
	Port   int    `json:"port,omitempty"`
}

// Objective mirrors #ExperimentSpec.objective.
type Objective struct {
	Metric            string            `json:"metric"`
	Type              string            `json:"type"`
	Goal              *float64          `json:"goal,omitempty"`
	AdditionalMetrics []string          `json:"additionalMetrics"`
	MetricsFormat     []string          `json:"metricsFormat,omitempty"`
	Strategies        map[string]string `json:"strategies,omitempty"`
	Collector         *MetricsCollector `json:"collector,omitempty"`
}

// Algorithm mirrors #ExperimentSpec.algorithm.
type Algorithm struct {
	Name     string            `json:"name"`
	Settings map[string]string `json:"settings"`
}

// Budget mirrors #ExperimentSpec.budget.
type Budget struct {
	MaxTrials       int `json:"maxTrials"`
	ParallelTrials  int `json:"parallelTrials"`
	MaxFailedTrials int `json:"maxFailedTrials"`
}

// SearchParameter mirrors #SearchParameter.
type SearchParameter struct {
	Name         string            `json:"name"`
	Type         string            `json:"type"`
	Min          *json.Number      `json:"min,omitempty"`
	Max          *json.Number      `json:"max,omitempty"`
	Step         *json.Number      `json:"step,omitempty"`
	Distribution string            `json:"distribution,omitempty"`
	Values       []json.RawMessage `json:"values,omitempty"`
}

// Trial mirrors #Trial.
type Trial struct {
	Kind        string             `json:"kind"`
	Image       string             `json:"image"`
	Command     []string           `json:"command"`
	Args        []string           `json:"args,omitempty"`
	Env         map[string]string  `json:"env,omitempty"`
	EnvRefs     map[string]EnvRef  `json:"envRefs,omitempty"`
	Volumes     []Volume           `json:"volumes"`
	Retain      bool               `json:"retain,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Annotations map[string]string  `json:"annotations,omitempty"`
	Resources   *WorkloadResources `json:"resources,omitempty"`
	NodePool    string             `json:"nodePool,omitempty"`
	Workers     int                `json:"workers"`
	Runtime     string             `json:"runtime,omitempty"`
	// WorkerResources are an MPIJob's workers' resources.
	WorkerResources *WorkloadResources `json:"workerResources,omitempty"`
}

// Endpoint mirrors #Endpoint.
type Endpoint struct {
	Metadata Metadata     `json:"metadata"`
	Spec     EndpointSpec `json:"spec"`
}

// EndpointSpec mirrors #EndpointSpec.
type EndpointSpec struct {
	Placement
	Model              Model              `json:"model"`
	Container          *Container         `json:"container,omitempty"`
	Transformer        *Container         `json:"transformer,omitempty"`
	Replicas           Replicas           `json:"replicas"`
	Autoscaling        *Autoscaling       `json:"autoscaling,omitempty"`
	Resources          *WorkloadResources `json:"resources,omitempty"`
	NodePool           string             `json:"nodePool,omitempty"`
	CanaryPercent      *int               `json:"canaryPercent,omitempty"`
	ServiceAccountName string             `json:"serviceAccountName,omitempty"`
	Timeout            int                `json:"timeout,omitempty"`
	Upstream           map[string]any     `json:"upstream,omitempty"`
}

// Replicas mirrors #EndpointSpec.replicas.
type Replicas struct {
	Min int `json:"min"`
	Max int `json:"max,omitempty"`
}

// Autoscaling mirrors #EndpointSpec.autoscaling.
type Autoscaling struct {
	Metric string `json:"metric"`
	Target int    `json:"target"`
}

// Model mirrors #Model.
type Model struct {
	Format          string            `json:"format"`
	Version         string            `json:"version,omitempty"`
	Runtime         string            `json:"runtime,omitempty"`
	RuntimeVersion  string            `json:"runtimeVersion,omitempty"`
	StorageURI      string            `json:"storageUri,omitempty"`
	Storage         *ModelStorage     `json:"storage,omitempty"`
	ProtocolVersion string            `json:"protocolVersion,omitempty"`
	Args            []string          `json:"args,omitempty"`
	Env             map[string]string `json:"env,omitempty"`
	EnvRefs         map[string]EnvRef `json:"envRefs,omitempty"`
	LivenessProbe   *Probe            `json:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe            `json:"readinessProbe,omitempty"`
	FromPipeline    *PipelineRef      `json:"fromPipeline,omitempty"`
}

// Probe mirrors #Probe.
type Probe struct {
	HTTPGet             *HTTPGetProbe   `json:"httpGet,omitempty"`
	TCPSocket           *TCPSocketProbe `json:"tcpSocket,omitempty"`
	Exec                *ExecProbe      `json:"exec,omitempty"`
	InitialDelaySeconds *int            `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int             `json:"periodSeconds,omitempty"`
	TimeoutSeconds      int             `json:"timeoutSeconds,omitempty"`
	FailureThreshold    int             `json:"failureThreshold,omitempty"`
	SuccessThreshold    int             `json:"successThreshold,omitempty"`
}

// HTTPGetProbe mirrors #Probe.httpGet.
type HTTPGetProbe struct {
	Path string `json:"path"`
	Port any    `json:"port,omitempty"`
}

// TCPSocketProbe mirrors #Probe.tcpSocket.
type TCPSocketProbe struct {
	Port any `json:"port"`
}

// ExecProbe mirrors #Probe.exec.
type ExecProbe struct {
	Command []string `json:"command"`
}

// ModelStorage mirrors #Model.storage.
type ModelStorage struct {
	Key        string            `json:"key,omitempty"`
	Path       string            `json:"path"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// PipelineRef mirrors #Model.fromPipeline.
type PipelineRef struct {
	Pipeline string `json:"pipeline"`
	Step     string `json:"step"`
	Artifact string `json:"artifact"`
}
