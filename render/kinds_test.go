package render

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/schema"
)

// The fixtures below are built as CUE would decode them: with every
// default set.

func ptrTo[T any](v T) *T { return &v }

func jsonNumber(s string) *json.Number { n := json.Number(s); return &n }

func rawValues(vs ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		out[i] = json.RawMessage(v)
	}
	return out
}

// fixtureCluster has a GPU and a CPU node pool and two tenant namespaces.
func fixtureCluster() *schema.Cluster {
	return &schema.Cluster{
		Metadata: schema.Metadata{Name: "prod", Labels: map[string]string{"env": "prod"}},
		Spec: schema.ClusterSpec{
			NodePools: map[string]schema.NodePool{
				"gpu-a100": {
					NodeSelector: map[string]string{"nvidia.com/gpu.product": "A100", "pool": "gpu"},
					Tolerations: []schema.Toleration{
						{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"},
						{Key: "dedicated", Operator: "Equal", Value: "ml"},
					},
				},
				"cpu": {NodeSelector: map[string]string{"pool": "cpu"}, Tolerations: []schema.Toleration{}},
			},
			Namespaces: map[string]schema.Namespace{
				"ml-team": {
					Labels: map[string]string{"team": "ml"},
					Quota:  &schema.Quota{CPU: "32", Memory: "128Gi", GPU: ptrTo[int64](4), Pods: ptrTo[int64](50)},
					Limits: &schema.Limits{
						DefaultRequest: &schema.Resources{CPU: "500m", Memory: "1Gi"},
						Default:        &schema.Resources{CPU: "1", Memory: "2Gi"},
						Max:            &schema.Resources{CPU: "8", Memory: "64Gi", GPU: 2},
					},
					Access: []schema.Access{
						{Role: "edit", Users: []string{"alice@example.com"}, Groups: []string{"ml-engineers"}, ServiceAccounts: []string{}},
						{Role: "view", Users: []string{}, Groups: []string{"auditors"}, ServiceAccounts: []string{}},
						{Role: "edit", Users: []string{}, Groups: []string{}, ServiceAccounts: []string{"ci"}},
					},
					Isolated:       true,
					AllowFrom:      []string{"monitoring", "ingress-nginx"},
					ServiceAccount: "deployer",
				},
				"monitoring": {
					Access:    []schema.Access{{Role: "view", Users: []string{"bob"}, Groups: []string{}, ServiceAccounts: []string{}}},
					Isolated:  false,
					AllowFrom: []string{},
				},
			},
		},
	}
}

// fixtureInput is the kindInput of a declaration in namespace ml-team.
func fixtureInput(name string) kindInput {
	return kindInput{
		Name:        name,
		Namespace:   "ml-team",
		Cluster:     fixtureCluster(),
		Revision:    "0123456789abcdef0123456789abcdef01234567",
		Labels:      map[string]string{"team": "ml"},
		Annotations: map[string]string{"owner": "ml-platform"},
	}
}

// fixturePipeline prepares data, trains on a GPU and evaluates the model.
func fixturePipeline() *schema.Pipeline {
	none := schema.StepOutputs{Artifacts: []schema.NamedPath{}, Parameters: []schema.OutputParameter{}}
	return &schema.Pipeline{
		Metadata: schema.Metadata{Name: "train"},
		Spec: schema.PipelineSpec{
			Placement: schema.Placement{Cluster: "prod", Namespace: "ml-team"},
			Parameters: map[string]schema.ParamValue{
				"lr": "0.01", "epochs": "10", "dataset": "s3://data/mnist",
			},
			Steps: []schema.Step{
				{
					Name: "prepare", Image: "python:3.12", Command: []string{"python", "prepare.py"},
					Args:      []string{"--dataset={{inputs.parameters.dataset}}", "--out=/out/data"},
					DependsOn: []string{}, Inputs: []schema.InputArtifact{},
					Outputs: schema.StepOutputs{
						Artifacts:  []schema.NamedPath{{Name: "dataset", Path: "/out/data"}},
						Parameters: []schema.OutputParameter{},
					},
				},
				{
					Name: "train", Image: "ghcr.io/acme/trainer:1.4", Command: []string{"python", "train.py"},
					Env:       map[string]string{"LR": "{{inputs.parameters.lr}}", "EPOCHS": "{{inputs.parameters.epochs}}"},
					Resources: &schema.WorkloadResources{Resources: schema.Resources{CPU: "4", Memory: "16Gi", GPU: 1}},
					NodePool:  "gpu-a100", DependsOn: []string{"prepare"},
					Inputs: []schema.InputArtifact{{Name: "data", From: "prepare.dataset", Path: "/in/data"}},
					Outputs: schema.StepOutputs{
						Artifacts:  []schema.NamedPath{{Name: "model", Path: "/out/model"}},
						Parameters: []schema.OutputParameter{{Name: "accuracy", Path: "/out/accuracy"}},
					},
					Retries: 2, Timeout: "2h",
				},
				{
					Name: "evaluate", Image: "ghcr.io/acme/trainer:1.4", Command: []string{"python", "eval.py"},
					DependsOn: []string{"train"},
					Inputs:    []schema.InputArtifact{{Name: "model", From: "train.model", Path: "/in/model"}},
					Outputs:   none, Timeout: "90s",
				},
			},
			Schedule: "0 3 * * *", Timezone: "Europe/Paris", RunOnChange: true, KeepRuns: 3,
			ServiceAccountName: "pipeline-runner", Timeout: "6h",
		},
	}
}

// fixtureExperiment searches four parameters with a Job trial.
func fixtureExperiment() *schema.Experiment {
	return &schema.Experiment{
		Metadata: schema.Metadata{Name: "lr-search"},
		Spec: schema.ExperimentSpec{
			Placement: schema.Placement{Cluster: "prod", Namespace: "ml-team"},
			Objective: schema.Objective{Metric: "accuracy", Type: "maximize", Goal: ptrTo(0.95), AdditionalMetrics: []string{"loss"}},
			Algorithm: schema.Algorithm{Name: "random", Settings: map[string]string{"random_state": "42"}},
			Budget:    schema.Budget{MaxTrials: 12, ParallelTrials: 3, MaxFailedTrials: 3},
			Parameters: []schema.SearchParameter{
				{Name: "lr", Type: "double", Min: jsonNumber("0.001"), Max: jsonNumber("0.1")},
				{Name: "batch", Type: "int", Min: jsonNumber("16"), Max: jsonNumber("128"), Step: jsonNumber("16")},
				{Name: "optimizer", Type: "categorical", Values: rawValues(`"sgd"`, `"adam"`)},
				{Name: "dropout", Type: "discrete", Values: rawValues("0.1", "0.25", "0.5")},
			},
			Trial: schema.Trial{
				Kind: "Job", Image: "ghcr.io/acme/trainer:1.4",
				Command:   []string{"python", "train.py", "--lr=${lr}", "--batch-size=${batch}"},
				Args:      []string{"--optimizer=${optimizer}", "--home=${HOME}"},
				Env:       map[string]string{"DROPOUT": "${dropout}", "MODE": "search"},
				Resources: &schema.WorkloadResources{Resources: schema.Resources{CPU: "2", Memory: "4Gi"}},
				NodePool:  "cpu",
			},
		},
	}
}

// fixturePyTorchExperiment searches the learning rate of a distributed
// PyTorchJob with two workers; its name is long enough to be cut.
func fixturePyTorchExperiment() *schema.Experiment {
	return &schema.Experiment{
		Metadata: schema.Metadata{Name: "distributed-resnet-hyperparameter-search"},
		Spec: schema.ExperimentSpec{
			Placement:  schema.Placement{Cluster: "prod", Namespace: "ml-team"},
			Objective:  schema.Objective{Metric: "loss", Type: "minimize", AdditionalMetrics: []string{}},
			Algorithm:  schema.Algorithm{Name: "bayesianoptimization", Settings: map[string]string{}},
			Budget:     schema.Budget{MaxTrials: 20, ParallelTrials: 2, MaxFailedTrials: 3},
			Parameters: []schema.SearchParameter{{Name: "lr", Type: "double", Min: jsonNumber("0.0001"), Max: jsonNumber("0.01")}},
			Trial: schema.Trial{
				Kind: "PyTorchJob", Image: "ghcr.io/acme/resnet:2.0",
				Command:   []string{"torchrun", "train.py", "--lr", "${lr}"},
				Resources: &schema.WorkloadResources{Resources: schema.Resources{CPU: "8", Memory: "32Gi", GPU: 1}},
				NodePool:  "gpu-a100", Workers: 2,
			},
		},
	}
}

// fixtureEndpoint serves a model from a storage URI on GPUs, with a canary.
func fixtureEndpoint() *schema.Endpoint {
	return &schema.Endpoint{
		Metadata: schema.Metadata{Name: "classifier"},
		Spec: schema.EndpointSpec{
			Placement: schema.Placement{Cluster: "prod", Namespace: "ml-team"},
			Model: schema.Model{
				Format: "sklearn", Version: "1", Runtime: "kserve-sklearnserver",
				StorageURI: "s3://models/classifier/v3",
			},
			Replicas:           schema.Replicas{Min: 1, Max: 5},
			Autoscaling:        &schema.Autoscaling{Metric: "rps", Target: 50},
			Resources:          &schema.WorkloadResources{Resources: schema.Resources{CPU: "100m", Memory: "1Gi", GPU: 1}, Limits: &schema.ResourceLimits{Memory: "2Gi"}},
			NodePool:           "gpu-a100",
			CanaryPercent:      ptrTo(10),
			ServiceAccountName: "model-reader",
		},
	}
}

// fixturePipelineEndpoint serves the model that pipeline train produces, and
// may scale to zero.
func fixturePipelineEndpoint() *schema.Endpoint {
	return &schema.Endpoint{
		Metadata: schema.Metadata{Name: "from-pipeline"},
		Spec: schema.EndpointSpec{
			Placement: schema.Placement{Cluster: "prod", Namespace: "ml-team"},
			Model: schema.Model{
				Format:       "pytorch",
				FromPipeline: &schema.PipelineRef{Pipeline: "train", Step: "train", Artifact: "model"},
			},
			Replicas: schema.Replicas{Min: 0},
		},
	}
}

// kindCases are the golden cases, by file name under testdata/kinds.
func kindCases() []struct {
	name   string
	render func() []*unstructured.Unstructured
} {
	return []struct {
		name   string
		render func() []*unstructured.Unstructured
	}{
		{"cluster", func() []*unstructured.Unstructured { return renderCluster("prod", fixtureCluster()) }},
		{"pipeline", func() []*unstructured.Unstructured { return renderPipeline(fixtureInput("train"), fixturePipeline()) }},
		{"experiment-job", func() []*unstructured.Unstructured {
			return renderExperiment(fixtureInput("lr-search"), fixtureExperiment())
		}},
		{"experiment-pytorchjob", func() []*unstructured.Unstructured {
			return renderExperiment(fixtureInput("distributed-resnet-hyperparameter-search"), fixturePyTorchExperiment())
		}},
		{"endpoint", func() []*unstructured.Unstructured {
			return renderEndpoint(fixtureInput("classifier"), fixtureEndpoint())
		}},
		{"endpoint-from-pipeline", func() []*unstructured.Unstructured {
			return renderEndpoint(fixtureInput("from-pipeline"), fixturePipelineEndpoint())
		}},
	}
}

// TestRenderKindsGolden pins the rendered YAML of every kind; UPDATE=1
// rewrites the golden files.
func TestRenderKindsGolden(t *testing.T) {
	for _, tc := range kindCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := marshalObjects(t, tc.render())
			assert.Equal(t, got, marshalObjects(t, tc.render()), "rendering is not deterministic")
			path := filepath.Join("testdata", "kinds", tc.name+".yaml")
			if os.Getenv("UPDATE") != "" {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with UPDATE=1 to create the golden file")
			assert.Equal(t, string(want), got)
		})
	}
}

