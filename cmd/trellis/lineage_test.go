package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/test/gitserver"
)

// lineageT0 is when the first recorded run started.
var lineageT0 = time.Date(2026, 11, 26, 18, 15, 0, 0, time.UTC)

// lineageRecords are three runs: staging creates a pipeline run that
// trains a model, then pins the endpoint to it; prod fails.
func lineageRecords() []lineage.Record {
	src := func(rev, msg string) lineage.Source {
		return lineage.Source{URL: "https://git.example.com/ml/platform.git", Ref: "main", Revision: rev,
			Author: "Ada Lovelace <ada@example.com>", Message: msg}
	}
	at := func(m int) time.Time { return lineageT0.Add(time.Duration(m) * time.Minute) }
	start, end := at(1), at(9)
	run := "train-iris-5f2a9c"
	model := "s3://models/iris/" + run + "/model"
	first := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(0), "staging", "ab12cd34ef"),
		Source: src("ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12", "iris: more trees"), Cluster: "staging",
		Started: at(0), Finished: at(10), Result: lineage.Succeeded,
		Declarations: []lineage.Declaration{{Kind: "Pipeline", Name: "train-iris", Path: "pipelines/iris.cue", Hash: "sha256:1a"}},
		Objects: []lineage.Object{
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "WorkflowTemplate", Namespace: "ml", Name: "train-iris", Action: reconcile.Configured, Hash: "sha256:2b"},
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow", Namespace: "ml", Name: run, Action: reconcile.Created, Hash: "sha256:3c"},
		},
		Followed: []lineage.Followed{{Kind: lineage.KindWorkflow, Namespace: "ml", Name: run, RunOf: "pipeline-train-iris",
			Phase: "Succeeded", Started: &start, Finished: &end, Nodes: map[string]int{"Succeeded": 3},
			Outputs: []lineage.Output{{Step: "train", Kind: lineage.OutputArtifact, Name: "model", Value: model},
				{Step: "evaluate", Kind: lineage.OutputParameter, Name: "accuracy", Value: "0.97"}}}},
	}
	second := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(20), "staging", "cd34ef56ab"),
		Source: src("cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34", "serve iris"), Cluster: "staging",
		Started: at(20), Finished: at(22), Result: lineage.Succeeded,
		Objects: []lineage.Object{{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: "ml", Name: "iris", Action: reconcile.Configured}},
		Followed: []lineage.Followed{{Kind: lineage.KindInferenceService, Namespace: "ml", Name: "iris", Phase: "Ready",
			URL: "http://iris.ml.example.com", ModelURI: model, Traffic: map[string]int{"latest": 100}}},
		Pins: []lineage.Pin{{Namespace: "ml", Endpoint: "iris", Pipeline: "train-iris", Step: "train", Artifact: "model", Run: run, URI: model}},
	}
	third := lineage.Record{
		SchemaVersion: lineage.SchemaVersion, RunID: lineage.RunID(at(30), "prod", "cd34ef56ab"),
		Source: src("cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34", "serve iris"), Cluster: "prod",
		Started: at(30), Finished: at(31), Result: lineage.Failed,
		Objects: []lineage.Object{}, Errors: []string{"cluster prod: connection refused"},
	}
	return []lineage.Record{first, second, third}
}

// lineageServer is a Git server whose config repo has the records on its
// lineage branch.
func lineageServer(t *testing.T) (*gitserver.Server, string) {
	t.Helper()
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "platform")
	w := &lineage.Writer{RepoURL: url, StateDir: t.TempDir(), Now: func() time.Time { return lineageT0 }}
	for _, r := range lineageRecords() {
		require.NoError(t, w.Enqueue(r, []byte("time=... level=INFO msg=applied run="+r.RunID+"\n")))
	}
	require.NoError(t, w.Flush(context.Background()))
	return srv, url
}

// TestLineageCLI pins the output of trellis lineage list, show and trace.
func TestLineageCLI(t *testing.T) {
	srv, url := lineageServer(t)
	dir := srv.RepoDir("platform")
	second := lineageRecords()[1].RunID
	cases := []struct {
		name string
		args []string
	}{
		{"list", []string{"lineage", "list", "--repo", url}},
		{"list-dir", []string{"lineage", "list", "--repo", dir}},
		{"list-cluster-limit", []string{"lineage", "list", "--repo", url, "--cluster", "staging", "--limit", "1"}},
		{"list-json", []string{"lineage", "list", "--repo", url, "--cluster", "prod", "-o", "json"}},
		{"show", []string{"lineage", "show", second, "--repo", url}},
		{"show-log", []string{"lineage", "show", second, "--repo", url, "--log"}},
		{"show-unknown", []string{"lineage", "show", "nope", "--repo", url}},
		{"trace", []string{"lineage", "trace", "--endpoint", "iris", "--repo", url}},
		{"trace-unknown", []string{"lineage", "trace", "--endpoint", "nope", "--repo", dir}},
		{"list-no-repo", []string{"lineage", "list"}},
		{"trace-no-endpoint", []string{"lineage", "trace", "--repo", url}},
		{"trace-revision", []string{"lineage", "trace", "--revision", "ab12cd3", "--repo", url}},
		{"trace-revision-without-runs", []string{"lineage", "trace", "--revision", "cd34ef56ab", "--repo", url}},
		{"trace-json", []string{"lineage", "trace", "--endpoint", "iris", "--repo", url, "-o", "json"}},
		{"trace-dot", []string{"lineage", "trace", "--endpoint", "iris", "--repo", url, "-o", "dot"}},
		{"trace-mermaid", []string{"lineage", "trace", "--endpoint", "iris", "--repo", url, "-o", "mermaid"}},
		{"trace-revision-mermaid", []string{"lineage", "trace", "--revision", "ab12cd3", "--repo", url, "-o", "mermaid"}},
		{"trace-bad-output", []string{"lineage", "trace", "--endpoint", "iris", "--repo", url, "-o", "png"}},
		// ssh goes through source.Auth, as trellis serve's: host keys are
		// always verified, so a known_hosts file is asked for first.
		{"list-ssh-without-known-hosts", []string{"lineage", "list", "--repo", "git@git.example.com:ml/platform.git"}},
	}
	t.Run("complete-run-id", func(t *testing.T) {
		r := runCLI(t, t.TempDir(), []string{"__complete", "lineage", "show", "--repo", url, "20261126T1835"}, nil)
		assert.Equal(t, "20261126T183500.000Z-staging-cd34ef5\tstaging succeeded\n:36\n", r.stdout)
		r = runCLI(t, t.TempDir(), []string{"__complete", "lineage", "show", "--repo", dir, ""}, nil)
		assert.Equal(t, 3, strings.Count(r.stdout, "\n")-1, "every run, newest first:\n%s", r.stdout)
		assert.True(t, strings.HasPrefix(r.stdout, "20261126T184500.000Z-prod-cd34ef5\tprod failed\n"), r.stdout)
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			golden := absolute(t, filepath.Join("testdata", "lineage", c.name+".golden"))
			placeholders := map[string]string{"$URL": url, "$DIR": dir}
			r := runCLI(t, t.TempDir(), c.args, placeholders)
			checkGolden(t, golden, replacePaths("trellis "+strings.Join(c.args, " "), placeholders), r)
		})
	}
}
