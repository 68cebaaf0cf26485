package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/githubapi"
	"trellis.dev/trellis/test/sopstest"
)

// writeRepo writes files into a new directory.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

// chartFiles are the chart fixture of the render package, as repo files
// under prefix.
func chartFiles(t *testing.T, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	src := filepath.Join(moduleRoot, "render", "testdata", "helm", "app")
	require.NoError(t, filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		out[prefix+"/"+filepath.ToSlash(rel)] = string(data)
		return err
	}))
	return out
}

// TestHelmChartAppliedAndPruned: a vendored chart's objects are applied
// to a real apiserver like any other, and pruned when the chart is
// removed from the kustomization.
func TestHelmChartAppliedAndPruned(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	files := chartFiles(t, "clusters/dev/app/charts/app")
	files["cluster.yaml"] = fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {%s-h: {isolated: false}}}\n", ns)
	files["clusters/dev/app/kustomization.yaml"] = fmt.Sprintf("helmCharts:\n- {name: app, releaseName: web, namespace: %s-h, valuesInline: {greeting: applied}}\n", ns)
	files["clusters/dev/keep.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, namespace: %s-h}\ndata: {k: v}\n", ns)
	dir := writeRepo(t, files)
	reach := []string{"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--source-id", ns, "--revision", pinnedRevision}
	r := runCLI(t, dir, append([]string{"apply", "."}, reach...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ns+"-h/configmap/web-app created")
	assert.Contains(t, r.stdout, ns+"-h/deployment.apps/web-app created")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters/dev/app/kustomization.yaml"), []byte("resources: []\n"), 0o600))
	r = runCLI(t, dir, append([]string{"apply", "."}, reach...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ns+"-h/configmap/web-app pruned")
	assert.Contains(t, r.stdout, ns+"-h/deployment.apps/web-app pruned")
	assert.NotContains(t, r.stdout, "configmap/keep pruned")
}

// TestSOPSSecretAppliedRedacted: a SOPS-encrypted Secret is applied
// decrypted, and its value appears in no output: not apply's, not
// diff's, not a pull request's comment. A pull request from a fork is
// checked without the key: its SOPS file is listed as not decrypted, and
// the check passes.
func TestSOPSSecretAppliedRedacted(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	key := sopstest.NewKey(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.Identity+"\n"), 0o600))
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	secret := func(value string) string {
		plain := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: %s-s}\nstringData: {password: %s}\n", ns, value)
		return string(sopstest.Encrypt(t, "yaml", []byte(plain), sopstest.KubernetesRules, key.Recipient))
	}
	base := map[string]string{
		"cluster.yaml":             fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {%s-s: {isolated: false}}}\n", ns),
		"clusters/dev/secret.yaml": secret("first-sops-password"),
	}
	dir := writeRepo(t, base)
	reach := []string{"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--source-id", ns, "--revision", pinnedRevision, "--sops-age-key-file", keyFile}
	r := runCLI(t, dir, append([]string{"apply", "."}, reach...), nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ns+"-s/secret/db created")
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	live, err := kube.CoreV1().Secrets(ns+"-s").Get(t.Context(), "db", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "first-sops-password", string(live.Data["password"]), "applied decrypted")

	head := maps.Clone(base)
	head["clusters/dev/secret.yaml"] = secret("second-sops-password")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters/dev/secret.yaml"), []byte(head["clusters/dev/secret.yaml"]), 0o600))
	r = runCLI(t, dir, append([]string{"diff", "."}, reach...), nil)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "secret/db")
	assert.Contains(t, r.stdout, "redacted")
	all := r.stdout + r.stderr

	t.Setenv(tokenEnv, prToken)
	api := githubapi.New(t, prToken)
	git := githubapi.NewGitRepo(t, base)
	git.Commit("pr-8", head)
	api.AddPullRequest(prRepo, git.PullRequest(prRepo, 8, "pr-8"))
	pr := runCLI(t, t.TempDir(), []string{"pr", "--github-repo", prRepo, "--pr", "8", "--github-api-url", api.URL, "--sops-age-key-file", keyFile}, nil)
	require.Equal(t, exitOK, pr.exit, pr.stderr)
	assert.Contains(t, pr.stdout, "secret/db")
	assert.NotContains(t, pr.stdout, "not decrypted")
	all += pr.stdout + pr.stderr

	fork := git.PullRequest(prRepo, 9, "pr-8")
	fork.Head.Repo = "someone/platform"
	api.AddPullRequest(prRepo, fork)
	pr = runCLI(t, t.TempDir(), []string{"pr", "--github-repo", prRepo, "--pr", "9", "--github-api-url", api.URL, "--sops-age-key-file", keyFile}, nil)
	require.Equal(t, exitOK, pr.exit, pr.stderr)
	assert.Contains(t, pr.stdout, "1 SOPS file(s) were not decrypted (a pull request from a fork never gets the SOPS decryption keys): <code>clusters/dev/secret.yaml</code>")
	assert.Contains(t, pr.stdout, "secret/db", "the Secret whose ciphertext changed is in the plan")
	all += pr.stdout + pr.stderr

	for _, v := range []string{"first-sops-password", "second-sops-password"} {
		assert.NotContains(t, all, v)
	}
	assert.False(t, strings.Contains(all, "ENC[AES256_GCM"), "never shown encrypted either")
}
