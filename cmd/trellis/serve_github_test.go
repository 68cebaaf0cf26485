package main

// `trellis serve --github-repo` against the GitHub API of test/githubapi
// and a config repo in a local Git repository: the open pull request is
// checked when serve starts and again on a signed pull_request webhook;
// the merged pull request of the applied revision gets its summary.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/source"
	"trellis.dev/trellis/test/githubapi"
)

var listenAddr = regexp.MustCompile(`msg=serving listen=(\S+)`)

func TestServeGitHub(t *testing.T) {
	const secret = "webhook-secret"
	api := githubapi.New(t, prToken)
	files := map[string]string{"cluster.yaml": strings.Replace(prBaseFiles["cluster.yaml"], "spec:\n", "spec:\n  context: nowhere\n", 1)}
	git := githubapi.NewGitRepo(t, files)
	applied := git.Head("main")
	api.AddPullRequest(prRepo, githubapi.PullRequest{Number: 6, Title: "Add dev", State: "closed", Merged: true, MergeCommitSHA: applied,
		Base: githubapi.Branch{Ref: "main", SHA: applied, Repo: prRepo}, Head: githubapi.Branch{Ref: "dev", SHA: applied, Repo: prRepo}})
	git.Commit("pr-7", map[string]string{"cluster.yaml": files["cluster.yaml"], "pipeline.yaml": prBaseFiles["pipeline.yaml"]})
	pr := git.PullRequest(prRepo, 7, "pr-7")
	api.AddPullRequest(prRepo, pr)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))
	t.Setenv(serveTokenEnv, prToken)
	t.Setenv(tokenEnv, "")

	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--repo", "file://" + git.URL(), "--ref", "main", "--kubeconfig", kubeconfig,
			"--listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
			"--webhook-secret-file", secretFile, "--interval", "1h",
			"--github-repo", prRepo, "--github-api-url", api.URL, "--pr-poll-interval", "1h",
			"--dashboard-addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-exited, "stderr: %s", stderr.String())
		assert.NotContains(t, stdout.String(), prToken, "the token is never logged")
	})

	comment := func(n int, marker string) string {
		for _, c := range api.Comments(prRepo, n) {
			if strings.HasPrefix(c.Body, marker) {
				return c.Body
			}
		}
		return ""
	}
	require.Eventually(t, func() bool { return comment(7, pullrequest.CommentMarker) != "" }, time.Minute, 5*time.Millisecond, "stdout: %s", &stdout)
	assert.Contains(t, comment(7, pullrequest.CommentMarker), "head <code>"+pr.Head.SHA[:7]+"</code>")

	require.Eventually(t, func() bool { return comment(6, pullrequest.AppliedMarker(applied)) != "" }, time.Minute, 5*time.Millisecond, "stdout: %s", &stdout)
	summary := comment(6, pullrequest.AppliedMarker(applied))
	assert.Contains(t, summary, "### ❌ Cluster <code>dev</code>: failed")
	assert.Contains(t, summary, "nowhere")

	// A new head, announced by a webhook: checked at once, although the
	// next poll is an hour away.
	require.Eventually(t, func() bool { return listenAddr.MatchString(stdout.String()) }, time.Minute, 5*time.Millisecond)
	addr := listenAddr.FindStringSubmatch(stdout.String())[1]
	require.Eventually(t, func() bool {
		return len(api.LatestStatuses(prRepo, pr.Head.SHA)) == 2 && api.LatestStatuses(prRepo, pr.Head.SHA)[pullrequest.ContextPlan].State != pullrequest.StatePending
	}, time.Minute, 5*time.Millisecond, "the first check is over")
	head := git.Commit("pr-7", map[string]string{"cluster.yaml": files["cluster.yaml"]})
	git.SetRef("refs/pull/7/head", head)
	api.SetHead(prRepo, 7, head)
	body := []byte(`{"action":"synchronize","number":7}`)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/github", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-Hub-Signature-256", daemon.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool {
		return strings.Contains(comment(7, pullrequest.CommentMarker), "head <code>"+head[:7]+"</code>")
	}, time.Minute, 5*time.Millisecond, "stdout: %s", &stdout)
	assert.Len(t, api.Comments(prRepo, 7), 1)

	// Each check is a lineage record, next to the applies' records.
	require.Eventually(t, func() bool {
		store, err := lineage.Open(context.Background(), git.URL(), "", nil)
		if err != nil {
			return false
		}
		recs, err := store.Records()
		if err != nil {
			return false
		}
		checks := 0
		for _, r := range recs {
			if strings.Contains(r.RunID, "-pr7-") && r.Source.Ref == "refs/pull/7/head" {
				checks++
			}
		}
		return checks == 2
	}, time.Minute, 20*time.Millisecond, "a record per check of pull request 7; stdout: %s", &stdout)

	// The dashboard shows the last plan of pull request 7, linking to it.
	require.True(t, dashboardURL.MatchString(stdout.String()), "stdout: %s", &stdout)
	var page string
	require.Eventually(t, func() bool {
		resp, err := http.Get(dashboardURL.FindStringSubmatch(stdout.String())[1] + "pulls")
		if err != nil {
			return false
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		page = string(b)
		return err == nil && strings.Contains(page, "head <code class=\"sha\">"+head[:7]+"</code>")
	}, time.Minute, 20*time.Millisecond, "the last check's head")
	assert.Contains(t, page, `<a href="https://github.com/`+prRepo+`/pull/7">#7</a>`)
	assert.Contains(t, page, "<h3>dev</h3>", "its plan for cluster dev")
}