// TestRenderKindsAreJSON checks that objects hold JSON values only, which
// unstructured deep-copies and which survive a JSON round trip unchanged.
func TestRenderKindsAreJSON(t *testing.T) {
	for _, tc := range kindCases() {
		for _, obj := range tc.render() {
			cp := obj.DeepCopy() // panics on a value of another type
			b, err := json.Marshal(cp.Object)
			require.NoError(t, err)
			var back map[string]any
			require.NoError(t, json.Unmarshal(b, &back))
			b2, err := json.Marshal(back)
			require.NoError(t, err)
			assert.JSONEq(t, string(b), string(b2))
		}
	}
}

func marshalObjects(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	docs := make([]string, len(objs))
	for i, o := range objs {
		b, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		docs[i] = string(b)
	}
	return strings.Join(docs, "---\n")
}

// findObject returns the object of the given kind and name, failing the test
// when there is none.
func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	require.Failf(t, "object not found", "%s %s/%s", kind, namespace, name)
	return nil
}

// fieldAt returns the value at a path of dot-separated map keys and list
// indexes; a map key may hold dots ("nvidia.com/gpu").
func fieldAt(t *testing.T, obj *unstructured.Unstructured, path string) any {
	t.Helper()
	var cur any = obj.Object
	segs := strings.Split(path, ".")
	for i := 0; i < len(segs); i++ {
		switch c := cur.(type) {
		case map[string]any:
			j := i + 1
			for ; j <= len(segs); j++ {
				if v, ok := c[strings.Join(segs[i:j], ".")]; ok {
					cur = v
					break
				}
			}
			require.LessOrEqualf(t, j, len(segs), "%s: no key at %q", path, segs[i])
			i = j - 1
		case []any:
			var n int
			require.NoError(t, json.Unmarshal([]byte(segs[i]), &n), path)
			require.Less(t, n, len(c), path)
			cur = c[n]
		default:
			require.Failf(t, "not a map or list", "%s at %q", path, segs[i])
		}
	}
	return cur
}

