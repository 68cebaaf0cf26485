package lineage

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/test/controlplane"
)

// cp is the control plane of the Follow tests: a real etcd and
// kube-apiserver with the upstream Argo, Katib and KServe CRDs, and no
// controller, kubelet or pod: the tests play the controllers' part.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error {
			cp = c
			return nil
		}))
}

// followSafety bounds what the tests wait for; none comes close.
const followSafety = time.Minute

// followInterval is the poll interval of the tests.
const followInterval = 20 * time.Millisecond

func TestLineageTargets(t *testing.T) {
	wf := reconcile.ObjectRef{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow", Namespace: "ml", Name: "train-iris-7xk2q"}
	x := reconcile.ObjectRef{Group: "kubeflow.org", Version: "v1beta1", Kind: "Experiment", Namespace: "ml", Name: "lr-search-5d8f2c1a"}
	isvc := reconcile.ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: "ml", Name: "iris"}
	isvc2 := isvc
	isvc2.Name = "wine"
	tpl := reconcile.ObjectRef{Group: "argoproj.io", Version: "v1alpha1", Kind: "WorkflowTemplate", Namespace: "ml", Name: "train-iris"}
	old := wf
	old.Name = "train-iris-2b9vk"
	cs := &reconcile.ChangeSet{Changes: []reconcile.Change{
		{Object: wf, Action: reconcile.Created},
		{Object: tpl, Action: reconcile.Configured},
		{Object: old, Action: reconcile.Unchanged},
		{Object: isvc2, Action: reconcile.Unchanged},
		{Object: isvc, Action: reconcile.Configured},
		{Object: x, Action: reconcile.Created},
		{Object: reconcile.ObjectRef{Group: "kubeflow.org", Version: "v1", Kind: "PyTorchJob", Namespace: "ml", Name: "mnist"}, Action: reconcile.Created},
	}}
	assert.Equal(t, []reconcile.ObjectRef{x, isvc, wf}, Targets(cs))
	assert.Empty(t, Targets(nil))
	cs.DryRun = true
	assert.Empty(t, Targets(cs), "a dry run started nothing")
}

func TestLineageShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		50 * time.Millisecond: "50ms", 90 * time.Second: "1m30s", 2 * time.Second: "2s",
	} {
		assert.Equal(t, want, shortDuration(d))
	}
}

// logRecorder is a slog.Handler that hands every record to the test.
type logRecorder chan slog.Record

func (logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	h <- r.Clone()
	return nil
}
func (h logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecorder) WithGroup(string) slog.Handler      { return h }

// await reads records until one has message msg and returns it.
func (h logRecorder) await(t *testing.T, msg string) slog.Record {
	t.Helper()
	safety := time.NewTimer(followSafety)
	defer safety.Stop()
	var seen []string
	for {
		select {
		case r := <-h:
			if r.Message == msg {
				return r
			}
			seen = append(seen, r.Message)
		case <-safety.C:
			t.Fatalf("no log %q; seen %q", msg, seen)
		}
	}
}

// drain returns the messages of the records logged so far.
func (h logRecorder) drain() []string {
	var out []string
	for {
		select {
		case r := <-h:
			out = append(out, r.Message)
		default:
			return out
		}
	}
}

// followStart runs Follow in a goroutine and returns its result channel.
func followStart(ctx context.Context, c *reconcile.Client, refs []reconcile.ObjectRef, opts FollowOptions) <-chan []Followed {
	done := make(chan []Followed, 1)
	go func() { done <- Follow(ctx, c, refs, opts) }()
	return done
}

func followResult(t *testing.T, done <-chan []Followed) []Followed {
	t.Helper()
	select {
	case got := <-done:
		return got
	case <-time.After(followSafety):
		t.Fatal("Follow did not return")
		return nil
	}
}

func followClient(t *testing.T) *reconcile.Client {
	t.Helper()
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	return c
}

// followCreate creates the fixture name in ns, without its status, and
// returns it as created.
func followCreate(t *testing.T, c *reconcile.Client, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj := followFixture(t, name)
	obj.SetNamespace(ns)
	obj.SetGeneration(0)
	delete(obj.Object, "status")
	ri, _, err := c.Resource(obj.GroupVersionKind(), ns)
	require.NoError(t, err)
	created, err := ri.Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err, "create %s", reconcile.RefOf(obj))
	return created
}

