package githubapi

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
)

// GitRepo is a Git repository on disk that stands for a GitHub
// repository: its branches, and the refs/pull/N/head refs GitHub keeps
// for pull requests. Clients clone it by its path (URL). Commits have a
// fixed author and clock, so that the same files give the same hashes on
// every run.
type GitRepo struct {
	t     testing.TB
	dir   string
	repo  *git.Repository
	clock time.Time
}

// gitAuthor is the author and committer of every commit.
var gitAuthor = object.Signature{Name: "Trellis Test", Email: "test@trellis.dev"}

// NewGitRepo creates a repository whose main branch holds files (slash
// paths to contents) in one commit.
func NewGitRepo(t testing.TB, files map[string]string) *GitRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	require.NoError(t, err, "git init")
	g := &GitRepo{t: t, dir: dir, repo: repo, clock: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.Commit("main", files)
	return g
}

// URL is what clients clone: the repository's path.
func (g *GitRepo) URL() string { return g.dir }

// Commit makes the tree of branch exactly files (other files are
// removed), commits, and returns the commit's hash. A new branch starts
// from main.
func (g *GitRepo) Commit(branch string, files map[string]string) string {
	g.t.Helper()
	return g.CommitWithLinks(branch, files, nil)
}

// CommitWithLinks is Commit with symlinks besides files: each path of
// links is a symlink to its target (anywhere: a hostile pull request's
// links point out of the repository).
func (g *GitRepo) CommitWithLinks(branch string, files, links map[string]string) string {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	require.NoError(g.t, err)
	ref := plumbing.NewBranchReferenceName(branch)
	if head, err := g.repo.Head(); err == nil && head.Name() != ref {
		opts := &git.CheckoutOptions{Branch: ref, Force: true}
		if _, err := g.repo.Reference(ref, false); err != nil {
			opts.Create, opts.Hash = true, plumbing.NewHash(g.Head("main"))
		}
		require.NoError(g.t, wt.Checkout(opts), "git checkout %s", branch)
	}
	entries, err := os.ReadDir(g.dir)
	require.NoError(g.t, err)
	for _, e := range entries {
		if e.Name() != ".git" {
			require.NoError(g.t, os.RemoveAll(filepath.Join(g.dir, e.Name())))
		}
	}
	for name, content := range files {
		path := filepath.Join(g.dir, filepath.FromSlash(name))
		require.NoError(g.t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(g.t, os.WriteFile(path, []byte(content), 0o644))
	}
	for name, target := range links {
		path := filepath.Join(g.dir, filepath.FromSlash(name))
		require.NoError(g.t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(g.t, os.Symlink(target, path))
	}
	require.NoError(g.t, wt.AddWithOptions(&git.AddOptions{All: true}), "git add --all")
	g.clock = g.clock.Add(time.Minute)
	sig := gitAuthor
	sig.When = g.clock
	hash, err := wt.Commit("change "+branch, &git.CommitOptions{Author: &sig, Committer: &sig, AllowEmptyCommits: true})
	require.NoError(g.t, err, "git commit")
	return hash.String()
}

// Head is the commit branch points to.
func (g *GitRepo) Head(branch string) string {
	g.t.Helper()
	ref, err := g.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	require.NoError(g.t, err, "branch %s", branch)
	return ref.Hash().String()
}

// SetRef points ref (such as refs/pull/7/head) at sha, as GitHub does for
// a pull request's head.
func (g *GitRepo) SetRef(ref, sha string) {
	g.t.Helper()
	r := plumbing.NewHashReference(plumbing.ReferenceName(ref), plumbing.NewHash(sha))
	require.NoError(g.t, g.repo.Storer.SetReference(r))
}

// PullRequest returns pull request n of repo (owner/name) from branch to
// main, within the repository, and points refs/pull/n/head at branch.
func (g *GitRepo) PullRequest(repo string, n int, branch string) PullRequest {
	g.t.Helper()
	head := g.Head(branch)
	g.SetRef("refs/pull/"+strconv.Itoa(n)+"/head", head)
	return PullRequest{
		Number: n,
		Title:  "Change " + branch,
		Base:   Branch{Ref: "main", SHA: g.Head("main"), Repo: repo, CloneURL: g.URL()},
		Head:   Branch{Ref: branch, SHA: head, Repo: repo, CloneURL: g.URL()},
	}
}
