package gitserver

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommitCloneAndCounts(t *testing.T) {
	s := Start(t, Options{Username: "alice", Password: "s3cret"})
	url := s.NewRepo(t, "config")

	first := s.Commit(t, url, map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n"}, "first")
	second := s.Push(t, url, Change{Files: map[string]string{"c.yaml": "c: 3\n"}, Delete: []string{"a.yaml"}})
	s.Tag(t, url, "v1.0.0", first)
	s.AnnotatedTag(t, url, "v2.0.0", second, "release")
	assert.Positive(t, s.Count(ReceivePack))

	s.ResetCounts()
	repo, err := git.PlainClone(t.TempDir(), false, &git.CloneOptions{URL: url, Auth: s.Auth()})
	require.NoError(t, err)
	assert.Equal(t, 1, s.Count(ListUploadPack))
	assert.Equal(t, 1, s.Count(UploadPack))
	assert.Zero(t, s.Count(Unauthorized))

	head, err := repo.Head()
	require.NoError(t, err)
	assert.Equal(t, plumbing.NewBranchReferenceName("main"), head.Name())
	assert.Equal(t, second, head.Hash().String())
	commit, err := repo.CommitObject(head.Hash())
	require.NoError(t, err)
	assert.Equal(t, Author.Name, commit.Author.Name)
	assert.Equal(t, first, commit.ParentHashes[0].String())
	tree, err := commit.Tree()
	require.NoError(t, err)
	_, err = tree.File("a.yaml")
	assert.ErrorIs(t, err, object.ErrFileNotFound)
	f, err := tree.File("dir/b.yaml")
	require.NoError(t, err)
	content, err := f.Contents()
	require.NoError(t, err)
	assert.Equal(t, "b: 2\n", content)

	tag, err := repo.Tag("v2.0.0")
	require.NoError(t, err)
	obj, err := repo.TagObject(tag.Hash())
	require.NoError(t, err, "v2.0.0 is annotated")
	assert.Equal(t, second, obj.Target.String())
}

func TestAuthIsRequired(t *testing.T) {
	s := Start(t, Options{Username: "alice", Password: "s3cret"})
	url := s.NewRepo(t, "config")
	s.Commit(t, url, map[string]string{"a": "a"}, "first")

	_, err := git.PlainClone(t.TempDir(), false, &git.CloneOptions{
		URL: url, Auth: &githttp.BasicAuth{Username: "alice", Password: "wrong"},
	})
	require.ErrorIs(t, err, transport.ErrAuthenticationRequired)
	assert.Positive(t, s.Count(Unauthorized))
}

func TestStopAndStartOnTheSamePort(t *testing.T) {
	s := Start(t, Options{})
	url := s.NewRepo(t, "config")
	sha := s.Commit(t, url, map[string]string{"a": "a"}, "first")
	addr := s.Addr()

	s.Stop()
	_, err := exec.Command("git", "ls-remote", url).CombinedOutput()
	require.Error(t, err, "the remote is down")

	s.Start()
	assert.Equal(t, addr, s.Addr())
	out, err := exec.Command("git", "ls-remote", url).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.True(t, strings.HasPrefix(string(out), sha), "%s", out)
}

func TestFetchByHash(t *testing.T) {
	for _, allow := range []bool{false, true} {
		s := Start(t, Options{AllowReachableSHA1InWant: allow})
		url := s.NewRepo(t, "config")
		first := s.Commit(t, url, map[string]string{"a": "1"}, "first")
		s.Commit(t, url, map[string]string{"a": "2"}, "second")
		repo, err := git.PlainInit(t.TempDir(), true)
		require.NoError(t, err)
		remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{url}})
		err = remote.Fetch(&git.FetchOptions{
			Depth:    1,
			RefSpecs: []config.RefSpec{config.RefSpec(first + ":refs/pinned")},
		})
		if !allow {
			require.ErrorIs(t, err, git.ErrExactSHA1NotSupported, "not advertised by default")
			continue
		}
		require.NoError(t, err)
		_, err = repo.CommitObject(plumbing.NewHash(first))
		require.NoError(t, err)
	}
}
