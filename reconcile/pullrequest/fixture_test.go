package pullrequest

// The fixture of the check tests: a config repo in a Git repository that
// stands for GitHub's (base branch main, refs/pull/N/head), the GitHub API
// of test/githubapi, and golden comment bodies in testdata (UPDATE=1
// rewrites them).

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/githubapi"
)

const (
	testToken = "ghs_testtokenvalue0123456789abcdefghijkl"
	testRepo  = "acme/platform"
)

// Files of the base config repo: a Cluster and a Pipeline.
var baseFiles = map[string]string{
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
    ml:
      quota:
        cpu: "8"
        memory: 32Gi
        gpu: 2
        pods: 20
`,
	"pipeline.yaml": `apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata:
  name: train
spec:
  cluster: dev
  namespace: ml
  steps:
    - name: train
      image: python:3.12-slim
      command: [python, -c, "print('training')"]
`,
}

// endpointFile declares an Endpoint serving iris with replicas min..max.
func endpointFile(maxReplicas int) string {
	return `apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata:
  name: iris
spec:
  cluster: dev
  namespace: ml
  model:
    format: sklearn
    storageUri: gs://kfserving-examples/models/sklearn/1.0/model
  replicas:
    min: 1
    max: ` + strconv.Itoa(maxReplicas) + `
  resources:
    cpu: "1"
    memory: 2Gi
  nodePool: cpu
`
}

// fixture is a GitHub with one config repo.
type fixture struct {
	t   *testing.T
	api *githubapi.Server
	git *githubapi.GitRepo
	gh  *GitHub
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	api := githubapi.New(t, testToken)
	gh, err := NewGitHub(GitHubOptions{APIURL: api.URL, Token: testToken, Repo: testRepo})
	require.NoError(t, err)
	return &fixture{t: t, api: api, git: githubapi.NewGitRepo(t, baseFiles), gh: gh}
}

// with returns the base files with changes: a path to "" is removed.
func with(changes map[string]string) map[string]string {
	files := maps.Clone(baseFiles)
	for name, content := range changes {
		if content == "" {
			delete(files, name)
			continue
		}
		files[name] = content
	}
	return files
}

// openPR commits files as the whole tree of branch pr-N and opens pull
// request n from it.
func (f *fixture) openPR(n int, files map[string]string) githubapi.PullRequest {
	f.t.Helper()
	branch := "pr-" + strconv.Itoa(n)
	f.git.Commit(branch, files)
	pr := f.git.PullRequest(testRepo, n, branch)
	f.api.AddPullRequest(testRepo, pr)
	return pr
}

// push commits files on the branch of pull request n and moves its head,
// as a push to the branch does; it returns the new head.
func (f *fixture) push(n int, files map[string]string) string {
	f.t.Helper()
	sha := f.git.Commit("pr-"+strconv.Itoa(n), files)
	f.git.SetRef("refs/pull/"+strconv.Itoa(n)+"/head", sha)
	f.api.SetHead(testRepo, n, sha)
	return sha
}

// check checks pull request n with opts (GitHub and Number filled in).
func (f *fixture) check(n int, opts Options) (*Result, error) {
	f.t.Helper()
	opts.GitHub, opts.Number = f.gh, n
	if opts.WorkDir == "" {
		opts.WorkDir = f.t.TempDir()
	}
	return Check(context.Background(), opts)
}

// mustCheck checks pull request n and requires it to complete.
func (f *fixture) mustCheck(n int, opts Options) *Result {
	f.t.Helper()
	res, err := f.check(n, opts)
	require.NoError(f.t, err)
	return res
}

// states are the latest state of each status context on sha.
func (f *fixture) states(sha string) map[string]string {
	out := map[string]string{}
	for ctx, s := range f.api.LatestStatuses(testRepo, sha) {
		out[ctx] = s.State
	}
	return out
}

// count is the number of requests with method and path.
func (f *fixture) count(method, path string) int {
	n := 0
	for _, r := range f.api.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// checkGolden compares body with testdata/<name>.golden.
func checkGolden(t *testing.T, name, body string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if os.Getenv("UPDATE") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file (UPDATE=1 writes it)")
	assert.Equal(t, string(want), body, "comment differs from %s (UPDATE=1 rewrites it)", path)
}

// runInBackground runs run until the test ends, then checks that it
// returned no error.
func runInBackground(t *testing.T, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// next waits up to a minute for the next value of ch.
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
		var zero T
		return zero
	}
}
