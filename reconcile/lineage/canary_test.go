package lineage

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
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
	res := &render.Result{Clusters: []render.Cluster{{Name: "staging", Objects: []*unstructured.Unstructured{secret}}}}
	red := redact.Default().WithValues(res.SecretValues()...)

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

// TestLineagePrefixSecrets: two Secrets of the revision, in two clusters,
// whose values are a prefix of each other: neither appears, in part or
// whole, plain or base64, on the lineage branch or in the log of a run of
// either cluster, whichever Secret the redactor was given first.
func TestLineagePrefixSecrets(t *testing.T) {
	const short, long = "hunter2x", "hunter2xTAILSECRET"
	secretOf := func(name, value string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name, "namespace": "ml"},
			"data": map[string]any{"password": base64.StdEncoding.EncodeToString([]byte(value))},
		}}
	}
	res := &render.Result{Clusters: []render.Cluster{
		{Name: "staging", Objects: []*unstructured.Unstructured{secretOf("a", short)}},
		{Name: "prod", Objects: []*unstructured.Unstructured{secretOf("b", long)}},
	}}
	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	w := newTestWriter(srv, url, t.TempDir())
	var stdout bytes.Buffer
	for _, cluster := range []string{"staging", "prod"} {
		run := NewRun(RunOptions{Cluster: cluster, Source: Source{URL: url, Revision: "ab12cd34ef"},
			Handler: slog.NewTextHandler(&stdout, nil), Redactor: redact.Default().WithValues(res.SecretValues()...)})
		run.Logger().Info("token " + long + " and " + short)
		rec := run.Finish(&reconcile.ChangeSet{Cluster: cluster}, []Followed{{Kind: KindWorkflow, Name: "w", Phase: "Failed", Message: "saw " + long}}, nil)
		require.NoError(t, w.Enqueue(rec, run.Log()))
	}
	require.NoError(t, w.Flush(context.Background()))
	texts := append(branchFiles(t, srv, url, DefaultBranch), stdout.String())
	require.Greater(t, len(texts), 3)
	for _, text := range texts {
		for _, part := range []string{short, "TAILSECRET", base64.StdEncoding.EncodeToString([]byte(short)), base64.StdEncoding.EncodeToString([]byte(long))} {
			assert.NotContains(t, text, part)
		}
	}
	assert.Contains(t, stdout.String(), "token <redacted> and <redacted>")
}
