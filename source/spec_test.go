package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRef(t *testing.T) {
	sha := strings.Repeat("ab", 20)
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{in: "main", want: Ref{Branch: "main"}},
		{in: "feature/x", want: Ref{Branch: "feature/x"}},
		{in: "branch:main", want: Ref{Branch: "main"}},
		{in: "tag:v1.2.0", want: Ref{Tag: "v1.2.0"}},
		{in: "semver:>=1.0.0 <2.0.0", want: Ref{SemVer: ">=1.0.0 <2.0.0"}},
		{in: "commit:" + sha, want: Ref{Commit: sha}},
		{in: "commit:" + strings.ToUpper(sha), want: Ref{Commit: sha}},
		{in: "", wantErr: "empty branch"},
		{in: "tag:", wantErr: "empty tag"},
		{in: "commit:abc", wantErr: "40 lowercase hex"},
		{in: "semver:not a range", wantErr: "semver range"},
		{in: "branch:a..b", wantErr: "invalid reference name"},
		{in: "sha:abc", wantErr: `unknown kind "sha"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRef(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseRef(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"main", "tag:v1", "semver:~1.2", "commit:" + strings.Repeat("0", 40), "x:y", ":", "semver:>=1 <2 || 3.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseRef(s)
		if err != nil {
			return
		}
		require.NoError(t, ref.Validate())
		again, err := ParseRef(ref.String())
		require.NoError(t, err, "String of a parsed ref parses")
		require.Equal(t, ref, again)
	})
}

func TestRefValidate(t *testing.T) {
	assert.NoError(t, Ref{}.Validate(), "the zero ref is branch main")
	assert.Equal(t, "branch:main", Ref{}.String())
	assert.ErrorContains(t, Ref{Branch: "a", Tag: "b"}.Validate(), "only one")
}

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, dir)
	require.NoError(t, err)
	tests := []struct {
		url     string
		want    kind
		wantErr string
	}{
		{url: "https://github.com/org/repo.git", want: kindHTTP},
		{url: "https://bot@github.com/org/repo.git", want: kindHTTP},
		{url: "http://127.0.0.1:8080/repo.git", want: kindHTTP},
		{url: "http://localhost/repo.git", want: kindHTTP},
		{url: "http://[::1]:80/repo.git", want: kindHTTP},
		{url: "http://github.com/org/repo.git", wantErr: "only allowed to a loopback host"},
		{url: "ssh://git@github.com/org/repo.git", want: kindSSH},
		{url: "git@github.com:org/repo.git", want: kindSSH},
		{url: "github.com:org/repo.git", want: kindSSH},
		{url: "file:///srv/repo.git", want: kindFile},
		{url: dir, want: kindDir},
		{url: rel, want: kindDir},
		{url: ".", want: kindDir},
		{url: filepath.Join(dir, "missing"), wantErr: "neither a Git URL nor an existing directory"},
		{url: "https://bot:hunter2@github.com/org/repo.git", wantErr: "password in the URL is refused"},
		{url: "bot:hunter2@github.com:org/repo.git", wantErr: "password in the URL is refused"},
		{url: "ftp://example.com/repo", wantErr: `unsupported scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := classify(tt.url)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "hunter2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNewErrorsNameTheURLWithoutSecrets(t *testing.T) {
	_, err := New(Spec{URL: "https://bot:hunter2@example.com/repo.git"})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "https://example.com/repo.git: "), err.Error())
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestPlainDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "apps"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apps", "a.yaml"), []byte("a: 1\n"), 0o644))

	s := mustNew(t, Spec{URL: dir, Path: "apps"})
	rev := mustPoll(t, s)
	assert.Empty(t, rev.Commit, "not a repository")
	assert.Equal(t, filepath.Join(dir, "apps"), rev.Dir, "used in place")
	assert.True(t, rev.Changed)
	assert.True(t, mustPoll(t, s).Changed, "files can change without a commit")

	_, err := New(Spec{URL: dir, Ref: Ref{Tag: "v1"}})
	require.ErrorContains(t, err, "use file:// to follow a ref")
	_, err = New(Spec{URL: dir, Ref: Ref{Branch: "main"}})
	require.NoError(t, err, "the CLI's default ref is fine")
}

func TestPlainDirectoryInAWorkTree(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a: 1\n"), 0o644))
	run(t, dir, "init", "-q", "--initial-branch=main")
	run(t, dir, "add", "a.yaml")
	run(t, dir, "-c", "user.name=Ann", "-c", "user.email=ann@trellis.dev", "commit", "-q", "-m", "first")

	rev := mustPoll(t, mustNew(t, Spec{URL: dir}))
	local, err := LocalRevision(dir)
	require.NoError(t, err)
	assert.Equal(t, local, rev.Commit)
	assert.Equal(t, "refs/heads/main", rev.Ref)
	assert.Equal(t, "Ann", rev.Author)
	assert.Equal(t, dir, rev.Dir)

	bare := t.TempDir()
	run(t, bare, "init", "-q", "--bare")
	_, err = New(Spec{URL: bare})
	require.ErrorContains(t, err, "a bare repository has no files: use file://")
}

func TestStripCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://x-access-token:ghp_secret@github.com/o/r.git": "https://github.com/o/r.git",
		"https://ghp_tokenasuser@github.com/o/r.git":           "https://github.com/o/r.git",
		"ssh://git:pw@host/r.git":                              "ssh://git@host/r.git",
		"ssh://git@host/r.git":                                 "ssh://git@host/r.git",
		"https://github.com/o/r.git":                           "https://github.com/o/r.git",
		"git@github.com:o/r.git":                               "git@github.com:o/r.git",
		"/srv/git/r":                                           "/srv/git/r",
	} {
		assert.Equal(t, want, StripCredentials(in), in)
	}
}

func TestRefMoves(t *testing.T) {
	for _, tc := range []struct {
		ref, pushed string
		want        bool
	}{
		{"main", "refs/heads/main", true},
		{"main", "refs/heads/trellis/lineage", false},
		{"branch:release/1", "refs/heads/release/1", true},
		{"main", "refs/tags/v1.0.0", false},
		{"tag:v1.0.0", "refs/tags/v1.0.0", true},
		{"semver:>=1.0.0", "refs/tags/v1.2.0", true},
		{"semver:>=1.0.0", "refs/heads/main", false},
		{"commit:" + strings.Repeat("a", 40), "refs/heads/main", false},
		{"main", "", true},
	} {
		ref, err := ParseRef(tc.ref)
		require.NoError(t, err)
		assert.Equal(t, tc.want, ref.Moves(tc.pushed), "%s <- push to %s", tc.ref, tc.pushed)
	}
}
