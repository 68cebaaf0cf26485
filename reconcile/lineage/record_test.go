package lineage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/redact"
)

func TestLineageResultOf(t *testing.T) {
	ok := &reconcile.ChangeSet{Changes: []reconcile.Change{{Action: reconcile.Configured}}}
	same := &reconcile.ChangeSet{Changes: []reconcile.Change{{Action: reconcile.Unchanged}}}
	bad := &reconcile.ChangeSet{Changes: []reconcile.Change{{Action: reconcile.Failed}}}
	dry := &reconcile.ChangeSet{DryRun: true, Changes: []reconcile.Change{{Action: reconcile.Created}}}
	cases := []struct {
		name     string
		cs       *reconcile.ChangeSet
		followed []Followed
		err      error
		want     Result
	}{
		{"changed", ok, nil, nil, Succeeded},
		{"unchanged", same, nil, nil, NoOp},
		{"unchanged but followed", same, []Followed{{Phase: "Succeeded"}}, nil, Succeeded},
		{"followed run failed", ok, []Followed{{Phase: "Failed"}}, nil, Failed},
		{"object failed", bad, nil, nil, Failed},
		{"error", nil, nil, errors.New("cluster down"), Failed},
		{"dry run", dry, nil, nil, DryRun},
		{"nothing", nil, nil, nil, NoOp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, ResultOf(c.cs, c.followed, c.err))
		})
	}
}

func TestLineageRunID(t *testing.T) {
	at := time.Date(2026, 11, 26, 18, 15, 0, 0, time.FixedZone("CET", 3600))
	assert.Equal(t, "20261126T171500.000Z-staging-ab12cd3", RunID(at, "staging", "ab12cd34ef"))
	assert.Equal(t, "20261126T171500.000Z-staging-ab1", RunID(at, "staging", "ab1"))
	r := Record{RunID: "x", Started: at, Cluster: "staging", Source: Source{Revision: "ab12cd34ef"}, Result: Failed}
	assert.Equal(t, "runs/2026-11-26/x", r.Dir())
	assert.Equal(t, "trellis: staging ab12cd3 failed", r.CommitMessage())
}

func TestLineageRedacted(t *testing.T) {
	red, err := redact.New(redact.DefaultPatterns)
	require.NoError(t, err)
	red = red.WithValues("CANARY-31c8")
	r := testRecord(0, "staging")
	r.Objects[0].Name = "secret-CANARY-31c8"
	r.Errors = []string{"password=hunter22 rejected"}
	r.Followed = []Followed{{Kind: KindWorkflow, Outputs: []Output{{Name: "token", Value: "CANARY-31c8"}},
		Traffic: map[string]int{"CANARY-31c8": 1}}}
	got, err := r.Redacted(red)
	require.NoError(t, err)
	assert.Equal(t, "secret-<redacted>", got.Objects[0].Name)
	assert.Equal(t, "password=<redacted> rejected", got.Errors[0])
	assert.Equal(t, "<redacted>", got.Followed[0].Outputs[0].Value)
	assert.Equal(t, map[string]int{"<redacted>": 1}, got.Followed[0].Traffic)
	assert.Equal(t, "secret-CANARY-31c8", r.Objects[0].Name, "the original is untouched")
}

// TestLineageRecordGolden pins the JSON of a record as the Writer stores it.
func TestLineageRecordGolden(t *testing.T) {
	r := testRecord(0, "staging")
	start, end := t0.Add(time.Minute), t0.Add(5*time.Minute)
	r.Followed = []Followed{{Kind: KindWorkflow, Namespace: "ml", Name: "train-iris-5f2a9c", RunOf: "pipeline-train-iris",
		Phase: "Succeeded", Started: &start, Finished: &end, Nodes: map[string]int{"Succeeded": 2},
		Outputs: []Output{{Step: "train", Kind: OutputArtifact, Name: "model", Value: "s3://models/iris/5f2a9c"}}}}
	got, err := encodeRecord(r)
	require.NoError(t, err)
	path := filepath.Join("testdata", "record.golden.json")
	if os.Getenv("UPDATE") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run UPDATE=1 go test ./reconcile/lineage/")
	assert.Equal(t, string(want), string(got))
}
