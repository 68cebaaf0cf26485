package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
)

func TestLocalRevision(t *testing.T) {
	dir := t.TempDir()
	rev, err := LocalRevision(dir)
	require.NoError(t, err)
	require.Empty(t, rev, "not a repository")

	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	rev, err = LocalRevision(dir)
	require.NoError(t, err)
	require.Empty(t, rev, "no commit yet")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "a.yaml"), []byte("a: 1\n"), 0o644))
	wt, err := repo.Worktree()
	require.NoError(t, err)
	_, err = wt.Add("sub/a.yaml")
	require.NoError(t, err)
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(0, 0)}
	h, err := wt.Commit("one", &git.CommitOptions{Author: sig})
	require.NoError(t, err)

	rev, err = LocalRevision(filepath.Join(dir, "sub"))
	require.NoError(t, err)
	require.Equal(t, h.String(), rev)
}
