package main

// Tests of `trellis apply` against real control planes: the one of
// main_test.go, and a second one started here. The repo in
// testdata/apply/repo declares clusters alpha and beta; __NS__ in it is
// replaced by the test's namespace. Output is pinned by golden files in
// testdata/apply (UPDATE=1 rewrites them), with the namespace and the
// second apiserver's address replaced by placeholders.

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/source"
	"trellis.dev/trellis/test/controlplane"
)

// TestApplyCommandClusterDown applies two clusters, one of whose apiserver
// is stopped: the other is still reconciled, the failure is reported and
// the exit code is 1. Applying the live cluster again changes nothing.
func TestApplyCommandClusterDown(t *testing.T) {
	alpha := needControlPlane(t)
	ns := alpha.Namespace(t)
	beta, err := controlplane.Start(context.Background(), controlplane.Options{})
	require.NoError(t, err)
	kubeconfig := mergeKubeconfigs(t, map[string]string{"alpha": alpha.KubeconfigPath(), "beta": beta.KubeconfigPath()})
	betaHost := hostOf(t, beta.RESTConfig().Host)
	require.NoError(t, beta.Stop())

	dir := applyRepo(t, ns)
	golden := absolute(t, filepath.Join("testdata", "apply"))
	placeholders := map[string]string{"$NS": ns, "$BETA": betaHost, "$KUBECONFIG": kubeconfig}
	// The source id is fixed, for the inventory's name in the output: no
	// other test applies these clusters to this control plane.
	args := []string{"apply", "repo", "--kubeconfig", kubeconfig, "--revision", pinnedRevision, "--source-id", "cli-test"}
	r := runCLI(t, dir, args, placeholders)
	checkGolden(t, filepath.Join(golden, "cluster-down.golden"),
		"trellis apply repo --kubeconfig $KUBECONFIG --revision "+pinnedRevision+" --source-id cli-test\n(beta's apiserver is stopped)", r)
	assert.Equal(t, exitFailed, r.exit)

	c, err := reconcile.NewClient(alpha.RESTConfig())
	require.NoError(t, err)
	ri, _, err := c.Resource(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, ns+"-alpha")
	require.NoError(t, err)
	_, err = ri.Get(context.Background(), "settings", metav1.GetOptions{})
	require.NoError(t, err, "alpha was reconciled")

	r = runCLI(t, dir, append(args, "--cluster", "alpha"), placeholders)
	checkGolden(t, filepath.Join(golden, "noop.golden"),
		"trellis apply repo --kubeconfig $KUBECONFIG --revision "+pinnedRevision+" --source-id cli-test --cluster alpha", r)
	assert.Equal(t, exitOK, r.exit)
}

// TestApplyCommandDryRun persists nothing.
func TestApplyCommandDryRun(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := applyRepo(t, ns)
	r := runCLI(t, dir, []string{"apply", "repo", "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha", "--context", controlplane.DefaultContextName,
		"--revision", pinnedRevision, "--source-id", ns, "--dry-run"}, map[string]string{"$NS": ns})
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "namespace/$NS-alpha created (server dry run)\n")
	assert.Contains(t, r.stdout, "cluster alpha: 4 created (server dry run)\n")
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	ri, _, err := c.Resource(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "")
	require.NoError(t, err)
	_, err = ri.Get(context.Background(), ns+"-alpha", metav1.GetOptions{})
	assert.Error(t, err, "nothing persisted")
}

// TestApplyCommandInvalidRepo prints the problems and applies nothing.
func TestApplyCommandInvalidRepo(t *testing.T) {
	dir := absolute(t, filepath.Join(invalidDir, "unknown-kind"))
	r := runCLI(t, dir, []string{"apply", ".", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, nil)
	assert.Equal(t, exitFailed, r.exit)
	assert.Empty(t, r.stdout)
	assert.NotEmpty(t, r.stderr)
}

// applyRepo copies testdata/apply/repo into a temporary directory's repo/
// with __NS__ replaced by ns, and returns the directory.
func applyRepo(t *testing.T, ns string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", "apply", "repo")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, "repo", rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(strings.ReplaceAll(string(b), "__NS__", ns)), 0o644)
	})
	require.NoError(t, err)
	return dst
}

// mergeKubeconfigs writes a kubeconfig whose context NAME is the current
// context of the kubeconfig at paths[NAME].
func mergeKubeconfigs(t *testing.T, paths map[string]string) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for name, path := range paths {
		cfg, err := clientcmd.LoadFromFile(path)
		require.NoError(t, err)
		ctx := cfg.Contexts[cfg.CurrentContext]
		require.NotNil(t, ctx, path)
		merged.Clusters[name] = cfg.Clusters[ctx.Cluster]
		merged.AuthInfos[name] = cfg.AuthInfos[ctx.AuthInfo]
		merged.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	out := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*merged, out))
	return out
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Host
}

