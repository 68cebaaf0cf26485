package pullrequest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/githubapi"
)

func TestPRFetchWritesBaseAndHead(t *testing.T) {
	repo := githubapi.NewGitRepo(t, map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 1\n"})
	repo.Commit("feature", map[string]string{"a.yaml": "a: 2\n", "c.yaml": "c: 1\n"})
	gpr := repo.PullRequest(testRepo, 5, "feature")
	pr := &PullRequest{Number: 5, Base: Branch(gpr.Base), Head: Branch(gpr.Head)}

	co, err := Fetch(context.Background(), repo.URL(), nil, pr, t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 1\n"}, readTree(t, co.BaseDir))
	assert.Equal(t, map[string]string{"a.yaml": "a: 2\n", "c.yaml": "c: 1\n"}, readTree(t, co.HeadDir))
}

func TestPRFetchNeedsThePullRef(t *testing.T) {
	repo := githubapi.NewGitRepo(t, map[string]string{"a.yaml": "a: 1\n"})
	sha := repo.Commit("feature", map[string]string{"a.yaml": "a: 2\n"})
	pr := &PullRequest{Number: 6, Base: Branch{Ref: "main", SHA: repo.Head("main")}, Head: Branch{Ref: "feature", SHA: sha}}

	_, err := Fetch(context.Background(), repo.URL(), nil, pr, t.TempDir())
	require.Error(t, err, "refs/pull/6/head does not exist")
	assert.Contains(t, err.Error(), "fetch refs/pull/6/head: ")
}

// readTree maps each file under dir (slash paths) to its content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	}))
	return out
}

// treeFile is a file of a tree, with content, stored in memory.
func treeFile(t *testing.T, name string, mode filemode.FileMode, content string) *object.File {
	t.Helper()
	st := memory.NewStorage()
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	require.NoError(t, err)
	_, err = w.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, err = st.SetEncodedObject(obj)
	require.NoError(t, err)
	blob, err := object.GetBlob(st, obj.Hash())
	require.NoError(t, err)
	return object.NewFile(name, mode, blob)
}

func TestPRFetchWriteFile(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	require.NoError(t, writeFile(root, treeFile(t, "x/run.sh", filemode.Executable, "#!/bin/sh\n")))
	require.NoError(t, writeFile(root, treeFile(t, "link.yaml", filemode.Symlink, "../../etc/passwd")))
	require.NoError(t, writeFile(root, treeFile(t, "sub", filemode.Submodule, "")))

	data, err := os.ReadFile(filepath.Join(dir, "x", "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\n", string(data))
	target, err := os.Readlink(filepath.Join(dir, "link.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "../../etc/passwd", target, "a symlink stays a symlink, for render to refuse")
	_, err = os.Lstat(filepath.Join(dir, "sub"))
	assert.ErrorIs(t, err, os.ErrNotExist, "submodules are skipped")

	for _, name := range []string{"../evil.yaml", "/etc/evil.yaml", "a/../../evil.yaml"} {
		err := writeFile(root, treeFile(t, name, filemode.Regular, "x"))
		assert.ErrorContains(t, err, name+": path leaves the repository")
	}

	// A tree whose symlink is a directory on the way of a later file (as
	// a crafted tree can hold): nothing is written outside the checkout.
	outside := t.TempDir()
	require.NoError(t, writeFile(root, treeFile(t, "out", filemode.Symlink, outside)))
	err = writeFile(root, treeFile(t, "out/evil.yaml", filemode.Regular, "x"))
	require.Error(t, err)
	_, statErr := os.Stat(filepath.Join(outside, "evil.yaml"))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "written outside the checkout")
	err = writeFile(root, treeFile(t, "link.yaml", filemode.Regular, "x"))
	assert.Error(t, err, "an existing link is never written through")
}

func TestPRGitAuth(t *testing.T) {
	const clone = "https://github.com/acme/platform.git"
	for _, tt := range []struct {
		repo, token string
		auth        bool
	}{
		{clone, "t", true},
		{"https://github.com/acme/other.git", "t", true},
		{clone, "", false},
		{"https://git.example.com/acme/platform.git", "t", false},
		{"ssh://git@github.com/acme/platform.git", "t", false},
		{"/srv/git/platform", "t", false},
	} {
		got := gitAuth(tt.repo, clone, tt.token)
		assert.Equal(t, tt.auth, got != nil, "%s", tt.repo)
	}
}
