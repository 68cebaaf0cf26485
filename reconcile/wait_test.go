package reconcile

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"trellis.dev/trellis/reconcile/mlkind"
)

// waitTimeout bounds every Wait of these tests; none should come close.
const waitTimeout = 30 * time.Second

// waitFixtures reads testdata/wait/objects.yaml, keyed by kind.
func waitFixtures(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/wait/objects.yaml")
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	out := map[string]*unstructured.Unstructured{}
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err == io.EOF {
			return out
		} else {
			require.NoError(t, err)
		}
		if len(obj.Object) > 0 {
			out[obj.GetKind()] = obj
		}
	}
}

// waitCreate creates obj in ns and returns its reference.
func waitCreate(t *testing.T, c *Client, ns string, obj *unstructured.Unstructured) ObjectRef {
	t.Helper()
	obj = obj.DeepCopy()
	obj.SetNamespace(ns)
	ri, _, err := c.Resource(obj.GroupVersionKind(), ns)
	require.NoError(t, err)
	_, err = ri.Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err, "create %s", RefOf(obj))
	return RefOf(obj)
}

// waitSetStatus replaces the status of the object ref names, through the
// status subresource when its kind has one.
func waitSetStatus(t *testing.T, c *Client, ref ObjectRef, status map[string]any) {
	t.Helper()
	ctx := context.Background()
	ri, _, err := c.Resource(refGVK(ref), ref.Namespace)
	require.NoError(t, err)
	obj, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	require.NoError(t, err)
	if gen := obj.GetGeneration(); gen > 0 && status["observedGeneration"] != nil {
		status["observedGeneration"] = gen
	}
	obj.Object["status"] = status
	_, err = ri.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) { // no status subresource: status is part of the object
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{})
	}
	require.NoError(t, err, "set status of %s", ref)
}

// waitCondition is one status condition with every field the upstream
// CRDs may require.
func waitCondition(typ, status, reason string) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{
		"type": typ, "status": status, "reason": reason, "message": typ + " " + status,
		"lastTransitionTime": now,
	}
}

func waitConditions(conds ...map[string]any) map[string]any {
	list := make([]any, len(conds))
	for i, c := range conds {
		list[i] = c
	}
	return map[string]any{"conditions": list}
}

func TestWaitReadyAtOnce(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	counter := &waitRequestCounter{}
	cfg := cp.RESTConfig()
	cfg.Wrap(counter.wrap)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	fx := waitFixtures(t)

	var refs []ObjectRef
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		cm := fx["ConfigMap"].DeepCopy()
		cm.SetName(name)
		refs = append(refs, waitCreate(t, c, ns, cm))
	}
	refs = append(refs, waitCreate(t, c, ns, fx["WorkflowTemplate"]))
	counter.reset()

	var reported []string
	got, err := Wait(context.Background(), c, refs, waitTimeout, func(r ObjectRef, s mlkind.Status, _ string) {
		reported = append(reported, r.Name+"="+string(s))
	})
	require.NoError(t, err)
	require.Len(t, got, len(refs))
	for i, r := range got {
		assert.Equal(t, refs[i], r.Ref, "results keep the order of refs")
		assert.Equal(t, mlkind.StatusCurrent, r.Status, r.String())
	}
	assert.Len(t, reported, len(refs), "one progress report per object")
	lists, gets := counter.counts(ns)
	assert.Equal(t, 2, lists, "one List per kind and namespace")
	assert.Equal(t, 0, gets, "no GET per object")
}

