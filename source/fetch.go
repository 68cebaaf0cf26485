package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// fullDepth asks the server for the whole history, as `git fetch
// --unshallow` does: a plain fetch into a shallow repository would stop at
// the shallow boundary.
const fullDepth = 1<<31 - 1

// fetch fetches the target into the bare repository and returns it with
// the commit that was actually fetched: a branch that moved between the
// listing and the fetch gives its newer commit.
func (s *Source) fetch(ctx context.Context, creds credentials, t target) (target, error) {
	if t.ref == "" {
		return t, s.fetchCommit(ctx, creds, t.commit)
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", t.ref, t.ref))
	if err := s.fetchSpecs(ctx, creds, 1, spec); err != nil {
		return t, err
	}
	ref, err := s.repo.Reference(t.ref, true)
	if err != nil {
		return t, fmt.Errorf("fetch %s: %w", t.ref, err)
	}
	t.commit = ref.Hash()
	if tag, err := s.repo.TagObject(ref.Hash()); err == nil {
		commit, err := tag.Commit()
		if err != nil {
			return t, fmt.Errorf("tag %s: %w", t.ref, err)
		}
		t.commit = commit.Hash
	}
	return t, nil
}

// fetchCommit fetches one commit. When the server allows wants of any
// reachable commit (allow-reachable-sha1-in-want, or allow-tip-sha1-in-want:
// GitHub and GitLab do), only that commit is fetched, shallowly. Otherwise
// (a default `git http-backend`, go-git refuses to ask) every branch and tag
// is fetched with its whole history, and the commit must be among them.
func (s *Source) fetchCommit(ctx context.Context, creds credentials, commit plumbing.Hash) error {
	pin := config.RefSpec(fmt.Sprintf("+%s:refs/trellis/commits/%s", commit, commit))
	err := s.fetchSpecs(ctx, creds, 1, pin)
	if errors.Is(err, git.ErrExactSHA1NotSupported) {
		err = s.fetchSpecs(ctx, creds, s.deepen(),
			"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	}
	if err != nil {
		return err
	}
	if _, err := s.repo.CommitObject(commit); err != nil {
		return fmt.Errorf("commit %s is not on any branch or tag of the remote: %w", commit, err)
	}
	return nil
}

// deepen is the depth of a full fetch: 0 (no limit) into a complete
// repository, fullDepth into a shallow one.
func (s *Source) deepen() int {
	shallow, err := s.repo.Storer.Shallow()
	if err == nil && len(shallow) == 0 {
		return 0
	}
	return fullDepth
}

// fetchSpecs fetches refspecs at depth (0: all history), without tags
// beyond the refspecs.
func (s *Source) fetchSpecs(ctx context.Context, creds credentials, depth int, specs ...config.RefSpec) error {
	err := s.remote().FetchContext(ctx, &git.FetchOptions{
		RefSpecs: specs,
		Depth:    depth,
		Auth:     creds.method,
		Tags:     git.NoTags,
		Force:    true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}
