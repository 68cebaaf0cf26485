package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"
)

// GitHubOptions say which GitHub API to talk to, as whom, about which
// repository.
type GitHubOptions struct {
	// APIURL is the REST API's base URL: empty or https://api.github.com
	// for github.com, https://HOST/api/v3 for GitHub Enterprise Server.
	APIURL string
	// Token authenticates every request (as "Authorization: Bearer").
	// It is never logged, nor part of an error.
	Token string
	// Repo is the repository, OWNER/NAME.
	Repo string
	// Transport carries the requests, under the rate-limit retries
	// (default http.DefaultTransport).
	Transport http.RoundTripper
	// Retry bounds the retries of rate-limited requests.
	Retry RetryPolicy
}

// GitHub is the part of GitHub's REST API that pull-request checks use,
// for one repository.
type GitHub struct {
	client      *github.Client
	owner, name string
}

// NewGitHub returns a client of o.Repo on the API at o.APIURL.
func NewGitHub(o GitHubOptions) (*GitHub, error) {
	owner, name, ok := strings.Cut(o.Repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("github repository %q: want OWNER/NAME", o.Repo)
	}
	if o.Token == "" {
		return nil, errors.New("github: no token")
	}
	hc := &http.Client{Transport: newRetryTransport(o.Transport, o.Retry)}
	client := github.NewClient(hc).WithAuthToken(o.Token)
	if o.APIURL != "" {
		u, err := url.Parse(o.APIURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("github API URL %q: want http(s)://HOST[/api/v3]", o.APIURL)
		}
		if u.Host != "api.github.com" {
			if client, err = client.WithEnterpriseURLs(o.APIURL, o.APIURL); err != nil {
				return nil, fmt.Errorf("github API URL %q: %w", o.APIURL, err)
			}
		}
	}
	return &GitHub{client: client, owner: owner, name: name}, nil
}

// Repo is the repository's OWNER/NAME.
func (g *GitHub) Repo() string { return g.owner + "/" + g.name }

// PullRequest is what a check needs to know of a pull request.
type PullRequest struct {
	Number  int    `json:"number"`
	Title   string `json:"title,omitempty"`
	State   string `json:"state"`
	Merged  bool   `json:"merged,omitempty"`
	HTMLURL string `json:"htmlURL,omitempty"`
	Base    Branch `json:"base"`
	Head    Branch `json:"head"`
}

// Branch is one side of a pull request.
type Branch struct {
	Ref string `json:"ref"`
	SHA string `json:"sha"`
	// Repo is the full name of the branch's repository; empty when a
	// fork was deleted.
	Repo     string `json:"repo"`
	CloneURL string `json:"cloneURL,omitempty"`
}

// Fork reports whether the head comes from another repository than the
// base: such a pull request is checked without cluster credentials.
func (p *PullRequest) Fork() bool { return p.Head.Repo != p.Base.Repo }

func pullRequestOf(pr *github.PullRequest) PullRequest {
	branch := func(b *github.PullRequestBranch) Branch {
		return Branch{Ref: b.GetRef(), SHA: b.GetSHA(), Repo: b.GetRepo().GetFullName(), CloneURL: b.GetRepo().GetCloneURL()}
	}
	return PullRequest{
		Number: pr.GetNumber(), Title: pr.GetTitle(), State: pr.GetState(),
		Merged: pr.GetMerged() || pr.MergedAt != nil, HTMLURL: pr.GetHTMLURL(),
		Base: branch(pr.GetBase()), Head: branch(pr.GetHead()),
	}
}

// PullRequest gets pull request n.
func (g *GitHub) PullRequest(ctx context.Context, n int) (*PullRequest, error) {
	pr, _, err := g.client.PullRequests.Get(ctx, g.owner, g.name, n)
	if err != nil {
		return nil, fmt.Errorf("%s#%d: get pull request: %w", g.Repo(), n, err)
	}
	out := pullRequestOf(pr)
	return &out, nil
}