func TestServeGitHubFlags(t *testing.T) {
	t.Setenv(serveTokenEnv, "")
	t.Setenv(tokenEnv, "")
	parse := func(args ...string) serveOptions {
		var o serveOptions
		f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addServeGitHubFlags(f, &o.github)
		require.NoError(t, f.Parse(args))
		o.stateDir = t.TempDir()
		return o
	}
	conn := clusterrun.NewPool("")
	g, err := newServeGitHub(parse(), conn, nil, nil, quietLogger())
	require.NoError(t, err)
	assert.Nil(t, g, "no --github-repo, no pull requests")
	assert.Nil(t, g.recorded())
	main := source.Ref{Branch: "main"}
	polled := 0
	g.route(main, func() { polled++ })(daemon.Event{Kind: "pull_request", PR: 3, Action: "opened"})
	assert.Equal(t, 1, polled, "without --github-repo every pull_request event polls")
	g.route(main, func() { polled++ })(daemon.Event{Kind: "push", Ref: "refs/heads/trellis/lineage"})
	assert.Equal(t, 1, polled, "a push to another branch never polls")

	for _, tt := range []struct {
		args []string
		env  string
		err  string
	}{
		{[]string{"--github-repo", "acme/platform"}, "", "--github-repo: no GitHub token: pass --github-token-file or set $TRELLIS_GITHUB_TOKEN or $GITHUB_TOKEN"},
		{[]string{"--github-token-file", "/x"}, "", "--github-api-url and --github-token-file need --github-repo"},
		{[]string{"--github-repo", "platform"}, "t", `github repository "platform": want OWNER/NAME`},
		{[]string{"--github-repo", "acme/platform", "--pr-poll-interval", "0s"}, "t", "--pr-poll-interval must be positive, not 0s"},
		{[]string{"--github-repo", "acme/platform", "--github-token-file", filepath.Join(t.TempDir(), "none")}, "t", "--github-token-file: open "},
	} {
		t.Setenv(serveTokenEnv, tt.env)
		_, err := newServeGitHub(parse(tt.args...), conn, nil, nil, quietLogger())
		require.Error(t, err, "%v", tt.args)
		assert.True(t, isUsageError(err), "%v: %v", tt.args, err)
		assert.Contains(t, err.Error(), tt.err)
	}

	t.Setenv(serveTokenEnv, "t")
	g, err = newServeGitHub(parse("--github-repo", "acme/platform"), conn, nil, nil, quietLogger())
	require.NoError(t, err)
	require.NotNil(t, g)
	for _, tt := range []struct {
		ev   daemon.Event
		poll bool
	}{
		{daemon.Event{Kind: "push", Ref: "refs/heads/main"}, true},
		{daemon.Event{Kind: "push", Ref: "refs/heads/trellis/lineage"}, false},
		{daemon.Event{Kind: "pull_request", PR: 3, Action: "synchronize"}, false},
		{daemon.Event{Kind: "pull_request", PR: 3, Action: "closed"}, true},
		{daemon.Event{Kind: "pull_request", PR: 3, Action: "labeled"}, false},
	} {
		polled = 0
		g.route(main, func() { polled++ })(tt.ev)
		assert.Equal(t, tt.poll, polled == 1, "%+v", tt.ev)
	}
}

// quietLogger discards what the code under test logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
