package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/githubapi"
)

// TestDiffShowsWhatApplyPrunes removes two files from an applied config
// repo: one ConfigMap that is pruned, and one annotated
// trellis.dev/prune: disabled, which is not. diff exits 1 and shows the
// deletion of the first only, the pull request that removes both plans
// the same removal (asking the cluster's inventory, not the base render),
// and the apply that follows prunes exactly it.
func TestDiffShowsWhatApplyPrunes(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	base := map[string]string{
		"cluster.yaml":        fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {%s-p: {isolated: false}}}\n", ns),
		"clusters/dev/a.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: %s-p}\ndata: {k: a}\n", ns),
		"clusters/dev/b.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: %s-p}\ndata: {k: b}\n", ns),
		"clusters/dev/c.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: %s-p, annotations: {trellis.dev/prune: disabled}}\ndata: {k: c}\n", ns),
		"clusters/dev/d.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: %s-p}\ndata: {k: d}\n", ns),
		"clusters/dev/e.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e, namespace: %s-p}\ndata: {k: e}\n", ns),
	}
	dir := t.TempDir()
	for name, content := range base {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	reach := []string{"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--source-id", ns, "--revision", pinnedRevision}
	r := runCLI(t, dir, append([]string{"apply", "."}, reach...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)

	for _, name := range []string{"clusters/dev/b.yaml", "clusters/dev/c.yaml"} {
		require.NoError(t, os.Remove(filepath.Join(dir, name)))
	}
	r = runCLI(t, dir, append([]string{"diff", "."}, reach...), nil)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "--- live/"+ns+"-p/configmap/b\n+++ git/"+ns+"-p/configmap/b\n")
	assert.Contains(t, r.stdout, "-  k: b\n")
	assert.NotContains(t, r.stdout, "configmap/c", "prune disabled: not a deletion")
	assert.Contains(t, r.stderr, "cluster dev: "+ns+"-p/configmap/c skipped: not pruned: prune disabled\n")
	assert.Contains(t, r.stderr, "cluster dev: 4 unchanged, 1 pruned, 1 skipped\n")

	// The pull request that removes the same two files.
	t.Setenv(tokenEnv, prToken)
	api := githubapi.New(t, prToken)
	git := githubapi.NewGitRepo(t, base)
	head := maps.Clone(base)
	delete(head, "clusters/dev/b.yaml")
	delete(head, "clusters/dev/c.yaml")
	git.Commit("pr-7", head)
	api.AddPullRequest(prRepo, git.PullRequest(prRepo, 7, "pr-7"))
	pr := runCLI(t, t.TempDir(), []string{"pr", "--github-repo", prRepo, "--pr", "7", "--github-api-url", api.URL,
		"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--source-id", ns}, nil)
	require.Equal(t, exitOK, pr.exit, pr.stderr)
	assert.Contains(t, pr.stdout, "removed <code>"+ns+"-p/configmap/b</code>")
	assert.NotContains(t, pr.stdout, "removed <code>"+ns+"-p/configmap/c</code>", "the base render would guess it; the inventory knows")
	assert.Contains(t, pr.stdout, "what an apply of the head prunes, as the cluster's inventory")
	assert.Contains(t, pr.stderr, "trellis/plan success: dev: 0 added, 0 changed, 1 removed")

	r = runCLI(t, dir, append([]string{"apply", "."}, reach...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ns+"-p/configmap/b pruned\n")
	assert.Contains(t, r.stdout, ns+"-p/configmap/c skipped: prune disabled\n")
	assert.Contains(t, r.stdout, "cluster dev: 4 unchanged, 1 pruned, 1 skipped\n")
}
