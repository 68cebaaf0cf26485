package main

// Tests of `trellis pr` against the GitHub API of test/githubapi and a
// config repo in a local Git repository with GitHub's pull-request refs.
// Outputs are pinned by golden files in testdata/pr (UPDATE=1 rewrites
// them).

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/githubapi"
)

const (
	prToken = "ghs_prcommandtoken0123456789abcdefghijkl"
	prRepo  = "acme/platform"
)

// prBaseFiles is the config repo on main: a Cluster and a Pipeline.
var prBaseFiles = map[string]string{
	"cluster.yaml": `apiVersion: trellis.dev/v1alpha1
kind: Cluster
metadata:
  name: dev
spec:
  nodePools:
    cpu:
      nodeSelector:
        pool: cpu
  namespaces:
    pr-demo:
      quota:
        cpu: "8"
        memory: 32Gi
        pods: 20
`,
	"pipeline.yaml": `apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata:
  name: train
spec:
  cluster: dev
  namespace: pr-demo
  steps:
    - name: train
      image: python:3.12-slim
`,
}

// prEndpoint declares an Endpoint.
const prEndpoint = `apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata:
  name: iris
spec:
  cluster: dev
  namespace: pr-demo
  model:
    format: sklearn
    storageUri: gs://kfserving-examples/models/sklearn/1.0/model
  replicas:
    min: 1
    max: 2
  resources:
    cpu: "1"
    memory: 2Gi
  nodePool: cpu
`

// prCase is a GitHub with the config repo, and the token in the
// environment.
type prCase struct {
	api *githubapi.Server
	git *githubapi.GitRepo
	// goldenDir is testdata/pr, absolute: runCLI changes directory.
	goldenDir string
}

func newPRCase(t *testing.T) prCase {
	t.Helper()
	t.Setenv(tokenEnv, prToken)
	return prCase{api: githubapi.New(t, prToken), git: githubapi.NewGitRepo(t, prBaseFiles),
		goldenDir: absolute(t, filepath.Join("testdata", "pr"))}
}

// open commits the base files with changes ("" removes a file) on branch
// pr-7 and opens pull request 7 from it.
func (pc prCase) open(t *testing.T, changes map[string]string) githubapi.PullRequest {
	t.Helper()
	files := maps.Clone(prBaseFiles)
	for name, content := range changes {
		if content == "" {
			delete(files, name)
		} else {
			files[name] = content
		}
	}
	pc.git.Commit("pr-7", files)
	pr := pc.git.PullRequest(prRepo, 7, "pr-7")
	pc.api.AddPullRequest(prRepo, pr)
	return pr
}

// run runs `trellis pr --github-repo acme/platform --pr 7 --github-api-url
// URL extra...`.
func (pc prCase) run(t *testing.T, extra ...string) cliResult {
	t.Helper()
	args := append([]string{"pr", "--github-repo", prRepo, "--pr", "7", "--github-api-url", pc.api.URL}, extra...)
	r := runCLI(t, t.TempDir(), args, map[string]string{"$GITHUB": pc.api.URL})
	assert.NotContains(t, r.stdout+r.stderr, prToken, "the token is never printed")
	return r
}

// golden pins r in testdata/pr/<name>.golden.
func (pc prCase) golden(t *testing.T, name string, r cliResult) {
	t.Helper()
	checkGolden(t, filepath.Join(pc.goldenDir, name+".golden"),
		"trellis pr --github-repo acme/platform --pr 7 --github-api-url $GITHUB", r)
}

// states are the latest status states on sha.
func (pc prCase) states(sha string) map[string]string {
	out := map[string]string{}
	for name, s := range pc.api.LatestStatuses(prRepo, sha) {
		out[name] = s.State
	}
	return out
}