// OpenPullRequests lists the open pull requests, newest first.
func (g *GitHub) OpenPullRequests(ctx context.Context) ([]PullRequest, error) {
	opts := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}}
	var out []PullRequest
	for {
		prs, resp, err := g.client.PullRequests.List(ctx, g.owner, g.name, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: list pull requests: %w", g.Repo(), err)
		}
		for _, pr := range prs {
			out = append(out, pullRequestOf(pr))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// PullRequestsOfCommit lists the pull requests whose head is sha or that
// were merged as sha: where to post a merged revision's lineage.
func (g *GitHub) PullRequestsOfCommit(ctx context.Context, sha string) ([]PullRequest, error) {
	opts := &github.ListOptions{PerPage: 100}
	var out []PullRequest
	for {
		prs, resp, err := g.client.PullRequests.ListPullRequestsWithCommit(ctx, g.owner, g.name, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: list pull requests of the commit: %w", g.Repo(), sha, err)
		}
		for _, pr := range prs {
			out = append(out, pullRequestOf(pr))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Comment is the sticky comment as posted.
type Comment struct {
	ID      int64  `json:"id"`
	HTMLURL string `json:"htmlURL"`
	// Action is "created", "updated", or "unchanged" when the comment
	// already said the same.
	Action string `json:"action"`
}

// UpsertComment makes body the sticky comment of pull request n: the
// first comment that starts with marker is updated in place, or a new
// comment is created when there is none. Comments are read page by page.
func (g *GitHub) UpsertComment(ctx context.Context, n int, marker, body string) (*Comment, error) {
	old, err := g.findComment(ctx, n, marker)
	if err != nil {
		return nil, err
	}
	return g.putComment(ctx, n, old, body)
}

// putComment makes body the text of old, a comment of pull request n
// found by findComment, or of a new comment when old is nil.
func (g *GitHub) putComment(ctx context.Context, n int, old *github.IssueComment, body string) (*Comment, error) {
	if old == nil {
		c, _, err := g.client.Issues.CreateComment(ctx, g.owner, g.name, n, &github.IssueComment{Body: &body})
		if err != nil {
			return nil, fmt.Errorf("%s#%d: create comment: %w", g.Repo(), n, err)
		}
		return &Comment{ID: c.GetID(), HTMLURL: c.GetHTMLURL(), Action: "created"}, nil
	}
	if old.GetBody() == body {
		return &Comment{ID: old.GetID(), HTMLURL: old.GetHTMLURL(), Action: "unchanged"}, nil
	}
	c, _, err := g.client.Issues.EditComment(ctx, g.owner, g.name, old.GetID(), &github.IssueComment{Body: &body})
	if err != nil {
		return nil, fmt.Errorf("%s#%d: update comment %d: %w", g.Repo(), n, old.GetID(), err)
	}
	return &Comment{ID: c.GetID(), HTMLURL: c.GetHTMLURL(), Action: "updated"}, nil
}

// findComment returns the oldest comment of pull request n that starts
// with marker, or nil.
func (g *GitHub) findComment(ctx context.Context, n int, marker string) (*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		comments, resp, err := g.client.Issues.ListComments(ctx, g.owner, g.name, n, opts)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: list comments: %w", g.Repo(), n, err)
		}
		for _, c := range comments {
			if strings.HasPrefix(strings.TrimSpace(c.GetBody()), marker) {
				return c, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// Commit status states.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

// Status is a commit status.
type Status struct {
	// Context names the check: trellis/validate or trellis/plan.
	Context     string `json:"context"`
	State       string `json:"state"`
	Description string `json:"description"`
	TargetURL   string `json:"targetURL,omitempty"`
}

// SetStatus sets status s on commit sha; a description longer than
// GitHub's 140 characters is shortened.
func (g *GitHub) SetStatus(ctx context.Context, sha string, s Status) error {
	desc := shorten(s.Description, maxDescription)
	st := &github.RepoStatus{State: &s.State, Description: &desc, Context: &s.Context}
	if s.TargetURL != "" {
		st.TargetURL = &s.TargetURL
	}
	if _, _, err := g.client.Repositories.CreateStatus(ctx, g.owner, g.name, sha, st); err != nil {
		return fmt.Errorf("%s@%s: set status %s: %w", g.Repo(), sha, s.Context, err)
	}
	return nil
}

// shorten cuts s to at most n characters, ending with an ellipsis when
// it cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
