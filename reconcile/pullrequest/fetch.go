package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"trellis.dev/trellis/source"
)

// Checkout is a pull request's base and head, written out as plain
// directories (no .git) for render.
type Checkout struct {
	// BaseDir holds the tree of the base commit, HeadDir the head's.
	BaseDir, HeadDir string
}

// pullRef is the ref GitHub keeps for the head of pull request n, in the
// base repository, forks included.
func pullRef(n int) string { return "refs/pull/" + strconv.Itoa(n) + "/head" }

// Fetch clones the base branch of pr from url into dir (a bare
// repository in dir/git), fetches refs/pull/N/head, and writes the trees
// of the pull request's base and head commits (by the SHAs the API gave)
// to dir/base and dir/head. auth may be nil.
func Fetch(ctx context.Context, repoURL string, auth transport.AuthMethod, pr *PullRequest, dir string) (*Checkout, error) {
	repo, err := git.PlainCloneContext(ctx, filepath.Join(dir, "git"), true, &git.CloneOptions{
		URL:           repoURL,
		Auth:          auth,
		ReferenceName: plumbing.NewBranchReferenceName(pr.Base.Ref),
		SingleBranch:  true,
		Tags:          git.NoTags,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: clone branch %s: %w", source.StripCredentials(repoURL), pr.Base.Ref, err)
	}
	spec := config.RefSpec("+" + pullRef(pr.Number) + ":refs/trellis/pull/" + strconv.Itoa(pr.Number))
	err = repo.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("%s: fetch %s: %w", source.StripCredentials(repoURL), pullRef(pr.Number), err)
	}
	co := &Checkout{BaseDir: filepath.Join(dir, "base"), HeadDir: filepath.Join(dir, "head")}
	if err := writeCommit(repo, pr.Base.SHA, co.BaseDir); err != nil {
		return nil, fmt.Errorf("base %s: %w", pr.Base.SHA, err)
	}
	if err := writeCommit(repo, pr.Head.SHA, co.HeadDir); err != nil {
		return nil, fmt.Errorf("head %s: %w", pr.Head.SHA, err)
	}
	return co, nil
}

// writeCommit writes the tree of commit sha to dir.
func writeCommit(repo *git.Repository, sha string, dir string) error {
	commit, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return fmt.Errorf("commit not fetched (the pull request may have moved on): %w", err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("read tree: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return tree.Files().ForEach(func(f *object.File) error {
		return writeFile(root, f)
	})
}

// writeFile writes one file of a tree under root: regular files and
// symlinks (kept as symlinks, so that render refuses those that leave the
// repo); submodules are skipped. Every write goes through the os.Root: a
// path that would leave it, also through a symlink written before (a/ ->
// /etc, then a/passwd), is an error.
func writeFile(root *os.Root, f *object.File) error {
	rel := filepath.FromSlash(f.Name)
	if !filepath.IsLocal(rel) {
		return fmt.Errorf("%s: path leaves the repository", f.Name)
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	switch f.Mode {
	case filemode.Symlink:
		target, err := f.Contents()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		return root.Symlink(target, rel)
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		return copyBlob(root, rel, f)
	}
	return nil
}

// copyBlob writes the content of f at rel under root; an existing entry
// (a symlink among them) is an error, never followed.
func copyBlob(root *os.Root, rel string, f *object.File) error {
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	defer r.Close()
	out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		_ = out.Close()
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return out.Close()
}

// TokenAuth is the basic auth GitHub accepts for HTTPS Git with a token.
func TokenAuth(token string) transport.AuthMethod {
	return &githttp.BasicAuth{Username: "x-access-token", Password: token}
}