func TestPRCommandAddsAnEndpoint(t *testing.T) {
	pc := newPRCase(t)
	pr := pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})

	r := pc.run(t)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	pc.golden(t, "add-endpoint", r)
	comments := pc.api.Comments(prRepo, 7)
	require.Len(t, comments, 1)
	assert.Equal(t, comments[0].Body, r.stdout, "stdout is the comment")
	assert.Contains(t, r.stdout, "added <code>pr-demo/inferenceservice.serving.kserve.io/iris</code>")
	assert.Equal(t, map[string]string{"trellis/validate": "success", "trellis/plan": "success"}, pc.states(pr.Head.SHA))

	r = pc.run(t)
	assert.Equal(t, exitOK, r.exit)
	assert.Contains(t, r.stderr, "comment unchanged")
	assert.Len(t, pc.api.Comments(prRepo, 7), 1)
}

func TestPRCommandInvalidDeclaration(t *testing.T) {
	pc := newPRCase(t)
	pr := pc.open(t, map[string]string{"pipeline.yaml": strings.Replace(prBaseFiles["pipeline.yaml"], "name: train\n    ", "name: 1train\n    ", 1)})

	r := pc.run(t)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	pc.golden(t, "invalid", r)
	assert.Regexp(t, "```text\npipeline\\.yaml:\\d+:\\d+: ", r.stdout)
	assert.Equal(t, map[string]string{"trellis/validate": "failure", "trellis/plan": "failure"}, pc.states(pr.Head.SHA))
}

func TestPRCommandPruneRefused(t *testing.T) {
	pc := newPRCase(t)
	pc.open(t, map[string]string{"cluster.yaml": "", "pipeline.yaml": "", "README.md": "gone\n"})

	r := pc.run(t)
	assert.Equal(t, exitFailed, r.exit, "a refused prune fails the check")
	assert.Contains(t, r.stdout, "⛔ **Prune guard:** prune refused")
	assert.Contains(t, r.stderr, "trellis/plan failure: cluster dev: prune refused")
}

func TestPRCommandSecretCanary(t *testing.T) {
	const canary = "CANARY-7d1e"
	encoded := base64.StdEncoding.EncodeToString([]byte(canary))
	pc := newPRCase(t)
	pc.open(t, map[string]string{"clusters/dev/secret.yaml": fmt.Sprintf(
		"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: pr-demo\ndata:\n  password: %s\nstringData:\n  token: %s\n", encoded, canary)})

	r := pc.run(t)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "added <code>pr-demo/secret/db</code>")
	for _, v := range []string{canary, encoded} {
		assert.NotContains(t, r.stdout+r.stderr, v)
		for _, req := range pc.api.Requests() {
			assert.NotContains(t, req.Body, v, "%s", req)
		}
	}
}

// kubeconfigFor writes a kubeconfig whose one context, dev, points at
// server.
func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: %s
contexts:
- name: dev
  context:
    cluster: dev
    user: dev
current-context: dev
users:
- name: dev
  user:
    token: cluster-credential
