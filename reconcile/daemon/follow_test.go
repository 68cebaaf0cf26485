package daemon

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/render"
)

var (
	workflowGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"}
	isvcGVK     = schema.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}
	gitAuth     = &githttp.BasicAuth{Username: "u", Password: "p"}
)

// withLineage has the harness's daemon write lineage records to the
// config repo and follow runs for up to a minute.
func withLineage(t testing.TB) func(*harness, *Config) {
	return func(h *harness, cfg *Config) {
		cfg.SourceURL = h.url
		cfg.Lineage = &lineage.Writer{RepoURL: h.url, Auth: gitAuth, StateDir: t.TempDir(),
			AuthorName: "trellis", AuthorEmail: "trellis@example.com"}
		cfg.FollowTimeout = time.Minute
	}
}

// trainYAML declares a one-step pipeline whose step saves a model, run on
// every change, and an endpoint serving that model.
func (h *harness) trainYAML() map[string]string {
	return map[string]string{
		"pipeline.yaml": fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: train}
spec:
  cluster: dev
  namespace: %s
  runOnChange: true
  steps:
  - name: train
    image: python:3.12-slim
    command: [python, -c, "print('training')"]
    outputs: {artifacts: [{name: model, path: /out/model}]}
`, h.ns),
		"serve.yaml": fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata: {name: serve}
spec:
  cluster: dev
  namespace: %s
  model: {format: sklearn, fromPipeline: {pipeline: train, step: train, artifact: model}}
  replicas: {min: 1, max: 1}
`, h.ns),
	}
}

// records reads the lineage branch until it holds n records matching ok.
func (h *harness) records(n int, ok func(lineage.Record) bool) []lineage.Record {
	h.t.Helper()
	var recs []lineage.Record
	require.Eventually(h.t, func() bool {
		store, err := lineage.Open(context.Background(), h.url, "", gitAuth)
		if err != nil {
			return false
		}
		all, err := store.Records()
		if err != nil {
			return false
		}
		recs = recs[:0]
		for _, r := range all {
			if ok(r) {
				recs = append(recs, r)
			}
		}
		return len(recs) >= n
	}, 2*time.Minute, 50*time.Millisecond, "logs:\n%s", h.logs.String())
	return recs
}

// succeed moves the Workflow run to Succeeded as Argo's controller would,
// its train step having saved the model to the artifact repository.
func (h *harness) succeed(wf *unstructured.Unstructured, key string) {
	h.t.Helper()
	res, _, err := h.client.Resource(workflowGVK, h.ns)
	require.NoError(h.t, err)
	start := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	end := time.Now().UTC().Format(time.RFC3339)
	wf.Object["status"] = map[string]any{
		"phase": "Succeeded", "startedAt": start, "finishedAt": end,
		"artifactRepositoryRef": map[string]any{"artifactRepository": map[string]any{"s3": map[string]any{"bucket": "models"}}},
		"nodes": map[string]any{
			wf.GetName(): map[string]any{"id": wf.GetName(), "name": wf.GetName(), "displayName": wf.GetName(),
				"type": "DAG", "phase": "Succeeded", "startedAt": start, "finishedAt": end},
			wf.GetName() + "-1": map[string]any{"id": wf.GetName() + "-1", "name": wf.GetName() + ".train", "displayName": "train",
				"type": "Pod", "templateName": "step-train", "phase": "Succeeded", "startedAt": start, "finishedAt": end,
				"outputs": map[string]any{
					"artifacts":  []any{map[string]any{"name": "model", "path": "/out/model", "s3": map[string]any{"key": key}}},
					"parameters": []any{map[string]any{"name": "accuracy", "value": "0.98"}},
				}},
		},
	}
	_, err = res.Update(context.Background(), wf, metav1.UpdateOptions{}) // the Workflow CRD has no status subresource
	require.NoError(h.t, err)
}

// ready marks the InferenceService Ready as KServe would.
func (h *harness) ready(name string) {
	h.t.Helper()
	res, _, err := h.client.Resource(isvcGVK, h.ns)
	require.NoError(h.t, err)
	isvc, err := res.Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(h.t, err)
	isvc.Object["status"] = map[string]any{
		"observedGeneration": isvc.GetGeneration(),
		"url":                "http://" + name + "." + h.ns + ".example.com",
		"conditions":         []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
		"components": map[string]any{"predictor": map[string]any{
			"traffic": []any{map[string]any{"revisionName": name + "-predictor-00001", "percent": int64(100), "latestRevision": true}},
		}},
	}
	_, err = res.UpdateStatus(context.Background(), isvc, metav1.UpdateOptions{})
	require.NoError(h.t, err)
}