func TestWaitFollowsRuns(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	fx := waitFixtures(t)
	// Each run's status moves one step each time Wait reports it; the last
	// step is final.
	steps := map[string][]map[string]any{
		"Workflow": {{"phase": "Running"}, {"phase": "Succeeded"}},
		"PyTorchJob": {
			waitConditions(waitCondition("Running", "True", "JobRunning")),
			waitConditions(waitCondition("Running", "False", "JobFailed"), waitCondition("Failed", "True", "JobFailed")),
		},
		"TrainJob": {waitConditions(waitCondition("Complete", "True", "JobsCompleted"))},
		"InferenceService": {
			waitConditions(waitCondition("Ready", "False", "PredictorConfigurationReady")),
			{"observedGeneration": 1, "conditions": []any{waitCondition("Ready", "True", "")}},
		},
		"Experiment": {
			waitConditions(waitCondition("Running", "True", "ExperimentRunning")),
			waitConditions(waitCondition("Succeeded", "True", "ExperimentMaxTrialsReached")),
		},
	}
	want := map[string]mlkind.Status{"Workflow": mlkind.StatusCurrent, "PyTorchJob": mlkind.StatusFailed, "TrainJob": mlkind.StatusCurrent,
		"InferenceService": mlkind.StatusCurrent, "Experiment": mlkind.StatusCurrent}
	var refs []ObjectRef
	for kind := range steps {
		refs = append(refs, waitCreate(t, c, ns, fx[kind]))
	}
	seen := map[string][]string{}
	progress := func(r ObjectRef, s mlkind.Status, msg string) {
		seen[r.Kind] = append(seen[r.Kind], string(s)+": "+msg)
		if next := steps[r.Kind]; len(next) > 0 && !s.Done() {
			steps[r.Kind] = next[1:]
			waitSetStatus(t, c, r, next[0])
		}
	}
	got, err := Wait(context.Background(), c, refs, waitTimeout, progress)
	require.NoError(t, err)
	for _, r := range got {
		assert.Equal(t, want[r.Ref.Kind], r.Status, "%s, seen %q", r, seen[r.Ref.Kind])
		assert.Empty(t, steps[r.Ref.Kind], "%s: Wait returned before the last step", r.Ref)
	}
	assert.GreaterOrEqual(t, len(seen["Workflow"]), 3, "not started, Running, Succeeded: %q", seen["Workflow"])
}

func TestWaitTimeout(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	fx := waitFixtures(t)
	refs := []ObjectRef{
		waitCreate(t, c, ns, fx["Workflow"]), // never started: no Argo controller here
		{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "absent"},
		{Group: "example.com", Version: "v1", Kind: "Thing", Namespace: ns, Name: "x"},
	}
	begin := time.Now()
	got, err := Wait(context.Background(), c, refs, 2*time.Second, nil)
	require.ErrorIs(t, err, ErrWaitTimeout)
	assert.Less(t, time.Since(begin), 10*time.Second)
	assert.Contains(t, err.Error(), "2 objects not ready")
	assert.Contains(t, err.Error(), "workflow.argoproj.io/train-run")
	require.Len(t, got, 3)
	assert.Equal(t, mlkind.StatusInProgress, got[0].Status, got[0].String())
	assert.Equal(t, "not started", got[0].Message)
	assert.Equal(t, mlkind.StatusUnknown, got[1].Status, got[1].String())
	assert.Contains(t, got[1].Message, "not found")
	assert.Equal(t, mlkind.StatusFailed, got[2].Status, "a kind the cluster does not serve never becomes ready")
	assert.Contains(t, got[2].Message, "kind not served")
}

func TestWaitContextCancelled(t *testing.T) {
	ns := diffControlPlane(t).Namespace(t)
	c := diffClient(t)
	ref := waitCreate(t, c, ns, waitFixtures(t)["Workflow"])
	ctx, cancel := context.WithCancel(context.Background())
	got, err := Wait(ctx, c, []ObjectRef{ref}, 0, func(ObjectRef, mlkind.Status, string) { cancel() })
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrWaitTimeout)
	assert.Equal(t, mlkind.StatusInProgress, got[0].Status, "the last status seen is kept")
}

// waitRequestCounter counts the GET requests sent for namespaced objects:
// lists (a collection path) and gets (an object path).
type waitRequestCounter struct {
	mu    sync.Mutex
	paths []string
}

func (w *waitRequestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return waitRoundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodGet {
			w.mu.Lock()
			w.paths = append(w.paths, req.URL.Path)
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (w *waitRequestCounter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paths = nil
}

// counts returns the lists and gets of objects in ns.
func (w *waitRequestCounter) counts(ns string) (lists, gets int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.paths {
		_, rest, ok := strings.Cut(p, "/namespaces/"+ns+"/")
		if !ok {
			continue
		}
		if strings.Contains(rest, "/") {
			gets++
		} else {
			lists++
		}
	}
	return lists, gets
}

type waitRoundTripper func(*http.Request) (*http.Response, error)

func (f waitRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
