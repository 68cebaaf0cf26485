package githubapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testToken = "secret-token"
	testRepo  = "acme/platform"
)

// call sends one request with the token (unless auth is "") and decodes
// the answer.
func call(t *testing.T, method, url, auth, body string) (*http.Response, any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp, out
}

func newServer(t *testing.T) *Server {
	s := New(t, testToken)
	s.AddPullRequest(testRepo, PullRequest{Number: 1,
		Base: Branch{Ref: "main", SHA: strings.Repeat("a", 40), Repo: testRepo, CloneURL: "https://github.com/acme/platform.git"},
		Head: Branch{Ref: "feature", SHA: strings.Repeat("b", 40), Repo: "someone/platform", CloneURL: "https://github.com/someone/platform.git"}})
	return s
}

func TestGitHubAPIAuthentication(t *testing.T) {
	s := newServer(t)
	url := s.URL + "/repos/acme/platform/pulls/1"
	for auth, status := range map[string]int{
		"":                    http.StatusUnauthorized,
		"Bearer wrong":        http.StatusUnauthorized,
		"Basic " + testToken:  http.StatusUnauthorized,
		"Bearer " + testToken: http.StatusOK,
		"token " + testToken:  http.StatusOK,
	} {
		resp, body := call(t, http.MethodGet, url, auth, "")
		assert.Equal(t, status, resp.StatusCode, "%q: %v", auth, body)
	}
	resp, body := call(t, http.MethodGet, url, "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Requires authentication", body.(map[string]any)["message"])
	assert.Len(t, s.Requests(), 6, "refused requests are recorded too")
}

