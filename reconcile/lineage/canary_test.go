package lineage

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/test/gitserver"
)

// TestLineageCanary: a Secret's value, logged and used as an object name,
// appears nowhere on the lineage branch nor on standard output.
func TestLineageCanary(t *testing.T) {
	const canary = "CANARY-31c8"
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "creds", "namespace": "ml"},
		"stringData": map[string]any{"password": canary},
	}}
	red, err := reconcile.NewRedactor(reconcile.DefaultRedactPatterns)
	require.NoError(t, err)
	red = red.WithValues(SecretValues([]*unstructured.Unstructured{secret})...)

	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	var stdout bytes.Buffer
	run := NewRun(RunOptions{Cluster: "staging", Source: Source{URL: url, Revision: "ab12cd34ef", Message: "add " + canary},
		Handler: slog.NewTextHandler(&stdout, nil), Redactor: red})
	run.Logger().Info("applying", "secret", canary, "value", []byte(canary))
	run.Logger().Error("failed: " + canary)
	cs := &reconcile.ChangeSet{Cluster: "staging", Changes: []reconcile.Change{
		{Object: reconcile.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: "cm-" + canary}, Action: reconcile.Created, Reason: canary},
	}}
	rec := run.Finish(cs, []Followed{{Kind: KindWorkflow, Name: "w", Phase: "Succeeded", Message: canary}}, nil)

	w := newTestWriter(srv, url, t.TempDir())
	require.NoError(t, w.Enqueue(rec, run.Log()))
	require.NoError(t, w.Flush(context.Background()))
	files := branchFiles(t, srv, url, DefaultBranch)
	require.Len(t, files, 3, "a commit message, run.json and run.log")
	for _, f := range files {
		assert.NotContains(t, f, canary)
	}
	assert.NotContains(t, stdout.String(), canary)
	assert.Contains(t, stdout.String(), "secret=<redacted>")
}