// TestDaemonPinsModelFromPipelineRun: trellis creates the pipeline's
// Workflow run and follows it; the endpoint waits for it. When the test
// moves the run to Succeeded, the record has its phase and outputs, the
// endpoint is applied again at once with that output's URI, and the trace
// leads from the endpoint back to the run and the commit.
func TestDaemonPinsModelFromPipelineRun(t *testing.T) {
	h := newHarnessWith(t, time.Hour, withLineage(t))
	require.False(t, h.next().Failed())
	rev := h.git.Commit(t, h.url, h.trainYAML(), "train and serve")
	h.d.Trigger()
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	var run reconcile.ObjectRef
	for _, c := range cs.Changes {
		switch c.Object.Kind {
		case "Workflow":
			assert.Equal(t, reconcile.Created, c.Action)
			run = c.Object
		case "InferenceService":
			if c.Object.Name == "serve" {
				assert.Equal(t, reconcile.Skipped, c.Action, "no successful run yet")
			}
		}
	}
	require.NotEmpty(t, run.Name, cs.Summary())

	wfs, _, err := h.client.Resource(workflowGVK, h.ns)
	require.NoError(t, err)
	wf, err := wfs.Get(context.Background(), run.Name, metav1.GetOptions{})
	require.NoError(t, err)
	uri := "s3://models/train/" + run.Name + "/model.tgz"
	h.succeed(wf, "train/"+run.Name+"/model.tgz")

	var pinned *reconcile.ChangeSet
	for pinned == nil {
		if cs := h.next(); len(cs.Pins) > 0 {
			pinned = cs
		}
	}
	assert.Equal(t, rev, pinned.Revision, "re-applied at once, with no new commit")
	assert.Equal(t, reconcile.ModelPin{Namespace: h.ns, Endpoint: "serve", Pipeline: "train", Step: "train", Artifact: "model",
		Run: run.Name, URI: uri}, pinned.Pins[0])
	isvcs, _, err := h.client.Resource(isvcGVK, h.ns)
	require.NoError(t, err)
	isvc, err := isvcs.Get(context.Background(), "serve", metav1.GetOptions{})
	require.NoError(t, err)
	got, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "storageUri")
	assert.Equal(t, uri, got, "the endpoint serves the run's output")
	h.ready("serve")

	followedRun := h.records(1, func(r lineage.Record) bool {
		return len(r.Followed) > 0 && r.Followed[0].Kind == lineage.KindWorkflow
	})[0]
	f := followedRun.Followed[0]
	assert.Equal(t, rev, followedRun.Source.Revision)
	assert.Equal(t, "Succeeded", f.Phase)
	assert.Equal(t, render.RunOf("pipeline", "train"), f.RunOf)
	assert.NotNil(t, f.Started)
	assert.NotNil(t, f.Finished)
	assert.Equal(t, map[string]int{"Succeeded": 2}, f.Nodes)
	assert.Equal(t, []lineage.Output{
		{Step: "train", Kind: lineage.OutputArtifact, Name: "model", Value: uri},
		{Step: "train", Kind: lineage.OutputParameter, Name: "accuracy", Value: "0.98"},
	}, f.Outputs)

	served := h.records(1, func(r lineage.Record) bool { return len(r.Pins) > 0 && r.Pins[0].Run == run.Name })[0]
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.RunsFollowed.WithLabelValues("dev", "Workflow", "Succeeded")))
	assert.Zero(t, testutil.ToFloat64(h.metrics.LineagePushErrors))
	require.Len(t, served.Followed, 1)
	assert.Equal(t, "Ready", served.Followed[0].Phase)
	assert.Equal(t, uri, served.Followed[0].ModelURI)

	store, err := lineage.Open(context.Background(), h.url, "", gitAuth)
	require.NoError(t, err)
	all, err := store.Records()
	require.NoError(t, err)
	chain, err := lineage.Trace(all, "serve", "dev")
	require.NoError(t, err)
	assert.Equal(t, uri, chain.ModelURI)
	require.NotNil(t, chain.Pin)
	assert.Equal(t, run.Name, chain.Pin.Run)
	require.NotNil(t, chain.Producer)
	assert.Equal(t, run.Name, chain.Producer.Name)
	require.NotNil(t, chain.Creator)
	assert.Equal(t, rev, chain.Creator.Source.Revision, "the commit whose run produced the model")
	assert.Equal(t, "train and serve", chain.Creator.Source.Message)

	outcome, err := lineage.Forward(all, rev[:7])
	require.NoError(t, err)
	require.Len(t, outcome.Runs, 1, "the other way: the commit's pipeline run")
	assert.Equal(t, run.Name, outcome.Runs[0].Run.Name)
	assert.Equal(t, "Succeeded", outcome.Runs[0].Run.Phase)
	require.Len(t, outcome.Runs[0].Served, 1)
	assert.Equal(t, "serve", outcome.Runs[0].Served[0].Pin.Endpoint)
}