// TestRenderCluster checks the objects of each tenant namespace.
func TestRenderCluster(t *testing.T) {
	objs := renderCluster("prod", fixtureCluster())
	var ids []string
	for _, o := range objs {
		ids = append(ids, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	assert.Equal(t, []string{
		"Namespace /ml-team",
		"ServiceAccount ml-team/deployer",
		"RoleBinding ml-team/trellis-applier",
		"ResourceQuota ml-team/trellis-quota",
		"LimitRange ml-team/trellis-limits",
		"RoleBinding ml-team/trellis-edit",
		"RoleBinding ml-team/trellis-view",
		"RoleBinding ml-team/trellis-edit-2",
		"NetworkPolicy ml-team/trellis-isolation",
		"Namespace /monitoring",
		"RoleBinding monitoring/trellis-view",
	}, ids)

	ns := findObject(t, objs, "Namespace", "", "ml-team")
	assert.Equal(t, map[string]string{"env": "prod", "team": "ml", "katib.kubeflow.org/metrics-collector-injection": "enabled"}, ns.GetLabels())
	quota := findObject(t, objs, "ResourceQuota", "ml-team", "trellis-quota")
	assert.Equal(t, map[string]any{
		"requests.cpu": "32", "requests.memory": "128Gi", "requests.nvidia.com/gpu": "4", "pods": "50",
	}, fieldAt(t, quota, "spec.hard"))
	limits := findObject(t, objs, "LimitRange", "ml-team", "trellis-limits")
	assert.Equal(t, "Container", fieldAt(t, limits, "spec.limits.0.type"))
	assert.Equal(t, "2", fieldAt(t, limits, "spec.limits.0.max.nvidia.com/gpu"))
	assert.Equal(t, "500m", fieldAt(t, limits, "spec.limits.0.defaultRequest.cpu"))

	applier := findObject(t, objs, "RoleBinding", "ml-team", "trellis-applier")
	assert.Equal(t, "admin", fieldAt(t, applier, "roleRef.name"))
	assert.Equal(t, map[string]any{"kind": "ServiceAccount", "name": "deployer", "namespace": "ml-team"},
		fieldAt(t, applier, "subjects.0"))
	edit := findObject(t, objs, "RoleBinding", "ml-team", "trellis-edit")
	assert.Equal(t, map[string]any{"kind": "ClusterRole", "name": "edit", "apiGroup": "rbac.authorization.k8s.io"},
		fieldAt(t, edit, "roleRef"))
	assert.Equal(t, map[string]any{"kind": "Group", "name": "ml-engineers", "apiGroup": "rbac.authorization.k8s.io"},
		fieldAt(t, edit, "subjects.1"))
	edit2 := findObject(t, objs, "RoleBinding", "ml-team", "trellis-edit-2")
	assert.Equal(t, "ci", fieldAt(t, edit2, "subjects.0.name"))

	np := findObject(t, objs, "NetworkPolicy", "ml-team", "trellis-isolation")
	assert.Equal(t, []any{"Ingress"}, fieldAt(t, np, "spec.policyTypes"))
	assert.Equal(t, map[string]any{}, fieldAt(t, np, "spec.ingress.0.from.0.podSelector"))
	assert.Equal(t, "ingress-nginx", fieldAt(t, np, "spec.ingress.0.from.1.namespaceSelector.matchLabels.kubernetes.io/metadata.name"))
	assert.Equal(t, "monitoring", fieldAt(t, np, "spec.ingress.0.from.2.namespaceSelector.matchLabels.kubernetes.io/metadata.name"))

	// The platform's controllers reach into tenant namespaces: Katib's
	// controller (kubeflow) calls the suggestion service it runs beside
	// each Experiment, Knative's activator (knative-serving) and the
	// ingress gateway call predictors. Isolation admits them.
	c := fixtureCluster()
	c.Spec.PlatformNamespaces = []string{"kubeflow", "knative-serving", "monitoring"}
	np = findObject(t, renderCluster("prod", c), "NetworkPolicy", "ml-team", "trellis-isolation")
	var from []any
	for _, f := range fieldAt(t, np, "spec.ingress.0.from").([]any)[1:] {
		from = append(from, f.(map[string]any)["namespaceSelector"].(map[string]any)["matchLabels"].(map[string]any)["kubernetes.io/metadata.name"])
	}
	assert.Equal(t, []any{"ingress-nginx", "knative-serving", "kubeflow", "monitoring"}, from, "sorted, once each")
}

// TestRenderClusterEmptyNamespace renders a namespace that sets nothing
// but isolation to its Namespace and NetworkPolicy only.
func TestRenderClusterEmptyNamespace(t *testing.T) {
	c := &schema.Cluster{Spec: schema.ClusterSpec{Namespaces: map[string]schema.Namespace{
		"bare": {Quota: &schema.Quota{}, Limits: &schema.Limits{}, Isolated: true},
	}}}
	objs := renderCluster("dev", c)
	require.Len(t, objs, 2)
	assert.Equal(t, "Namespace", objs[0].GetKind())
	assert.Equal(t, katibNamespaceLabels, objs[0].GetLabels(), "only the label that turns on Katib metrics collection")
	assert.Equal(t, "NetworkPolicy", objs[1].GetKind())
	assert.Len(t, fieldAt(t, objs[1], "spec.ingress.0.from"), 1)
}

// TestRenderPipeline checks the WorkflowTemplate, the CronWorkflow and the
// Workflow run.
func TestRenderPipeline(t *testing.T) {
	objs := renderPipeline(fixtureInput("train"), fixturePipeline())
	require.Len(t, objs, 3)
	wt := findObject(t, objs, "WorkflowTemplate", "ml-team", "train")
	assert.Equal(t, "argoproj.io/v1alpha1", wt.GetAPIVersion())
	assert.Equal(t, "main", fieldAt(t, wt, "spec.entrypoint"))
	assert.Equal(t, int64(21600), fieldAt(t, wt, "spec.activeDeadlineSeconds"))
	assert.Equal(t, "pipeline-runner", fieldAt(t, wt, "spec.serviceAccountName"))
	assert.Equal(t, map[string]any{"name": "epochs", "value": "10"}, fieldAt(t, wt, "spec.arguments.parameters.1"))

	assert.Equal(t, "main", fieldAt(t, wt, "spec.templates.0.name"))
	assert.Equal(t, []any{"prepare"}, fieldAt(t, wt, "spec.templates.0.dag.tasks.1.dependencies"))
	assert.Equal(t, []any{"train"}, fieldAt(t, wt, "spec.templates.0.dag.tasks.2.dependencies"))
	assert.Equal(t, "{{tasks.train.outputs.artifacts.model}}", fieldAt(t, wt, "spec.templates.0.dag.tasks.2.arguments.artifacts.0.from"))
	assert.Equal(t, "{{workflow.parameters.lr}}", fieldAt(t, wt, "spec.templates.0.dag.tasks.0.arguments.parameters.2.value"))

	train := fieldAt(t, wt, "spec.templates.2").(map[string]any)
	assert.Equal(t, "step-train", train["name"])
	assert.Equal(t, map[string]any{"limit": int64(2)}, train["retryStrategy"])
	assert.Equal(t, int64(7200), train["activeDeadlineSeconds"])
	assert.Equal(t, map[string]any{"nvidia.com/gpu.product": "A100", "pool": "gpu"}, train["nodeSelector"])
	assert.Len(t, train["tolerations"], 2)
	assert.Equal(t, "1", fieldAt(t, wt, "spec.templates.2.container.resources.limits.nvidia.com/gpu"))
	assert.Equal(t, "1", fieldAt(t, wt, "spec.templates.2.container.resources.requests.nvidia.com/gpu"))
	assert.Equal(t, "EPOCHS", fieldAt(t, wt, "spec.templates.2.container.env.0.name"))
	assert.Equal(t, "/in/data", fieldAt(t, wt, "spec.templates.2.inputs.artifacts.0.path"))
	assert.Equal(t, "/out/accuracy", fieldAt(t, wt, "spec.templates.2.outputs.parameters.0.valueFrom.path"))
	assert.Len(t, fieldAt(t, wt, "spec.templates.2.inputs.parameters"), 3)
	assert.NotContains(t, fieldAt(t, wt, "spec.templates.1").(map[string]any), "retryStrategy")

	cw := findObject(t, objs, "CronWorkflow", "ml-team", "train")
	assert.Equal(t, []any{"0 3 * * *"}, fieldAt(t, cw, "spec.schedules"))
	assert.Equal(t, "Europe/Paris", fieldAt(t, cw, "spec.timezone"))
	// Allow, Argo's default, is left out (argo-workflows
	// workflow/validate/validate.go accepts "" as Allow).
	assert.NotContains(t, fieldAt(t, cw, "spec").(map[string]any), "concurrencyPolicy")
	assert.Equal(t, "train", fieldAt(t, cw, "spec.workflowSpec.workflowTemplateRef.name"))
	// Argo copies workflowMetadata onto the Workflows it schedules
	// (argo-workflows workflow/common/convert.go): a scheduled run is a run
	// of the pipeline, which pinning and lineage find by label.
	assert.Equal(t, "pipeline-train", fieldAt(t, cw, "spec.workflowMetadata.labels."+LabelRunOf))
	assert.Equal(t, "3", fieldAt(t, cw, "spec.workflowMetadata.annotations."+AnnotationKeepRuns))
	assert.Equal(t, int64(3), fieldAt(t, cw, "spec.successfulJobsHistoryLimit"))

	p := fixturePipeline()
	p.Spec.ConcurrencyPolicy = "Replace"
	cw = findObject(t, renderPipeline(fixtureInput("train"), p), "CronWorkflow", "ml-team", "train")
	assert.Equal(t, "Replace", fieldAt(t, cw, "spec.concurrencyPolicy"))

	run := objs[2]
	assert.Equal(t, "Workflow", run.GetKind())
	assert.Regexp(t, `^train-[0-9a-f]{8}$`, run.GetName())
	assert.Equal(t, "train-"+contentHash(wt.Object["spec"]), run.GetName())
	assert.Equal(t, "pipeline-train", run.GetLabels()[LabelRunOf])
	assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", run.GetLabels()[LabelRevision])
	assert.Equal(t, "ml", run.GetLabels()["team"])
	assert.Equal(t, "3", run.GetAnnotations()[AnnotationKeepRuns])
	assert.Equal(t, "train", fieldAt(t, run, "spec.workflowTemplateRef.name"))
	assert.Equal(t, fieldAt(t, wt, "spec.arguments"), fieldAt(t, run, "spec.arguments"))
}

// TestRenderPipelineOptional renders a pipeline without schedule, run or
// parameters to its WorkflowTemplate alone.
func TestRenderPipelineOptional(t *testing.T) {
	p := fixturePipeline()
	p.Spec.Schedule, p.Spec.RunOnChange, p.Spec.Parameters = "", false, map[string]schema.ParamValue{}
	objs := renderPipeline(fixtureInput("train"), p)
	require.Len(t, objs, 1)
	spec := objs[0].Object["spec"].(map[string]any)
	assert.NotContains(t, spec, "arguments")
	assert.NotContains(t, fieldAt(t, objs[0], "spec.templates.0.dag.tasks.0").(map[string]any), "arguments")
	assert.NotContains(t, fieldAt(t, objs[0], "spec.templates.1").(map[string]any), "inputs")

	p.Spec.Steps[2].DependsOn = []string{"prepare"}
	objs = renderPipeline(fixtureInput("train"), p)
	assert.Equal(t, []any{"prepare", "train"}, fieldAt(t, objs[0], "spec.templates.0.dag.tasks.2.dependencies"),
		"the producer of an input artifact is a dependency")
}

// TestRenderPipelineRunName checks that the run's name changes with the
// template and its parameters, and only with them.
func TestRenderPipelineRunName(t *testing.T) {
	runName := func(in kindInput, p *schema.Pipeline) string {
		objs := renderPipeline(in, p)
		run := objs[len(objs)-1]
		require.Equal(t, "Workflow", run.GetKind())
		return run.GetName()
	}
	base := runName(fixtureInput("train"), fixturePipeline())
	assert.Equal(t, base, runName(fixtureInput("train"), fixturePipeline()), "nothing changed")

	in := fixtureInput("train")
	in.Revision = "fedcba9876543210fedcba9876543210fedcba98"
	assert.Equal(t, base, runName(in, fixturePipeline()), "only the revision changed")

	p := fixturePipeline()
	p.Spec.Schedule = "0 4 * * *"
	assert.Equal(t, base, runName(fixtureInput("train"), p), "only the schedule changed")

	p = fixturePipeline()
	p.Spec.Parameters["lr"] = "0.02"
	assert.NotEqual(t, base, runName(fixtureInput("train"), p), "a parameter default changed")

	p = fixturePipeline()
	p.Spec.Steps[1].Image = "ghcr.io/acme/trainer:1.5"
	assert.NotEqual(t, base, runName(fixtureInput("train"), p), "a step changed")

	long := strings.Repeat("p", 63)
	name := runName(fixtureInput(long), fixturePipeline())
	assert.Len(t, name, 63)
	assert.True(t, strings.HasPrefix(name, strings.Repeat("p", 54)+"-"), name)
}

// TestRenderExperiment checks the Katib Experiment of a Job trial.
func TestRenderExperiment(t *testing.T) {
	objs := renderExperiment(fixtureInput("lr-search"), fixtureExperiment())
	require.Len(t, objs, 1)
	x := objs[0]
	assert.Equal(t, "kubeflow.org/v1beta1", x.GetAPIVersion())
	assert.Regexp(t, `^lr-search-[0-9a-f]{8}$`, x.GetName())
	assert.Equal(t, "lr-search-"+contentHash(x.Object["spec"]), x.GetName())
	assert.Equal(t, "experiment-lr-search", x.GetLabels()[LabelRunOf])
	assert.Equal(t, "5", x.GetAnnotations()[AnnotationKeepRuns])

	assert.Equal(t, 0.95, fieldAt(t, x, "spec.objective.goal"))
	assert.Equal(t, int64(12), fieldAt(t, x, "spec.maxTrialCount"))
	assert.Equal(t, map[string]any{"min": "16", "max": "128", "step": "16"}, fieldAt(t, x, "spec.parameters.1.feasibleSpace"))
	assert.Equal(t, []any{"sgd", "adam"}, fieldAt(t, x, "spec.parameters.2.feasibleSpace.list"))
	assert.Equal(t, []any{"0.1", "0.25", "0.5"}, fieldAt(t, x, "spec.parameters.3.feasibleSpace.list"))
	assert.Equal(t, "StdOut", fieldAt(t, x, "spec.metricsCollectorSpec.collector.kind"))

	assert.Equal(t, "training-container", fieldAt(t, x, "spec.trialTemplate.primaryContainerName"))
	assert.Len(t, fieldAt(t, x, "spec.trialTemplate.trialParameters"), 4)
	assert.Equal(t, map[string]any{"name": "batch", "reference": "batch"}, fieldAt(t, x, "spec.trialTemplate.trialParameters.1"))
	assert.NotContains(t, fieldAt(t, x, "spec.trialTemplate").(map[string]any), "successCondition")
	pod := "spec.trialTemplate.trialSpec.spec.template.spec."
	assert.Equal(t, "batch/v1", fieldAt(t, x, "spec.trialTemplate.trialSpec.apiVersion"))
	assert.Equal(t, "Never", fieldAt(t, x, pod+"restartPolicy"))
	assert.Equal(t, "training-container", fieldAt(t, x, pod+"containers.0.name"))
	assert.Equal(t, "--lr=${trialParameters.lr}", fieldAt(t, x, pod+"containers.0.command.2"))
	assert.Equal(t, "--home=${HOME}", fieldAt(t, x, pod+"containers.0.args.1"), "not a search parameter")
	assert.Equal(t, "${trialParameters.dropout}", fieldAt(t, x, pod+"containers.0.env.0.value"))
	assert.Equal(t, map[string]any{"pool": "cpu"}, fieldAt(t, x, pod+"nodeSelector"))
}

// TestRenderExperimentPyTorchJob checks a distributed trial and the
// length of the Experiment's name.
func TestRenderExperimentPyTorchJob(t *testing.T) {
	name := "distributed-resnet-hyperparameter-search"
	x := renderExperiment(fixtureInput(name), fixturePyTorchExperiment())[0]
	assert.LessOrEqual(t, len(x.GetName()), 40)
	assert.Regexp(t, `^distributed-resnet-hyperparamet-[0-9a-f]{8}$`, x.GetName())
	tt := "spec.trialTemplate."
	assert.Equal(t, "pytorch", fieldAt(t, x, tt+"primaryContainerName"))
	assert.Equal(t, `status.conditions.#(type=="Succeeded")#|#(status=="True")#`, fieldAt(t, x, tt+"successCondition"))
	assert.Equal(t, `status.conditions.#(type=="Failed")#|#(status=="True")#`, fieldAt(t, x, tt+"failureCondition"))
	specs := tt + "trialSpec.spec.pytorchReplicaSpecs."
	assert.Equal(t, "PyTorchJob", fieldAt(t, x, tt+"trialSpec.kind"))
	assert.Equal(t, int64(1), fieldAt(t, x, specs+"Master.replicas"))
	assert.Equal(t, int64(2), fieldAt(t, x, specs+"Worker.replicas"))
	assert.Equal(t, "OnFailure", fieldAt(t, x, specs+"Worker.restartPolicy"))
	assert.Equal(t, "pytorch", fieldAt(t, x, specs+"Worker.template.spec.containers.0.name"))
	assert.Equal(t, "1", fieldAt(t, x, specs+"Master.template.spec.containers.0.resources.limits.nvidia.com/gpu"))
	assert.Equal(t, "A100", fieldAt(t, x, specs+"Master.template.spec.nodeSelector.nvidia.com/gpu.product"))

	e := fixturePyTorchExperiment()
	e.Spec.Trial.Workers = 0
	x = renderExperiment(fixtureInput(name), e)[0]
	assert.NotContains(t, fieldAt(t, x, specs[:len(specs)-1]).(map[string]any), "Worker")

	e = fixturePyTorchExperiment()
	e.Spec.Budget.MaxTrials = 21
	assert.NotEqual(t, x.GetName(), renderExperiment(fixtureInput(name), e)[0].GetName(), "a changed spec is a new Experiment")
}

// TestRenderExperimentPlaceholders checks that ${NAME} is replaced in the
// image too, and that trial metadata becomes a meta trial parameter, as
// Katib's manifest generator expects (katib v0.19.0
// pkg/controller.v1beta1/experiment/manifest/generator.go, applyParameters).
func TestRenderExperimentPlaceholders(t *testing.T) {
	e := fixtureExperiment()
	e.Spec.Trial.Image = "registry.example.com/train:${optimizer}"
	e.Spec.Trial.Args = append(e.Spec.Trial.Args, "--out=s3://runs/${trialSpec.Name}", "--ns=${trialSpec.Namespace}")
	x := renderExperiment(fixtureInput("lr-search"), e)[0]
	pod := "spec.trialTemplate.trialSpec.spec.template.spec.containers.0."
	assert.Equal(t, "registry.example.com/train:${trialParameters.optimizer}", fieldAt(t, x, pod+"image"))
	assert.Equal(t, "--out=s3://runs/${trialParameters.trialSpec.Name}", fieldAt(t, x, pod+"args.2"))
	params := fieldAt(t, x, "spec.trialTemplate.trialParameters").([]any)
	require.Len(t, params, 6)
	assert.Equal(t, map[string]any{"name": "trialSpec.Name", "reference": "${trialSpec.Name}"}, params[4])
	assert.Equal(t, map[string]any{"name": "trialSpec.Namespace", "reference": "${trialSpec.Namespace}"}, params[5])
}

// TestRenderEndpoint checks an InferenceService served from a storage URI.
func TestRenderEndpoint(t *testing.T) {
	objs := renderEndpoint(fixtureInput("classifier"), fixtureEndpoint())
	require.Len(t, objs, 1)
	isvc := objs[0]
	assert.Equal(t, "serving.kserve.io/v1beta1", isvc.GetAPIVersion())
	assert.Equal(t, "classifier", isvc.GetName())
	p := "spec.predictor."
	assert.Equal(t, int64(1), fieldAt(t, isvc, p+"minReplicas"))
	assert.Equal(t, int64(5), fieldAt(t, isvc, p+"maxReplicas"))
	assert.Equal(t, "rps", fieldAt(t, isvc, p+"scaleMetric"))
	assert.Equal(t, int64(50), fieldAt(t, isvc, p+"scaleTarget"))
	assert.Equal(t, int64(10), fieldAt(t, isvc, p+"canaryTrafficPercent"))
	assert.Equal(t, "model-reader", fieldAt(t, isvc, p+"serviceAccountName"))
	assert.Equal(t, "gpu", fieldAt(t, isvc, p+"nodeSelector.pool"))
	assert.Equal(t, "Exists", fieldAt(t, isvc, p+"tolerations.0.operator"))
	assert.Equal(t, map[string]any{"name": "sklearn", "version": "1"}, fieldAt(t, isvc, p+"model.modelFormat"))
	assert.Equal(t, "kserve-sklearnserver", fieldAt(t, isvc, p+"model.runtime"))
	assert.Equal(t, "s3://models/classifier/v3", fieldAt(t, isvc, p+"model.storageUri"))
	assert.Equal(t, "1", fieldAt(t, isvc, p+"model.resources.requests.nvidia.com/gpu"))
	assert.Equal(t, "2Gi", fieldAt(t, isvc, p+"model.resources.limits.memory"))
	assert.NotContains(t, isvc.GetAnnotations(), AnnotationModelFrom)
}

// TestRenderEndpointFromPipeline checks an endpoint whose model a later
// stage pins from a pipeline's output.
func TestRenderEndpointFromPipeline(t *testing.T) {
	isvc := renderEndpoint(fixtureInput("from-pipeline"), fixturePipelineEndpoint())[0]
	assert.Equal(t, "train/train/model", isvc.GetAnnotations()[AnnotationModelFrom])
	assert.Equal(t, "ml-platform", isvc.GetAnnotations()["owner"])
	assert.NotContains(t, fieldAt(t, isvc, "spec.predictor.model").(map[string]any), "storageUri")
	assert.Equal(t, int64(0), fieldAt(t, isvc, "spec.predictor.minReplicas"))
	// KServe's Knative reconciler sets no max-scale when maxReplicas is 0 or
	// unset (kserve pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go):
	// without replicas.max the autoscaler is unbounded, as upstream.
	assert.NotContains(t, fieldAt(t, isvc, "spec.predictor").(map[string]any), "maxReplicas")
}

// TestRenderHelpers checks names, label values, durations and quantities.
func TestRenderHelpers(t *testing.T) {
	assert.Equal(t, "abc-12345678", hashedName("abc", "12345678", 63))
	assert.Equal(t, "abcd-12345678", hashedName("abcd-efgh", "12345678", 14), "no '-' before the hash's '-'")
	assert.Len(t, hashedName(strings.Repeat("x", 80), "12345678", 40), 40)

	for in, want := range map[string]string{
		"":                       "",
		"main@sha1:0123abcd":     "main-sha1-0123abcd",
		"-v1.0_":                 "v1.0",
		strings.Repeat("a", 70):  strings.Repeat("a", 63),
		"refs/heads/x/y@sha1:ab": "refs-heads-x-y-sha1-ab",
	} {
		assert.Equal(t, want, labelValue(in, false), in)
	}
	tail := labelValue("refs/heads/feature/a-long-branch-name@sha1:0123456789abcdef0123456789abcdef01234567", true)
	assert.LessOrEqual(t, len(tail), 63)
	assert.True(t, strings.HasSuffix(tail, "0123456789abcdef0123456789abcdef01234567"), tail)

	for in, want := range map[string]int64{"90s": 90, "1.5h": 5400, "1ms": 1, "2h30m": 9000} {
		got, ok := durationSeconds(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	_, ok := durationSeconds("")
	assert.False(t, ok)

	assert.Equal(t, "500m", quantity("0.5"))
	assert.Equal(t, "4Gi", quantity("4Gi"))
	assert.Equal(t, "not-a-quantity", quantity("not-a-quantity"))
}

// TestContainerResources pins the resources policy: requests as declared,
// limits where declared, GPUs limited to their request (Kubernetes requires
// it of extended resources), and a limit equal to the request only where the
// namespace's default limit is below it (the LimitRanger would set that
// default and the apiserver then refuse the pod).
func TestContainerResources(t *testing.T) {
	defaults := &schema.Resources{CPU: "1", Memory: "2Gi"}
	for _, tt := range []struct {
		name     string
		in       *schema.WorkloadResources
		defaults *schema.Resources
		want     map[string]any
	}{
		{"nothing", nil, defaults, nil},
		{"small request keeps the namespace default", &schema.WorkloadResources{Resources: schema.Resources{CPU: "100m", Memory: "256Mi"}},
			defaults, map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "256Mi"}}},
		{"request above the default is its own limit", &schema.WorkloadResources{Resources: schema.Resources{CPU: "2", Memory: "1Gi"}},
			defaults, map[string]any{"requests": map[string]any{"cpu": "2", "memory": "1Gi"}, "limits": map[string]any{"cpu": "2"}}},
		{"no namespace default, no limit", &schema.WorkloadResources{Resources: schema.Resources{CPU: "8"}},
			nil, map[string]any{"requests": map[string]any{"cpu": "8"}}},
		{"declared limits win", &schema.WorkloadResources{Resources: schema.Resources{CPU: "2", Memory: "1Gi"}, Limits: &schema.ResourceLimits{CPU: "4", Memory: "3Gi"}},
			defaults, map[string]any{"requests": map[string]any{"cpu": "2", "memory": "1Gi"}, "limits": map[string]any{"cpu": "4", "memory": "3Gi"}}},
		{"GPUs are limited to their request", &schema.WorkloadResources{Resources: schema.Resources{GPU: 2}},
			defaults, map[string]any{"requests": map[string]any{ResourceGPU: "2"}, "limits": map[string]any{ResourceGPU: "2"}}},
		{"limits only", &schema.WorkloadResources{Limits: &schema.ResourceLimits{Memory: "1Gi"}},
			defaults, map[string]any{"limits": map[string]any{"memory": "1Gi"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := containerResources(tt.in, tt.defaults)
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
