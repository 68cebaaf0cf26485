package gitserver

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/require"
)

// Author is the author and committer of every commit the helpers make.
var Author = object.Signature{Name: "Trellis Test", Email: "test@trellis.dev"}

// Change is one commit pushed by Push.
type Change struct {
	// Files maps a slash-separated path to its new content.
	Files map[string]string
	// Delete lists paths to remove.
	Delete []string
	// Message is the commit message (default "change").
	Message string
	// Branch is the branch to commit on (default main); a missing branch is
	// created from the default branch, or as the first commit.
	Branch string
	// SignKey, when set, signs the commit with OpenPGP.
	SignKey *openpgp.Entity
}

// Commit commits files (path to content) on main with a fixed author,
// pushes it through the server and returns the new commit's hash.
func (s *Server) Commit(t testing.TB, url string, files map[string]string, message string) string {
	t.Helper()
	return s.Push(t, url, Change{Files: files, Message: message})
}

// Push clones url, applies the change, commits, pushes and returns the new
// commit's hash.
func (s *Server) Push(t testing.TB, url string, c Change) string {
	t.Helper()
	if c.Branch == "" {
		c.Branch = "main"
	}
	if c.Message == "" {
		c.Message = "change"
	}
	repo, dir := s.clone(t, url, c.Branch)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	for name, content := range c.Files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		_, err := wt.Add(name)
		require.NoError(t, err, "git add %s", name)
	}
	for _, name := range c.Delete {
		_, err := wt.Remove(name)
		require.NoError(t, err, "git rm %s", name)
	}
	sig := s.signature()
	hash, err := wt.Commit(c.Message, &git.CommitOptions{
		Author: &sig, Committer: &sig, SignKey: c.SignKey, AllowEmptyCommits: true,
	})
	require.NoError(t, err, "git commit")
	ref := plumbing.NewBranchReferenceName(c.Branch)
	s.push(t, repo, config.RefSpec(ref+":"+ref))
	return hash.String()
}

// Tag pushes a lightweight tag to commit sha.
func (s *Server) Tag(t testing.TB, url, tag, sha string) {
	t.Helper()
	s.tag(t, url, tag, sha, nil)
}

// AnnotatedTag pushes an annotated tag (a tag object) to commit sha.
func (s *Server) AnnotatedTag(t testing.TB, url, tag, sha, message string) {
	t.Helper()
	sig := s.signature()
	s.tag(t, url, tag, sha, &git.CreateTagOptions{Tagger: &sig, Message: message})
}

func (s *Server) tag(t testing.TB, url, tag, sha string, opts *git.CreateTagOptions) {
	t.Helper()
	repo, _ := s.clone(t, url, "main")
	_, err := repo.CreateTag(tag, plumbing.NewHash(sha), opts)
	require.NoError(t, err, "git tag %s", tag)
	ref := plumbing.NewTagReferenceName(tag)
	s.push(t, repo, config.RefSpec(ref+":"+ref))
}

// clone clones url into a temporary work tree with branch checked out; an
// empty remote gives a fresh repository whose first branch is branch.
func (s *Server) clone(t testing.TB, url, branch string) (*git.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: url, Auth: s.Auth()})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		require.NoError(t, os.RemoveAll(dir))
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
		})
		require.NoError(t, err)
		_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		require.NoError(t, err)
		return repo, dir
	}
	require.NoError(t, err, "git clone %s", url)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	local := plumbing.NewBranchReferenceName(branch)
	head, err := repo.Head()
	require.NoError(t, err)
	if head.Name() == local {
		return repo, dir
	}
	opts := &git.CheckoutOptions{Branch: local, Create: true}
	if remote, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true); err == nil {
		opts.Hash = remote.Hash()
	}
	err = wt.Checkout(opts)
	require.NoError(t, err, "git checkout %s", branch)
	return repo, dir
}

func (s *Server) push(t testing.TB, repo *git.Repository, spec config.RefSpec) {
	t.Helper()
	err := repo.Push(&git.PushOptions{RefSpecs: []config.RefSpec{spec}, Auth: s.Auth()})
	require.NoError(t, err, "git push %s", spec)
}

// Auth is the basic auth of the server's credentials (nil without auth).
func (s *Server) Auth() transport.AuthMethod {
	if s.opts.Username == "" && s.opts.Password == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: s.opts.Username, Password: s.opts.Password}
}

// signature is the fixed author, one second later than the previous one so
// that commits are ordered and reproducible.
func (s *Server) signature() object.Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = s.clock.Add(time.Second)
	sig := Author
	sig.When = s.clock
	return sig
}
