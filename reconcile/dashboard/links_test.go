package dashboard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommitURL(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct{ repo, want string }{
		{"https://github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://github.com/acme/ml-config", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://x-access-token:s3cr3t@github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"git@github.com:acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"ssh://git@github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://gitlab.com/group/sub/repo.git", "https://gitlab.com/group/sub/repo/-/commit/" + sha},
		{"https://git.internal.example/acme/ml-config.git", ""}, // a host it does not know
		{"/srv/git/config", ""},
		{"file:///srv/git/config", ""},
		{"http://127.0.0.1:4321/config.git", ""},
		{"https://github.com/acme", ""},              // no repository
		{"https://github.com/acme/../evil/repo", ""}, // no climbing
		{"javascript://github.com/acme/repo", ""},    // only Git's schemes
		{"https://github.com/acme/repo?x=<script>", "https://github.com/acme/repo/commit/" + sha}, // the query is dropped
	} {
		assert.Equal(t, tc.want, CommitURL(tc.repo, sha), tc.repo)
	}
	assert.Empty(t, CommitURL("https://github.com/acme/repo", "main"), "a branch name is no commit")
	assert.Empty(t, CommitURL("https://github.com/acme/repo", "<script>"), "nor is markup")
}

// FuzzCommitURL: whatever a record says its repo URL is, a link is none
// or an https page of a known host, with nothing a page could misread.
func FuzzCommitURL(f *testing.F) {
	for _, s := range []string{"https://github.com/acme/r.git", "git@gitlab.com:g/s/r.git", "ssh://git@codeberg.org/a/b",
		"https://github.com/a/../b", "javascript:alert(1)", "https://github.com/a/b?<script>", "git@github.com:a/b\"c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, repo string) {
		got := CommitURL(repo, "0123456789abcdef0123456789abcdef01234567")
		if got == "" {
			return
		}
		known := false
		for host := range forges {
			known = known || strings.HasPrefix(got, "https://"+host+"/")
		}
		if !known || strings.ContainsAny(got, "\"'<> \\?#\n\r\t") || strings.Contains(got, "..") || strings.Contains(got, "@") {
			t.Fatalf("CommitURL(%q) = %q", repo, got)
		}
	})
}