// TestApplyCommandWait applies with --wait: the objects of the repo
// (namespace, quota, pipeline template, config) need no controller to be
// ready, so the wait ends with every object ready.
func TestApplyCommandWait(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := applyRepo(t, ns)
	r := runCLI(t, dir, []string{"apply", "repo", "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha", "--context", controlplane.DefaultContextName,
		"--revision", pinnedRevision, "--source-id", ns, "--wait", "--timeout", "1m"}, map[string]string{"$NS": ns})
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "cluster alpha: 4 objects ready\n")
}

// TestApplyCommandLineage: with --lineage-repo, each cluster's apply is
// recorded on the lineage branch of the repo, with the lines printed for
// the cluster as its log and the commit checked out as its revision.
func TestApplyCommandLineage(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := applyRepo(t, ns)
	repo := filepath.Join(dir, "repo")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "settings for alpha"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	rev, err := source.LocalRevision(repo)
	require.NoError(t, err)

	r := runCLI(t, dir, []string{"apply", "repo", "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha", "--context", controlplane.DefaultContextName,
		"--source-id", ns, "--lineage-repo", "repo", "--lineage-state-dir", t.TempDir(), "--lineage-author", "Platform Bot <bot@example.com>"}, nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Regexp(t, `cluster alpha: lineage run \S+-alpha-`+rev[:7]+` recorded on trellis/lineage \(succeeded\)\n`, r.stdout)

	store, err := lineage.Open(context.Background(), repo, "", nil)
	require.NoError(t, err)
	recs, err := store.Records()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, "alpha", rec.Cluster)
	assert.Equal(t, rev, rec.Source.Revision)
	assert.Equal(t, "refs/heads/main", rec.Source.Ref)
	assert.Equal(t, "Ada <ada@example.com>", rec.Source.Author)
	assert.Equal(t, "settings for alpha", rec.Source.Message)
	assert.Equal(t, lineage.Succeeded, rec.Result)
	assert.NotEmpty(t, rec.Objects)
	log, err := store.Log(rec.RunID)
	require.NoError(t, err)
	author, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%an <%ae>", lineage.DefaultBranch).Output()
	require.NoError(t, err)
	assert.Equal(t, "Platform Bot <bot@example.com>\n", string(author), "--lineage-author signs the commit")
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.Contains(line, "lineage run") {
			continue // printed once the record was made
		}
		assert.Contains(t, string(log), strconv.Quote(line), "each printed line is in the run's log")
	}
}

// TestApplyCommandWaitFollowsRuns: with --wait, the Workflow run the apply
// started is followed to its end (moved to Succeeded here as Argo would)
// and printed with its outputs.
func TestApplyCommandWaitFollowsRuns(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	dir := applyRepo(t, ns)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "repo", "pipeline.yaml"), []byte(`apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: train}
spec:
  cluster: alpha
  namespace: `+ns+`-alpha
  runOnChange: true
  steps:
  - name: train
    image: python:3.12-slim
    command: [python, -c, "print(1)"]
    outputs: {artifacts: [{name: model, path: /out/model}]}
`), 0o644))

	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	wfs, _, err := c.Resource(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"}, ns+"-alpha")
	require.NoError(t, err)
	watch, err := wfs.Watch(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	defer watch.Stop()
	done := make(chan error, 1)
	go func() { // Argo's controller, for the one run
		for ev := range watch.ResultChan() {
			wf, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type != "ADDED" {
				continue
			}
			wf.Object["status"] = map[string]any{"phase": "Succeeded", "finishedAt": time.Now().UTC().Format(time.RFC3339),
				"nodes": map[string]any{"n1": map[string]any{"id": "n1", "name": wf.GetName() + ".train", "type": "Pod",
					"templateName": "step-train", "phase": "Succeeded",
					"outputs": map[string]any{"artifacts": []any{map[string]any{"name": "model", "s3": map[string]any{"bucket": "models", "key": "m.tgz"}}}}}}}
			_, err := wfs.Update(context.Background(), wf, metav1.UpdateOptions{})
			done <- err
			return
		}
		done <- errors.New("watch ended before the run was created")
	}()
	r := runCLI(t, dir, []string{"apply", "repo", "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha", "--context", controlplane.DefaultContextName,
		"--revision", pinnedRevision, "--source-id", ns, "--wait", "--timeout", "1m"}, nil)
	require.NoError(t, <-done)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Regexp(t, `workflow `+ns+`-alpha/train-\S+ Succeeded train\.model=s3://models/m\.tgz\n`, r.stdout)
	assert.Contains(t, r.stdout, "cluster alpha: 1 runs followed\n")
}
