package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/test/gitserver"
)

// Hostile text in the records: a commit message, a run name, a log line.
const (
	hostileMessage = `<script>alert("message")</script> train iris`
	hostileName    = `x"><img src=x onerror=alert(1)>`
	hostileLog     = "level=INFO msg=\"</pre><script>alert('log')</script>\"\n"
	modelURI       = "s3://models/train/train-7h2kd/model.tgz"
	revA           = "0123456789abcdef0123456789abcdef01234567"
	repoURL        = "https://github.com/acme/ml-config.git"
)

var t0 = time.Date(2026, 11, 26, 18, 15, 0, 0, time.UTC)

// fixtureRecords are three runs of cluster staging at revA: the apply
// that created the pipeline run (and followed it to a model), the apply
// that pinned the endpoint to that model, and an experiment's run.
func fixtureRecords() []lineage.Record {
	src := lineage.Source{URL: repoURL, Ref: "main", Revision: revA, Author: "Ada <ada@example.com>", Message: hostileMessage}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	finished := at(0).Add(40 * time.Second)
	created := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(0), "staging", revA), Source: src, Cluster: "staging",
		Started: at(0), Finished: finished, Result: lineage.Succeeded,
		Objects: []lineage.Object{
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "WorkflowTemplate", Namespace: "ml", Name: "train", Action: reconcile.Configured},
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow", Namespace: "ml", Name: "train-7h2kd", Action: reconcile.Created},
			{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: hostileName, Action: reconcile.Created},
			{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "old", Action: reconcile.Pruned},
			{Version: "v1", Kind: "Namespace", Name: "ml", Action: reconcile.Unchanged},
		},
		Followed: []lineage.Followed{{Kind: lineage.KindWorkflow, Namespace: "ml", Name: "train-7h2kd", RunOf: "pipeline-train",
			Phase: "Succeeded", Started: &at0, Finished: &finished,
			Outputs: []lineage.Output{
				{Step: "train", Kind: lineage.OutputArtifact, Name: "model", Value: modelURI},
				{Step: "train", Kind: lineage.OutputParameter, Name: "accuracy", Value: "0.98"},
			}}},
	}
	pinned := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(2), "staging", revA), Source: src, Cluster: "staging",
		Started: at(2), Finished: at(3), Result: lineage.Succeeded,
		Objects: []lineage.Object{{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: "ml", Name: "iris",
			Action: reconcile.Configured}},
		Followed: []lineage.Followed{{Kind: lineage.KindInferenceService, Namespace: "ml", Name: "iris", Phase: "Ready",
			URL: "http://iris.ml.example.com", ModelURI: modelURI}},
		Pins: []lineage.Pin{{Namespace: "ml", Endpoint: "iris", Pipeline: "train", Step: "train", Artifact: "model", Run: "train-7h2kd", URI: modelURI}},
	}
	tuned := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(4), "staging", revA), Source: src, Cluster: "staging",
		Started: at(4), Finished: at(5), Result: lineage.Succeeded,
		Objects: []lineage.Object{{Group: "kubeflow.org", Version: "v1beta1", Kind: "Experiment", Namespace: "ml", Name: "tune", Action: reconcile.Created}},
		Followed: []lineage.Followed{{Kind: lineage.KindExperiment, Namespace: "ml", Name: "tune", Phase: "Succeeded",
			Outputs: []lineage.Output{{Step: "tune-x7k2", Kind: lineage.OutputParameter, Name: "lr", Value: "0.01"}}}},
	}
	return []lineage.Record{created, pinned, tuned}
}

var at0 = t0

// fixtureBranch pushes the fixture records, each with log, to the lineage
// branch of a repository of the loopback Git server, and returns its
// reader.
func fixtureBranch(t *testing.T, log string) *Branch {
	t.Helper()
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config")
	srv.Commit(t, url, map[string]string{"README.md": "config\n"}, "init")
	w := &lineage.Writer{RepoURL: url, Auth: srv.Auth(), StateDir: t.TempDir(), AuthorName: "trellis", AuthorEmail: "trellis@example.com"}
	for _, rec := range fixtureRecords() {
		require.NoError(t, w.Write(context.Background(), []byte(log), rec))
	}
	return &Branch{Repo: url, Auth: srv.Auth(), TTL: time.Hour}
}

// boardDaemon is a Daemon that says what a test gives it.
type boardDaemon struct {
	clusters []ClusterView
	prs      []PullRequestView
}

func (d boardDaemon) Clusters(context.Context) ([]ClusterView, error)         { return d.clusters, nil }
func (d boardDaemon) PullRequests(context.Context) ([]PullRequestView, error) { return d.prs, nil }

// serveDashboard serves a dashboard over the fixture branch.
func serveDashboard(t *testing.T, d Daemon, log string) *httptest.Server {
	t.Helper()
	h, err := Handler(Options{Lineage: fixtureBranch(t, log), Daemon: d})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get returns the status, headers and body of a GET of path.
func get(t *testing.T, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}