`, server)
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// A pull request from a fork: the cluster behind the kubeconfig gets no
// request; the same kubeconfig on a pull request from the repository
// itself does reach it.
func TestPRCommandForkNeverReachesTheCluster(t *testing.T) {
	var reached atomic.Int32
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(cluster.Close)
	kubeconfig := kubeconfigFor(t, cluster.URL)

	pc := newPRCase(t)
	pr := pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})
	pr.Head.Repo = "someone/platform"
	pc.api.AddPullRequest(prRepo, pr)
	r := pc.run(t, "--kubeconfig", kubeconfig)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Zero(t, reached.Load(), "no request reaches the cluster")
	assert.Contains(t, r.stdout, "comes from a fork (<code>someone/platform</code>)")
	assert.Contains(t, r.stdout, "| not run (fork) |")
	pc.golden(t, "fork", r)

	pr.Head.Repo = prRepo
	pc.api.AddPullRequest(prRepo, pr)
	r = pc.run(t, "--kubeconfig", kubeconfig)
	assert.Positive(t, reached.Load(), "the same kubeconfig reaches the cluster for a pull request of the repository")
	assert.Equal(t, exitUnknown, r.exit, "the cluster refuses discovery: the plan's status is an error")
	assert.Contains(t, r.stderr, "trellis/plan error: cluster dev: dry run: ")
}

// The live dry-run against the real control plane.
func TestPRCommandLiveDryRun(t *testing.T) {
	cp := needControlPlane(t)
	pc := newPRCase(t)
	pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})

	r := pc.run(t, "--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Regexp(t, `\| <code>dev</code> \| 1 \| 0 \| 0 \| \d+ \| ✅ ok \| ✅ \d+ created`, r.stdout)
	assert.Contains(t, r.stderr, "trellis/plan success: dev: 1 added, 0 changed, 0 removed")
}

func TestPRCommandSecondaryRateLimit(t *testing.T) {
	pc := newPRCase(t)
	pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})
	pc.api.SecondaryRateLimit(1, http.MethodPost, "/repos/"+prRepo+"/issues/7/comments", http.StatusForbidden, "0")

	r := pc.run(t)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Contains(t, r.stderr, "comment created")
	assert.Len(t, pc.api.Comments(prRepo, 7), 1)
}

// With a read-only token (a fork's, in GitHub Actions) the comment cannot
// be posted: the check fails with 3, and its log still has the plan.
func TestPRCommandReadOnlyToken(t *testing.T) {
	pc := newPRCase(t)
	pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})
	pc.api.SetReadOnly(true)

	r := pc.run(t)
	assert.Equal(t, exitUnknown, r.exit)
	assert.Contains(t, r.stdout, "added <code>pr-demo/inferenceservice.serving.kserve.io/iris</code>")
	assert.Contains(t, r.stderr, "error: acme/platform#7: create comment: ")
	assert.Contains(t, r.stderr, "403 Resource not accessible by integration")
	assert.Empty(t, pc.api.Comments(prRepo, 7))
}

func TestPRCommandTokenFile(t *testing.T) {
	pc := newPRCase(t)
	pc.open(t, map[string]string{"endpoint.yaml": prEndpoint})
	t.Setenv(tokenEnv, "")
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(prToken+"\n"), 0o600))

	r := pc.run(t, "--github-token-file", file)
	assert.Equal(t, exitOK, r.exit, r.stderr)
}

func TestPRCommandAPIError(t *testing.T) {
	pc := newPRCase(t)
	r := pc.run(t)
	assert.Equal(t, exitUnknown, r.exit)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "error: acme/platform#7: get pull request: ")
	assert.Contains(t, r.stderr, "404 Not Found")

	t.Setenv(tokenEnv, "ghs_wrong")
	r = pc.run(t)
	assert.Equal(t, exitUnknown, r.exit)
	assert.Contains(t, r.stderr, "401 Bad credentials")
	assert.NotContains(t, r.stderr, "ghs_wrong")
}

func TestPRCommandUsage(t *testing.T) {
	t.Setenv(tokenEnv, "")
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(prToken), 0o600))
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"pr", "--pr", "7"}, "error: --github-repo OWNER/NAME is required"},
		{[]string{"pr", "--github-repo", prRepo}, "error: --pr N is required"},
		{[]string{"pr", "--github-repo", prRepo, "--pr", "7"}, "error: no GitHub token: pass --github-token-file or set $GITHUB_TOKEN"},
		{[]string{"pr", "--github-repo", prRepo, "--pr", "7", "--github-token-file", "/nonexistent/token"}, "error: --github-token-file: open /nonexistent/token: "},
		{[]string{"pr", "--github-repo", "platform", "--pr", "7", "--github-token-file", tokenFile}, `error: github repository "platform": want OWNER/NAME`},
		{[]string{"pr", "--github-repo", prRepo, "--pr", "x"}, `invalid argument "x" for "--pr"`},
		{[]string{"pr", "extra"}, "accepts 0 arg(s)"},
	} {
		r := runCLI(t, t.TempDir(), tt.args, nil)
		assert.Equal(t, exitUsage, r.exit, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.err, "%v", tt.args)
	}
}

// The statuses' contexts are the ones the workflow in examples/ and
// branch protection rules name.
func TestPRCommandStatusContexts(t *testing.T) {
	assert.Equal(t, "trellis/validate", pullrequest.ContextValidate)
	assert.Equal(t, "trellis/plan", pullrequest.ContextPlan)
}
