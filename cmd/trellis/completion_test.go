package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCompletion checks what the shell is offered for --cluster (the
// Clusters the repo declares) and --context (the kubeconfig's contexts).
func TestCompletion(t *testing.T) {
	examples := absolute(t, filepath.Join(moduleRoot, "examples"))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: a, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
- {name: ml-prod, context: {cluster: a, user: u}}
- {name: ml-staging, context: {cluster: a, user: u}}
- {name: other, context: {cluster: a, user: u}}
`), 0o600))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"render", examples, "--cluster", ""}, "prod\nstaging\n:4\n"},
		{[]string{"apply", examples, "--cluster", "st"}, "staging\n:4\n"},
		{[]string{"diff", examples, "--kubeconfig", kubeconfig, "--context", "ml-"}, "ml-prod\nml-staging\n:4\n"},
		{[]string{"render", filepath.Join(t.TempDir(), "none"), "--cluster", ""}, ":4\n"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"__complete"}, tt.args...), &out, &errOut)
		assert.Equal(t, 0, code, tt.args)
		assert.Equal(t, tt.want, out.String(), tt.args)
	}
}
