package source

import (
	"errors"

	"github.com/go-git/go-git/v5"
)

// LocalRevision returns the commit checked out in the Git work tree that
// holds dir, or "" when dir is not inside a Git repository.
func LocalRevision(dir string) (string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	head, err := repo.Head()
	if err != nil {
		return "", nil // an empty repository has no revision yet
	}
	return head.Hash().String(), nil
}