// followSetStatus sets the status of obj as its controller would: through
// the status subresource when its kind has one (InferenceService), else
// in the object (Argo's Workflow CRD has none).
func followSetStatus(t *testing.T, c *reconcile.Client, obj *unstructured.Unstructured, status map[string]any, subresource bool) *unstructured.Unstructured {
	t.Helper()
	ri, _, err := c.Resource(obj.GroupVersionKind(), obj.GetNamespace())
	require.NoError(t, err)
	live, err := ri.Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	require.NoError(t, err)
	live.Object["status"] = status
	if subresource {
		live, err = ri.UpdateStatus(context.Background(), live, metav1.UpdateOptions{})
	} else {
		live, err = ri.Update(context.Background(), live, metav1.UpdateOptions{})
	}
	require.NoError(t, err, "set status of %s", reconcile.RefOf(obj))
	return live
}

func TestLineageFollowWorkflow(t *testing.T) {
	ns := cp.Namespace(t)
	c := followClient(t)
	wf := followCreate(t, c, ns, "workflow")
	ref := reconcile.RefOf(wf)

	logs := make(logRecorder, 1000)
	finished := make(chan Followed, 10)
	var podLogs bytes.Buffer
	done := followStart(context.Background(), c, []reconcile.ObjectRef{ref}, FollowOptions{
		Interval:   followInterval,
		Timeout:    followSafety,
		Log:        slog.New(logs),
		OnFinished: func(f Followed) { finished <- f },
		PodLogs:    &podLogs,
	})

	rec := logs.await(t, "run Pending")
	attrs := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	assert.Equal(t, map[string]string{"kind": "Workflow", "namespace": ns, "name": wf.GetName()}, attrs)

	followSetStatus(t, c, wf, map[string]any{"phase": "Running", "startedAt": "2026-11-26T18:15:05Z"}, false)
	logs.await(t, "run Running")

	// The Argo controller's last word: the fixture's status, with the
	// nodes' outputs and the artifact repository.
	followSetStatus(t, c, wf, followFixture(t, "workflow").Object["status"].(map[string]any), false)
	logs.await(t, "run Succeeded")

	got := followResult(t, done)
	require.Len(t, got, 1)
	f := got[0]
	assert.Equal(t, "Succeeded", f.Phase)
	assert.Equal(t, "pipeline-train-iris", f.RunOf)
	assert.Equal(t, ns, f.Namespace)
	assert.Equal(t, at("2026-11-26T18:15:05Z"), f.Started)
	assert.Equal(t, at("2026-11-26T18:21:40Z"), f.Finished)
	assert.Equal(t, map[string]int{"Succeeded": 3}, f.Nodes)
	assert.Contains(t, f.Outputs, Output{Step: "train", Kind: OutputArtifact, Name: "model",
		Value: "s3://ml-artifacts/train-iris-7xk2q/train-iris-7xk2q-step-train-467207319/model.tgz"})
	assert.Contains(t, f.Outputs, Output{Step: "train", Kind: OutputParameter, Name: "accuracy", Value: "0.9766"})
	assert.Empty(t, f.Message)

	require.Len(t, finished, 1, "OnFinished once")
	assert.Equal(t, f, <-finished)

	// No kubelet and no pod here: the logs are skipped, one Debug line
	// per pod, and nothing is written.
	assert.Empty(t, podLogs.String())
	assert.Equal(t, 2, count(logs.drain(), "no pod log"), "one line per Pod node")
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestLineageFollowInferenceService(t *testing.T) {
	ns := cp.Namespace(t)
	c := followClient(t)
	isvc := followCreate(t, c, ns, "inferenceservice")
	ref := reconcile.RefOf(isvc)

	logs := make(logRecorder, 1000)
	done := followStart(context.Background(), c, []reconcile.ObjectRef{ref}, FollowOptions{
		Interval: followInterval, Timeout: followSafety, Log: slog.New(logs),
	})
	logs.await(t, "run NotReady")

	status := followFixture(t, "inferenceservice").Object["status"].(map[string]any)
	status["observedGeneration"] = isvc.GetGeneration()
	followSetStatus(t, c, isvc, status, true)

	got := followResult(t, done)
	require.Len(t, got, 1)
	f := got[0]
	assert.Equal(t, "Ready", f.Phase, f.Message)
	assert.Equal(t, "http://iris.ml.example.com", f.URL)
	assert.Equal(t, "s3://ml-artifacts/train-iris-7xk2q/train-iris-7xk2q-step-train-467207319/model.tgz", f.ModelURI)
	assert.Equal(t, map[string]int{"latest": 10, "prev": 90}, f.Traffic)
}

func TestLineageFollowTimeout(t *testing.T) {
	ns := cp.Namespace(t)
	c := followClient(t)
	wf := followCreate(t, c, ns, "workflow")
	followSetStatus(t, c, wf, map[string]any{"phase": "Running", "startedAt": "2026-11-26T18:15:05Z"}, false)
	missing := reconcile.ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: ns, Name: "absent"}
	unserved := reconcile.ObjectRef{Group: "example.com", Version: "v1", Kind: "Thing", Namespace: ns, Name: "x"}

	finished := make(chan Followed, 10)
	got := Follow(context.Background(), c, []reconcile.ObjectRef{reconcile.RefOf(wf), missing, unserved}, FollowOptions{
		Interval: followInterval, Timeout: 300 * time.Millisecond,
		OnFinished: func(f Followed) { finished <- f },
	})
	require.Len(t, got, 3)
	assert.Equal(t, []string{"InferenceService", "Thing", "Workflow"}, []string{got[0].Kind, got[1].Kind, got[2].Kind}, "sorted by kind")

	assert.Equal(t, "Unknown", got[0].Phase)
	assert.Contains(t, got[0].Message, "not found")
	assert.Equal(t, "Unknown", got[1].Phase)
	assert.Contains(t, got[1].Message, "kind not served")
	assert.Equal(t, "Running", got[2].Phase, "the phase last seen")
	assert.Equal(t, "following stopped after 300ms: still Running", got[2].Message)
	assert.Equal(t, at("2026-11-26T18:15:05Z"), got[2].Started)
	assert.Nil(t, got[2].Finished)
	assert.Empty(t, finished, "nothing finished")
}

