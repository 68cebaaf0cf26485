package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/test/githubapi"
	"trellis.dev/trellis/test/hangproxy"
)

// TestServeGitHubHangsOr5xx: `trellis serve --github-repo` whose GitHub
// API first accepts connections and never answers, then answers 503.
// Meanwhile the clusters are reconciled as usual (a new revision is
// applied); each check of the open pull request fails at its request
// deadline or on the 5xx and is tried again at the next poll; once GitHub
// answers, the pull request gets its check.
func TestServeGitHubHangsOr5xx(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	api := githubapi.New(t, prToken)
	front := hangproxy.Start(t, api.URL)
	front.Hang()
	cluster := fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: trellis-test, namespaces: {%s-t: {}}}\n", ns)
	configMap := func(v string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: %s-t}\ndata: {v: %q}\n", ns, v)
	}
	git := githubapi.NewGitRepo(t, map[string]string{"cluster.yaml": cluster, "clusters/dev/settings.yaml": configMap("1")})
	git.Commit("pr-7", map[string]string{"cluster.yaml": cluster, "clusters/dev/settings.yaml": configMap("pr")})
	api.AddPullRequest(prRepo, git.PullRequest(prRepo, 7, "pr-7"))
	t.Setenv(serveTokenEnv, prToken)
	t.Setenv(tokenEnv, "")

	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--repo", "file://" + git.URL(), "--ref", "main", "--kubeconfig", cp.KubeconfigPath(),
			"--listen", "127.0.0.1:0", "--state-dir", filepath.Join(t.TempDir(), "state"), "--source-id", ns,
			"--interval", "200ms", "--lineage-branch", "",
			"--github-repo", prRepo, "--github-api-url", front.URL, "--pr-poll-interval", "200ms",
			"--github-request-timeout", "300ms"}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-exited, "stderr: %s", stderr.String())
	})

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	value := func() string {
		cm, err := kube.CoreV1().ConfigMaps(ns+"-t").Get(context.Background(), "settings", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return cm.Data["v"]
	}
	// A failed listing of the pull requests, or a failed check, is tried
	// again at the next poll.
	failedChecks := func() int { return strings.Count(stdout.String(), "retrying at the next poll\" github="+prRepo) }

	// GitHub hangs: checks fail at their deadline; applies go on.
	require.Eventually(t, func() bool { return value() == "1" }, time.Minute, 10*time.Millisecond, "stdout: %s", &stdout)
	git.Commit("main", map[string]string{"cluster.yaml": cluster, "clusters/dev/settings.yaml": configMap("2")})
	require.Eventually(t, func() bool { return value() == "2" }, time.Minute, 10*time.Millisecond,
		"a new revision is applied while GitHub hangs; stdout: %s", &stdout)
	require.Eventually(t, func() bool { return failedChecks() >= 2 }, time.Minute, 10*time.Millisecond,
		"a check of a hanging GitHub fails at its deadline, and is tried again; stdout: %s", &stdout)
	assert.Contains(t, stdout.String(), "deadline exceeded")

	// GitHub answers 503: checks fail and are tried again; applies go on.
	front.Fail(http.StatusServiceUnavailable)
	before := len(stdout.String())
	git.Commit("main", map[string]string{"cluster.yaml": cluster, "clusters/dev/settings.yaml": configMap("3")})
	require.Eventually(t, func() bool { return value() == "3" }, time.Minute, 10*time.Millisecond,
		"a new revision is applied while GitHub answers 503; stdout: %s", &stdout)
	require.Eventually(t, func() bool { return strings.Count(stdout.String()[before:], "503") >= 2 }, time.Minute, 10*time.Millisecond,
		"a check answered 503 is tried again; stdout: %s", &stdout)
	assert.Empty(t, api.Comments(prRepo, 7))

	// GitHub answers: the pull request is checked.
	front.Answer()
	require.Eventually(t, func() bool {
		for _, c := range api.Comments(prRepo, 7) {
			if strings.HasPrefix(c.Body, pullrequest.CommentMarker) {
				return true
			}
		}
		return false
	}, time.Minute, 10*time.Millisecond, "stdout: %s", &stdout)
	assert.Equal(t, "3", value(), "the pull request's head is checked, never applied")
}
