package lineage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/redact"
)

// TestLineageTee: what the run logs reaches standard output and the run's
// log as the same lines, redacted in both.
func TestLineageTee(t *testing.T) {
	red, err := redact.New(redact.DefaultPatterns)
	require.NoError(t, err)
	var stdout bytes.Buffer
	now := func() time.Time { return t0 }
	run := NewRun(RunOptions{
		Source:   Source{URL: "https://u:tok@example.com/r.git", Revision: "ab12cd34ef"},
		Cluster:  "staging",
		Handler:  slog.NewTextHandler(&stdout, nil),
		Redactor: red.WithValues("CANARY-31c8"),
		Now:      now,
	})
	log := run.Logger().With("cluster", "staging").WithGroup("apply")
	log.Info("applied", "object", "secret/CANARY-31c8", "error", errors.New("token=CANARY-31c8 refused"))
	log.Debug("not kept at info")
	assert.Equal(t, stdout.String(), string(run.Log()), "tee: the same lines in both")
	assert.Contains(t, stdout.String(), `apply.object=secret/<redacted>`)
	assert.NotContains(t, stdout.String(), "CANARY-31c8")
	assert.Equal(t, 1, strings.Count(stdout.String(), "\n"))

	rec := run.Finish(&reconcile.ChangeSet{Changes: []reconcile.Change{{Object: reconcile.ObjectRef{Version: "v1", Kind: "Secret", Name: "CANARY-31c8"}, Action: reconcile.Created}}}, nil, nil)
	assert.Equal(t, "20261126T181500.000Z-staging-ab12cd3", rec.RunID)
	assert.Equal(t, "https://example.com/r.git", rec.Source.URL)
	assert.Equal(t, "<redacted>", rec.Objects[0].Name)
	assert.Equal(t, Succeeded, rec.Result)
}

// TestLineageTeeBounded: past the limit, the run log keeps whole lines
// and one note; standard output gets everything.
func TestLineageTeeBounded(t *testing.T) {
	var stdout bytes.Buffer
	run := NewRun(RunOptions{Cluster: "c", Handler: slog.NewTextHandler(&stdout, nil), LogLimit: 200})
	for range 10 {
		run.Logger().Info("a line of some length to fill the log")
	}
	log := string(run.Log())
	assert.Less(t, len(log), 300)
	assert.True(t, strings.HasSuffix(log, "... run log truncated at 200 bytes\n"), log)
	assert.Equal(t, 10, strings.Count(stdout.String(), "\n"))
}