func TestLineageFollowCanceled(t *testing.T) {
	ns := cp.Namespace(t)
	c := followClient(t)
	wf := followCreate(t, c, ns, "workflow")

	logs := make(logRecorder, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := followStart(ctx, c, []reconcile.ObjectRef{reconcile.RefOf(wf)}, FollowOptions{
		Interval: followInterval, Log: slog.New(logs),
	})
	logs.await(t, "run Pending")
	cancel()
	got := followResult(t, done)
	require.Len(t, got, 1)
	assert.Equal(t, "Pending", got[0].Phase)
	assert.Equal(t, "following stopped (context canceled): still Pending", got[0].Message)

	got = Follow(ctx, c, []reconcile.ObjectRef{reconcile.RefOf(wf)}, FollowOptions{})
	assert.Equal(t, []Followed{{Kind: "Workflow", Namespace: ns, Name: wf.GetName(), Phase: "Unknown",
		Message: "following stopped (context canceled) before it was read"}}, got, "a context already done reads nothing")
}

func TestLineageFollowExperiment(t *testing.T) {
	ns := cp.Namespace(t)
	c := followClient(t)
	x := followCreate(t, c, ns, "experiment")
	gvk := schema.GroupVersionKind{Group: "kubeflow.org", Version: "v1beta1", Kind: "Experiment"}
	require.Equal(t, gvk, x.GroupVersionKind())

	logs := make(logRecorder, 1000)
	done := followStart(context.Background(), c, []reconcile.ObjectRef{reconcile.RefOf(x)}, FollowOptions{
		Interval: followInterval, Timeout: followSafety, Log: slog.New(logs),
	})
	logs.await(t, "run Pending")
	followSetStatus(t, c, x, followFixture(t, "experiment").Object["status"].(map[string]any), true)

	got := followResult(t, done)
	require.Len(t, got, 1)
	assert.Equal(t, "Succeeded", got[0].Phase, got[0].Message)
	assert.Equal(t, "experiment-lr-search", got[0].RunOf)
	assert.Contains(t, got[0].Outputs, Output{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputParameter, Name: "lr", Value: "0.0421"})
	assert.Contains(t, got[0].Outputs, Output{Step: "lr-search-5d8f2c1a-x7k2p9qd", Kind: OutputMetric, Name: "accuracy", Value: "0.9766"})
	assert.True(t, strings.HasPrefix(got[0].Message, "Experiment has succeeded"))
}
