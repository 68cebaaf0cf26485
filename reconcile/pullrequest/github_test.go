package pullrequest

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/githubapi"
)

// newGitHubAPI is a GitHub API holding open pull requests 1..n of
// testRepo, and a client of it at apiURL(server).
func newGitHubAPI(t *testing.T, n int, apiURL func(*githubapi.Server) string) (*githubapi.Server, *GitHub) {
	t.Helper()
	api := githubapi.New(t, testToken)
	for i := 1; i <= n; i++ {
		sha := strings.Repeat(string(rune('a'+i%6)), 40)
		api.AddPullRequest(testRepo, githubapi.PullRequest{Number: i,
			Base: githubapi.Branch{Ref: "main", SHA: strings.Repeat("0", 40), Repo: testRepo},
			Head: githubapi.Branch{Ref: "b", SHA: sha, Repo: testRepo}})
	}
	gh, err := NewGitHub(GitHubOptions{APIURL: apiURL(api), Token: testToken, Repo: testRepo})
	require.NoError(t, err)
	return api, gh
}

func rootURL(s *githubapi.Server) string       { return s.URL }
func enterpriseURL(s *githubapi.Server) string { return s.EnterpriseURL() }

func TestNewGitHub(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts GitHubOptions
		err  string
	}{
		{"github.com", GitHubOptions{Repo: "acme/platform", Token: "t"}, ""},
		{"api.github.com", GitHubOptions{Repo: "acme/platform", Token: "t", APIURL: "https://api.github.com/"}, ""},
		{"enterprise", GitHubOptions{Repo: "acme/platform", Token: "t", APIURL: "https://ghe.example.com/api/v3"}, ""},
		{"no owner", GitHubOptions{Repo: "platform", Token: "t"}, `github repository "platform": want OWNER/NAME`},
		{"too many parts", GitHubOptions{Repo: "a/b/c", Token: "t"}, `github repository "a/b/c": want OWNER/NAME`},
		{"no token", GitHubOptions{Repo: "acme/platform"}, "github: no token"},
		{"bad URL", GitHubOptions{Repo: "acme/platform", Token: "t", APIURL: "ghe.example.com"}, `github API URL "ghe.example.com": want http(s)://HOST[/api/v3]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGitHub(tt.opts)
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.err)
		})
	}
}

func TestGitHubUpsertComment(t *testing.T) {
	for name, apiURL := range map[string]func(*githubapi.Server) string{"root": rootURL, "enterprise": enterpriseURL} {
		t.Run(name, func(t *testing.T) {
			api, gh := newGitHubAPI(t, 1, apiURL)
			ctx := context.Background()
			body := CommentMarker + "\nfirst"

			c, err := gh.UpsertComment(ctx, 1, CommentMarker, body)
			require.NoError(t, err)
			assert.Equal(t, "created", c.Action)
			assert.Contains(t, c.HTMLURL, "#issuecomment-")

			c2, err := gh.UpsertComment(ctx, 1, CommentMarker, body)
			require.NoError(t, err)
			assert.Equal(t, Comment{ID: c.ID, HTMLURL: c.HTMLURL, Action: "unchanged"}, *c2)

			c3, err := gh.UpsertComment(ctx, 1, CommentMarker, CommentMarker+"\nsecond")
			require.NoError(t, err)
			assert.Equal(t, "updated", c3.Action)
			assert.Equal(t, c.ID, c3.ID)

			comments := api.Comments(testRepo, 1)
			require.Len(t, comments, 1)
			assert.Equal(t, CommentMarker+"\nsecond", comments[0].Body)
		})
	}
}

func TestGitHubOpenPullRequests(t *testing.T) {
	api, gh := newGitHubAPI(t, 130, rootURL)
	api.AddPullRequest(testRepo, githubapi.PullRequest{Number: 131, State: "closed", Merged: true})

	prs, err := gh.OpenPullRequests(context.Background())
	require.NoError(t, err)
	require.Len(t, prs, 130, "two pages, the closed one left out")
	assert.Equal(t, 130, prs[0].Number, "newest first")
	assert.Equal(t, 1, prs[129].Number)
	assert.Equal(t, "open", prs[0].State)
	pages := 0
	for _, r := range api.Requests() {
		if r.Path == "/repos/"+testRepo+"/pulls" {
			pages++
		}
	}
	assert.Equal(t, 2, pages)
}

func TestGitHubPullRequestsOfCommit(t *testing.T) {
	api, gh := newGitHubAPI(t, 2, rootURL)
	merge := strings.Repeat("9", 40)
	api.AddPullRequest(testRepo, githubapi.PullRequest{Number: 3, State: "closed", Merged: true, MergeCommitSHA: merge,
		Base: githubapi.Branch{Ref: "main", Repo: testRepo}, Head: githubapi.Branch{Ref: "feature", SHA: strings.Repeat("8", 40), Repo: testRepo}})

	prs, err := gh.PullRequestsOfCommit(context.Background(), merge)
	require.NoError(t, err)
	require.Len(t, prs, 1)
	assert.Equal(t, 3, prs[0].Number)
	assert.True(t, prs[0].Merged, "merged_at says so on list endpoints")
}

func TestGitHubPullRequest(t *testing.T) {
	api, gh := newGitHubAPI(t, 0, rootURL)
	api.AddPullRequest(testRepo, githubapi.PullRequest{Number: 4, Title: "Add iris",
		Base: githubapi.Branch{Ref: "main", SHA: strings.Repeat("1", 40), Repo: testRepo, CloneURL: "https://github.com/acme/platform.git"},
		Head: githubapi.Branch{Ref: "iris", SHA: strings.Repeat("2", 40), Repo: "someone/platform", CloneURL: "https://github.com/someone/platform.git"}})

	pr, err := gh.PullRequest(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, PullRequest{Number: 4, Title: "Add iris", State: "open", HTMLURL: "https://github.com/acme/platform/pull/4",
		Base: Branch{Ref: "main", SHA: strings.Repeat("1", 40), Repo: testRepo, CloneURL: "https://github.com/acme/platform.git"},
		Head: Branch{Ref: "iris", SHA: strings.Repeat("2", 40), Repo: "someone/platform", CloneURL: "https://github.com/someone/platform.git"}}, *pr)
	assert.True(t, pr.Fork())
	pr.Head.Repo = testRepo
	assert.False(t, pr.Fork())
	pr.Head.Repo = ""
	assert.True(t, pr.Fork(), "a deleted fork is a fork")
}

func TestGitHubSetStatusShortensTheDescription(t *testing.T) {
	api, gh := newGitHubAPI(t, 1, rootURL)
	sha := strings.Repeat("c", 40)
	long := strings.Repeat("é", 200)
	require.NoError(t, gh.SetStatus(context.Background(), sha, Status{Context: ContextPlan, State: StateSuccess, Description: long, TargetURL: "https://example.com/c"}))

	st := api.LatestStatuses(testRepo, sha)[ContextPlan]
	assert.Equal(t, StateSuccess, st.State)
	assert.Equal(t, 140, utf8.RuneCountInString(st.Description))
	assert.True(t, strings.HasSuffix(st.Description, "…"))
	assert.Equal(t, "https://example.com/c", st.TargetURL)
}

func TestGitHubBadTokenIsNotInTheError(t *testing.T) {
	api := githubapi.New(t, testToken)
	const wrong = "ghp_wrongtoken0123456789abcdefghijklmnopq"
	gh, err := NewGitHub(GitHubOptions{APIURL: api.URL, Token: wrong, Repo: testRepo})
	require.NoError(t, err)
	_, err = gh.PullRequest(context.Background(), 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401 Bad credentials")
	assert.NotContains(t, err.Error(), wrong)
}