func TestGitHubAPIGetPullRequest(t *testing.T) {
	s := newServer(t)
	for _, base := range []string{s.URL, s.EnterpriseURL()} {
		resp, body := call(t, http.MethodGet, base+"/repos/acme/platform/pulls/1", "Bearer "+testToken, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		pr := body.(map[string]any)
		assert.Equal(t, 1.0, pr["number"])
		assert.Equal(t, "open", pr["state"])
		assert.Equal(t, false, pr["merged"])
		head := pr["head"].(map[string]any)
		assert.Equal(t, strings.Repeat("b", 40), head["sha"])
		assert.Equal(t, "someone/platform", head["repo"].(map[string]any)["full_name"])
		assert.Equal(t, "https://github.com/acme/platform.git", pr["base"].(map[string]any)["repo"].(map[string]any)["clone_url"])
	}
	assert.Equal(t, "/repos/acme/platform/pulls/1", s.Requests()[1].Path, "the /api/v3 prefix is left out")

	resp, _ := call(t, http.MethodGet, s.URL+"/repos/acme/platform/pulls/2", "Bearer "+testToken, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = call(t, http.MethodGet, s.URL+"/repos/acme/other/pulls/1", "Bearer "+testToken, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestGitHubAPICommentsArePaginated(t *testing.T) {
	s := newServer(t)
	for range 5 {
		s.AddComment(testRepo, 1, "reviewer", "lgtm")
	}
	url := s.URL + "/repos/acme/platform/issues/1/comments?per_page=2"
	resp, body := call(t, http.MethodGet, url, "Bearer "+testToken, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, body, 2)
	link := resp.Header.Get("Link")
	assert.Contains(t, link, `page=2&per_page=2>; rel="next"`)
	assert.Contains(t, link, `page=3&per_page=2>; rel="last"`)

	resp, body = call(t, http.MethodGet, url+"&page=3", "Bearer "+testToken, "")
	assert.Len(t, body, 1)
	assert.NotContains(t, resp.Header.Get("Link"), `rel="next"`)
	assert.Contains(t, resp.Header.Get("Link"), `rel="prev"`)
}

func TestGitHubAPICreateAndUpdateComment(t *testing.T) {
	s := newServer(t)
	url := s.URL + "/repos/acme/platform/issues/1/comments"
	resp, body := call(t, http.MethodPost, url, "Bearer "+testToken, `{"body":"hello"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	c := body.(map[string]any)
	assert.Equal(t, DefaultLogin, c["user"].(map[string]any)["login"])
	id := int64(c["id"].(float64))

	resp, _ = call(t, http.MethodPatch, s.URL+"/repos/acme/platform/issues/comments/"+jsonNumber(id), "Bearer "+testToken, `{"body":"edited"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "edited", s.Comments(testRepo, 1)[0].Body)

	long, _ := json.Marshal(map[string]string{"body": strings.Repeat("x", 65537)})
	resp, body = call(t, http.MethodPost, url, "Bearer "+testToken, string(long))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, body.(map[string]any)["errors"].([]any)[0].(map[string]any)["message"], "body is too long (maximum is 65536 characters)")

	resp, _ = call(t, http.MethodPatch, s.URL+"/repos/acme/platform/issues/comments/999999", "Bearer "+testToken, `{"body":"x"}`)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Len(t, s.Comments(testRepo, 1), 1)
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestGitHubAPICreateStatus(t *testing.T) {
	s := newServer(t)
	sha := strings.Repeat("b", 40)
	url := s.URL + "/repos/acme/platform/statuses/" + sha
	resp, _ := call(t, http.MethodPost, url, "Bearer "+testToken, `{"state":"success","context":"trellis/plan","description":"ok"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, []Status{{ID: s.Statuses(testRepo, sha)[0].ID, State: "success", Description: "ok", Context: "trellis/plan"}}, s.Statuses(testRepo, sha))

	for _, bad := range []string{
		`{"state":"done","context":"c"}`,
		`{"state":"success","description":"` + strings.Repeat("d", 141) + `"}`,
	} {
		resp, _ := call(t, http.MethodPost, url, "Bearer "+testToken, bad)
		assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, bad)
	}
	resp, _ = call(t, http.MethodPost, s.URL+"/repos/acme/platform/statuses/main", "Bearer "+testToken, `{"state":"success"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
}

func TestGitHubAPIListPullRequests(t *testing.T) {
	s := newServer(t)
	s.AddPullRequest(testRepo, PullRequest{Number: 2, State: "closed", Merged: true, MergeCommitSHA: strings.Repeat("c", 40)})
	count := func(query string) int {
		_, body := call(t, http.MethodGet, s.URL+"/repos/acme/platform/pulls"+query, "Bearer "+testToken, "")
		return len(body.([]any))
	}
	assert.Equal(t, 1, count(""))
	assert.Equal(t, 1, count("?state=closed"))
	assert.Equal(t, 2, count("?state=all"))

	_, body := call(t, http.MethodGet, s.URL+"/repos/acme/platform/commits/"+strings.Repeat("c", 40)+"/pulls", "Bearer "+testToken, "")
	require.Len(t, body, 1)
	assert.Equal(t, 2.0, body.([]any)[0].(map[string]any)["number"])
	assert.NotNil(t, body.([]any)[0].(map[string]any)["merged_at"])
}

func TestGitHubAPISecondaryRateLimit(t *testing.T) {
	s := newServer(t)
	s.SecondaryRateLimit(1, http.MethodPost, "/repos/acme/platform/issues/1/comments", http.StatusForbidden, "1")
	url := s.URL + "/repos/acme/platform/issues/1/comments"

	resp, _ := call(t, http.MethodGet, url, "Bearer "+testToken, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another method is not limited")
	resp, body := call(t, http.MethodPost, url, "Bearer "+testToken, `{"body":"x"}`)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, SecondaryRateLimitMessage, body.(map[string]any)["message"])
	assert.Contains(t, body.(map[string]any)["documentation_url"], "secondary-rate-limits")
	resp, _ = call(t, http.MethodPost, url, "Bearer "+testToken, `{"body":"x"}`)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "only the next one")

	var statuses []int
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{200, 403, 201}, statuses)
	assert.Equal(t, `{"body":"x"}`, s.Requests()[1].Body)
}

func TestGitHubAPIGitRepo(t *testing.T) {
	g := NewGitRepo(t, map[string]string{"a.yaml": "a\n"})
	main := g.Head("main")
	head := g.Commit("feature", map[string]string{"b.yaml": "b\n"})
	pr := g.PullRequest(testRepo, 4, "feature")
	assert.Equal(t, main, pr.Base.SHA)
	assert.Equal(t, head, pr.Head.SHA)
	assert.NotEqual(t, main, head)
	assert.Equal(t, main, g.Head("main"), "main did not move")

	again := NewGitRepo(t, map[string]string{"a.yaml": "a\n"})
	assert.Equal(t, main, again.Head("main"), "the same files give the same commit")
}

func TestGitHubAPIReadOnlyToken(t *testing.T) {
	s := newServer(t)
	s.SetReadOnly(true)
	resp, _ := call(t, http.MethodGet, s.URL+"/repos/acme/platform/pulls/1", "Bearer "+testToken, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := call(t, http.MethodPost, s.URL+"/repos/acme/platform/issues/1/comments", "Bearer "+testToken, `{"body":"x"}`)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "Resource not accessible by integration", body.(map[string]any)["message"])
	assert.Empty(t, s.Comments(testRepo, 1))
}
