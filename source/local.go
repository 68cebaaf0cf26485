package source

import (
	"errors"

	"github.com/go-git/go-git/v5"
)

// LocalRevision returns the commit checked out in the Git work tree that
// holds dir, or "" when dir is not inside a Git repository.
func LocalRevision(dir string) (string, error) {
	rev, err := LocalCommit(dir)
	return rev.Commit, err
}

// LocalCommit describes the commit checked out in dir, for lineage
// records, as Poll would: its hash, branch ref, author, message and
// time. All are empty when dir is not in a Git work tree or has no commit.
func LocalCommit(dir string) (Revision, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return Revision{}, nil
	}
	if err != nil {
		return Revision{}, err
	}
	head, err := repo.Head()
	if err != nil {
		return Revision{}, nil
	}
	rev := Revision{Commit: head.Hash().String()}
	if head.Name().IsBranch() {
		rev.Ref = head.Name().String()
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return rev, nil
	}
	rev.Author, rev.Email, rev.Message, rev.Time = c.Author.Name, c.Author.Email, c.Message, c.Committer.When
	return rev, nil
}
