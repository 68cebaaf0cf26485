package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"trellis.dev/trellis/test/controlplane"
)

// TestRequestTimeout: --request-timeout as kubectl reads it.
func TestRequestTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"5", 5 * time.Second, false}, {"2m", 2 * time.Minute, false},
		{"1.5s", 1500 * time.Millisecond, false}, {"-1s", 0, true}, {"soon", 0, true},
	} {
		got, err := requestTimeout(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.err, err != nil, "%q: %v", tc.in, err)
	}
}

// TestKubeFlagsImpersonate: --as reaches the cluster as that user, as
// kubectl's does: a user without rights is refused by the apiserver's
// RBAC, and nothing is applied; a bad --request-timeout is a usage error.
func TestKubeFlagsImpersonate(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := applyRepo(t, ns)
	args := []string{"apply", "repo", "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha", "--context", controlplane.DefaultContextName,
		"--revision", pinnedRevision, "--source-id", ns}
	r := runCLI(t, dir, append(args, "--as", "nobody@example.com", "--as-group", "nobodies"), map[string]string{"$NS": ns})
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout+r.stderr, `User "nobody@example.com" cannot`)

	r = runCLI(t, dir, append(args, "--request-timeout", "soon"), nil)
	assert.Equal(t, exitUsage, r.exit, r.stderr)
	assert.Contains(t, r.stderr, `--request-timeout "soon"`)
}