// TestDaemonRedactsSecretValues: a Secret of the config repo carries a
// canary value, which is also in the commit's message and in an
// annotation of another object. The canary, plain or base64-encoded,
// appears nowhere on the lineage branch (files and commit messages) and
// nowhere in the daemon's output.
func TestDaemonRedactsSecretValues(t *testing.T) {
	const canary = "canary-4f1d2b9e7a"
	h := newHarnessWith(t, time.Hour, withLineage(t))
	require.False(t, h.next().Failed())
	rev := h.git.Commit(t, h.url, map[string]string{
		"clusters/dev/secret.yaml": fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: registry, namespace: %s}
stringData: {token: %s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: note, namespace: %s, annotations: {note: "rotated to %s"}}
data: {k: v}
`, h.ns, canary, h.ns, canary),
	}, "rotate the registry token to "+canary)
	h.d.Trigger()
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	rec := h.records(1, func(r lineage.Record) bool { return r.Source.Revision == rev })[0]
	assert.Contains(t, rec.Source.Message, "rotate the registry token to ", "the message is kept, the value hidden")

	encoded := base64.StdEncoding.EncodeToString([]byte(canary))
	for name, text := range branchTexts(t, h.url) {
		assert.NotContains(t, text, canary, name)
		assert.NotContains(t, text, encoded, name)
	}
	assert.NotContains(t, h.logs.String(), canary)
	assert.NotContains(t, h.logs.String(), encoded)
}

// branchTexts returns every file of every commit of the lineage branch,
// and every commit message, by a name for failure messages.
func branchTexts(t *testing.T, url string) map[string]string {
	t.Helper()
	repo, err := git.Clone(memory.NewStorage(), nil, &git.CloneOptions{URL: url, Auth: gitAuth,
		ReferenceName: plumbing.NewBranchReferenceName(lineage.DefaultBranch), SingleBranch: true})
	require.NoError(t, err)
	head, err := repo.Head()
	require.NoError(t, err)
	tip, err := repo.CommitObject(head.Hash())
	require.NoError(t, err)
	out := map[string]string{}
	require.NoError(t, object.NewCommitPreorderIter(tip, nil, nil).ForEach(func(c *object.Commit) error {
		out["message of "+c.Hash.String()] = c.Message
		files, err := c.Files()
		if err != nil {
			return err
		}
		return files.ForEach(func(f *object.File) error {
			r, err := f.Reader()
			if err != nil {
				return err
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			out[c.Hash.String()[:7]+":"+f.Name] = string(b)
			return err
		})
	}))
	require.NotEmpty(t, out)
	return out
}

// TestDaemonLogsMatchStdout: every line of each run's log on the lineage
// branch is a line the daemon printed on its standard output.
func TestDaemonLogsMatchStdout(t *testing.T) {
	h := newHarnessWith(t, time.Hour, func(h *harness, cfg *Config) {
		withLineage(t)(h, cfg)
		cfg.FollowTimeout = 100 * time.Millisecond // the endpoints never become ready here
	})
	first := h.next()
	require.False(t, first.Failed(), first.Error)
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.d.Trigger()
	require.False(t, h.waitRevision(second).Failed())

	recs := h.records(2, func(lineage.Record) bool { return true })
	store, err := lineage.Open(context.Background(), h.url, "", gitAuth)
	require.NoError(t, err)
	stdout := h.logs.String()
	revs := map[string]bool{}
	for _, r := range recs {
		revs[r.Source.Revision] = true
		log, err := store.Log(r.RunID)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(log)), "\n")
		require.NotEmpty(t, lines[0], "run %s has a log", r.RunID)
		for _, line := range lines {
			assert.Contains(t, stdout, line+"\n", "run %s: a log line not on stdout", r.RunID)
		}
		assert.Contains(t, string(log), "run="+r.RunID)
	}
	assert.True(t, revs[first.Revision] && revs[second], "a record of each revision: %v", revs)
}

// TestDaemonRecordsWhatHappened: drift checks that find nothing to do
// leave no record; a new revision does.
func TestDaemonRecordsWhatHappened(t *testing.T) {
	h := newHarnessWith(t, 50*time.Millisecond, func(h *harness, cfg *Config) {
		withLineage(t)(h, cfg)
		cfg.FollowTimeout = 10 * time.Millisecond // the endpoints never become ready here
	})
	first := h.next()
	require.False(t, first.Failed(), first.Error)
	for range 4 { // drift checks: nothing to do
		cs := h.next()
		require.Equal(t, len(cs.Changes), cs.Count(reconcile.Unchanged), cs.Summary())
	}
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.waitRevision(second)
	for range 4 {
		h.next()
	}
	recs := h.records(2, func(lineage.Record) bool { return true })
	assert.Equal(t, 2, len(recs), "one record per revision, none per drift check")
}

// TestDaemonLineageRemoteDown: records that cannot be pushed stay queued,
// and the metrics say so; applies go on.
func TestDaemonLineageRemoteDown(t *testing.T) {
	h := newHarnessWith(t, time.Hour, func(h *harness, cfg *Config) {
		withLineage(t)(h, cfg)
		cfg.FollowTimeout = 10 * time.Millisecond
		cfg.Lineage.RepoURL = "http://127.0.0.1:1/nowhere.git"
		cfg.Lineage.Backoff = lineage.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 2}
	})
	require.False(t, h.next().Failed())
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.LineagePushErrors) >= 1 }, time.Minute, 10*time.Millisecond)
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.LineagePending), "the record waits on disk")
	assert.Contains(t, h.logs.String(), "lineage records not pushed yet; they stay queued")
	rev := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(3)}, "scale")
	h.d.Trigger()
	require.False(t, h.waitRevision(rev).Failed(), "a lineage outage holds up no apply")
}
