package main

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A pull request from a fork that tries every way out of the repository
// this test knows: @embed of links to a host file, to the process's
// environment (through a link to /) and to the kubeconfig trellis holds;
// kustomize remote bases and a link to a host directory; and a Secret whose
// value a CUE conflict echoes. `trellis pr`, given a kubeconfig and a
// lineage repository, reports the head invalid, and no host file, no
// environment variable, no kubeconfig credential, no GitHub token and no
// Secret value reaches the comment, the statuses, the lineage records or
// its own output; no git process is started.
func TestPRCommandHostileFork(t *testing.T) {
	const (
		hostCanary   = "CANARY-host-file-0b1c"
		envCanary    = "CANARY-environment-9d2e"
		kubeCanary   = "CANARY-kube-credential-4f5a"
		secretCanary = "CANARY-secret-value-7e8b"
	)
	gitCalls := recordGitCalls(t)
	t.Setenv("TRELLIS_HOSTILE_CANARY", envCanary)
	host := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(host, "hosts.txt"), []byte("root:x:0:0:"+hostCanary+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(host, "secret.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: "+hostCanary+", namespace: pr-demo}\n"), 0o644))
	kubeconfig := filepath.Join(host, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nusers:\n- name: dev\n  user: {token: "+kubeCanary+"}\n"), 0o600))

	pc := newPRCase(t)
	files := maps.Clone(prBaseFiles)
	maps.Copy(files, map[string]string{
		"teams/nlp/host.cue":                  embedding("host", ".s/hosts.txt"),
		"teams/nlp/env.cue":                   embedding("env", ".r/proc/self/environ"),
		"teams/nlp/kube.cue":                  embedding("kube", ".k/kubeconfig"),
		"teams/vision/echo.cue":               "package vision\n\nx: metadata: labels: team: \"" + secretCanary + "\"\nx: metadata: labels: team: \"vision\"\n",
		"clusters/dev/secret.yaml":            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: pr-demo}\nstringData: {token: " + secretCanary + "}\n",
		"clusters/dev/app/kustomization.yaml": "resources:\n  - github.com:org/repo\n  - deploy@host.example:org/repo?timeout=3600\n  - .h/secret.yaml\n",
	})
	pc.git.CommitWithLinks("fork", files, map[string]string{
		"teams/nlp/.s":        host,
		"teams/nlp/.r":        "/",
		"teams/nlp/.k":        host,
		"clusters/dev/app/.h": host,
	})
	pr := pc.git.PullRequest(prRepo, 7, "fork")
	pr.Head.Repo = "someone/platform"
	pc.api.AddPullRequest(prRepo, pr)
	lineageRepo := pc.git.URL()

	r := pc.run(t, "--kubeconfig", kubeconfig, "--lineage-repo", lineageRepo, "--lineage-state-dir", t.TempDir())
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	for _, want := range []string{
		`teams/nlp/host.cue:5:10: @embed file \".s/hosts.txt\": teams/nlp/.s: symlink leaves the repository`,
		`teams/nlp/env.cue:5:9: @embed file \".r/proc/self/environ\": teams/nlp/.r: symlink leaves the repository`,
		`teams/nlp/kube.cue:5:10: @embed file \".k/kubeconfig\": teams/nlp/.k: symlink leaves the repository`,
		`clusters/dev/app/kustomization.yaml:2:5: resources: remote base \"github.com:org/repo\" is not allowed`,
		`clusters/dev/app/kustomization.yaml:3:5: resources: remote base \"deploy@host.example:org/repo?timeout=3600\" is not allowed`,
		`clusters/dev/app/kustomization.yaml:4:5: resources: \".h/secret.yaml\": clusters/dev/app/.h: symlink leaves the repository`,
		`teams/vision/echo.cue:4:28: x.metadata.labels.team: conflicting values \"vision\" and \"<redacted>\"`,
	} {
		assert.Contains(t, strings.ReplaceAll(r.stdout, "\"", `\"`), want)
	}

	var seen []string
	seen = append(seen, r.stdout, r.stderr)
	for _, req := range pc.api.Requests() {
		seen = append(seen, req.Body, req.Query)
	}
	for _, c := range pc.api.Comments(prRepo, 7) {
		seen = append(seen, c.Body)
	}
	for _, s := range pc.api.Statuses(prRepo, pr.Head.SHA) {
		seen = append(seen, s.Description)
	}
	lineage := lineageFiles(t, lineageRepo)
	require.NotEmpty(t, lineage, "the check's lineage record")
	seen = append(seen, lineage...)
	all := strings.Join(seen, "\n")
	for _, v := range []string{hostCanary, envCanary, kubeCanary, secretCanary, prToken} {
		assert.NotContains(t, all, v)
	}
	data, err := os.ReadFile(gitCalls)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("processes started: %s", data)
	}
}

// embedding is a CUE file of package nlp whose field name holds what
// @embed reads of file.
func embedding(name, file string) string {
	return "@extern(embed)\n\npackage nlp\n\n_" + name + ": _ @embed(file=\"" + file + "\", type=text)\n" + name + ": _" + name + "\n"
}

// recordGitCalls puts a git (and kustomize, helm) on PATH that records
// its calls, and returns the file it records them in.
func recordGitCalls(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	for _, name := range []string{"git", "kustomize", "helm"} {
		script := "#!/bin/sh\necho \"$0 $*\" >> " + calls + "\nexit 1\n"
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// lineageFiles are the contents of every file on the lineage branch of the
// repository at dir.
func lineageFiles(t *testing.T, dir string) []string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	require.NoError(t, err)
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("trellis/lineage"), true)
	require.NoError(t, err)
	commit, err := repo.CommitObject(ref.Hash())
	require.NoError(t, err)
	tree, err := commit.Tree()
	require.NoError(t, err)
	out := []string{commit.Message}
	require.NoError(t, tree.Files().ForEach(func(f *object.File) error {
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		out = append(out, string(b))
		return err
	}))
	return out
}

// A head whose render passes --render-timeout is invalid: the comment
// says so, and the render (a child process) is killed, not left running.
func TestPRCommandRenderTimeout(t *testing.T) {
	pc := newPRCase(t)
	pr := pc.open(t, map[string]string{"teams/slow.cue": expensiveCUE})
	r := pc.run(t, "--render-timeout", "2s")
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "render stopped: it took longer than the render timeout of 2s (--render-timeout)")
	assert.Equal(t, map[string]string{"trellis/validate": "failure", "trellis/plan": "failure"}, pc.states(pr.Head.SHA))
}
