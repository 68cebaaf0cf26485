package source

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/go-git/go-git/v5"
)

// initDir checks a plain directory: it is used in place, so it must be a
// work tree or a plain directory (not a bare repository), and only the
// default ref makes sense.
func (s *Source) initDir() error {
	abs, err := filepath.Abs(s.spec.URL)
	if err != nil {
		return s.errorf("%w", err)
	}
	s.dir = abs
	if !s.spec.Ref.isZero() && s.spec.Ref != (Ref{Branch: DefaultBranch}) {
		return s.errorf("ref %s: a local directory is used as it is; use file:// to follow a ref", s.spec.Ref)
	}
	repo, err := git.PlainOpen(abs)
	if err != nil {
		return nil // not a repository's top (or unreadable: Poll reports it)
	}
	if _, err := repo.Worktree(); errors.Is(err, git.ErrIsBareRepository) {
		return s.errorf("a bare repository has no files: use file://%s", abs)
	}
	return nil
}

// pollDir describes the directory as it is now. Its revision is HEAD's
// commit when it is in a Git work tree; uncommitted changes are included
// (the directory is used in place), so every poll reports Changed.
func (s *Source) pollDir() (Revision, error) {
	dir, err := subdir(s.dir, s.path)
	if err != nil {
		return Revision{}, s.errorf("%w", err)
	}
	rev := Revision{Dir: dir, Changed: true}
	repo, err := git.PlainOpenWithOptions(s.dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if len(s.spec.VerifyKeys) > 0 {
			return Revision{}, s.errorf("not a Git repository: no commit to verify")
		}
		return rev, nil
	}
	if err != nil {
		return Revision{}, s.errorf("%w", err)
	}
	head, err := repo.Head()
	if err != nil {
		if len(s.spec.VerifyKeys) > 0 {
			return Revision{}, s.errorf("no commit to verify: %w", err)
		}
		return rev, nil // no commit yet
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return Revision{}, s.errorf("HEAD %s: %w", head.Hash(), err)
	}
	if err := verify(commit, s.spec.VerifyKeys); err != nil {
		return Revision{}, s.errorf("%w", err)
	}
	rev = revision(commit, dir)
	rev.Changed = true
	if head.Name().IsBranch() {
		rev.Ref = head.Name().String()
	}
	return rev, nil
}

// String names the source for logs: its URL without credentials, ref and
// path.
func (s *Source) String() string {
	return fmt.Sprintf("%s@%s:%s", s.url, s.spec.Ref, filepath.ToSlash(s.path))
}
