// Package githubapi is a GitHub REST API for tests: an HTTP server on
// 127.0.0.1 that implements, as GitHub documents them, the endpoints
// trellis calls (pull requests, issue comments, commit statuses), holds
// its state in memory, and records every request for assertions. It also
// hosts config repos as Git repositories with GitHub's pull-request refs
// (see GitRepo).
//
// The API is served at the root, as api.github.com does, and under
// /api/v3, as GitHub Enterprise Server does; recorded paths leave the
// prefix out. Every request needs `Authorization: Bearer <token>` (or
// `token <token>`). The server can be told to answer the next requests
// with a secondary rate limit.
package githubapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// enterprisePrefix is where GitHub Enterprise Server serves its REST API.
const enterprisePrefix = "/api/v3"

// DefaultLogin is the login of the user the token belongs to: the author
// of the comments it creates.
const DefaultLogin = "github-actions[bot]"

// SecondaryRateLimitMessage is GitHub's message for a secondary rate
// limit.
const SecondaryRateLimitMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."

// secondaryRateLimitDocs is the documentation_url of a secondary rate
// limit, which clients (go-github among them) use to recognise it.
const secondaryRateLimitDocs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the URL path, without the /api/v3 prefix.
	Path  string
	Query string
	Body  string
	// Status is the status code of the answer.
	Status int
}

// String is "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// Branch is one side of a pull request.
type Branch struct {
	Ref string
	SHA string
	// Repo is the full name (owner/name) of the repository the branch is
	// in: the base's for a pull request within a repository, a fork's
	// otherwise.
	Repo     string
	CloneURL string
}

// PullRequest is a pull request the server holds.
type PullRequest struct {
	Number int
	Title  string
	// State is "open" (the default) or "closed".
	State          string
	Merged         bool
	MergeCommitSHA string
	Base, Head     Branch
}

// Comment is an issue comment.
type Comment struct {
	ID        int64
	Body      string
	User      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Status is a commit status.
type Status struct {
	ID          int64
	State       string
	Description string
	Context     string
	TargetURL   string
}

// repoState is what the server holds for one repository.
type repoState struct {
	pulls    map[int]*PullRequest
	comments map[int][]*Comment // by issue number
	statuses map[string][]Status
}

// rateLimit answers the next requests that match with a secondary rate
// limit.
type rateLimit struct {
	remaining    int
	method, path string // "" matches any
	status       int
	retryAfter   string
}

// Server is a GitHub REST API on 127.0.0.1.
type Server struct {
	// URL is the API's base URL (http://127.0.0.1:port).
	URL string
	// Login is the user comments are created as (DefaultLogin).
	Login string

	token string
	srv   *httptest.Server
	mux   *http.ServeMux

	mu        sync.Mutex
	repos     map[string]*repoState
	nextID    int64
	requests  []Request
	rateLimit []*rateLimit
	readOnly  bool
}

// New starts a server that accepts token; it stops when the test ends.
func New(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Login: DefaultLogin, token: token, repos: map[string]*repoState{}, nextID: 1000}
	s.mux = s.routes()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// EnterpriseURL is the base URL of the API as GitHub Enterprise Server
// serves it: URL + /api/v3.
func (s *Server) EnterpriseURL() string { return s.URL + enterprisePrefix }

// AddPullRequest adds (or replaces) a pull request of repo (owner/name).
func (s *Server) AddPullRequest(repo string, pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.State == "" {
		pr.State = "open"
	}
	s.repo(repo).pulls[pr.Number] = &pr
}

// SetHead moves the head of pull request n of repo to sha, as a push to
// its branch does.
func (s *Server) SetHead(repo string, n int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr := s.repo(repo).pulls[n]; pr != nil {
		pr.Head.SHA = sha
	}
}

// AddComment adds a comment on issue n of repo, as user, and returns its
// id.
func (s *Server) AddComment(repo string, n int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addComment(s.repo(repo), n, user, body).ID
}

// Comments returns copies of the comments on issue n of repo, oldest
// first.
func (s *Server) Comments(repo string, n int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.repo(repo).comments[n] {
		out = append(out, *c)
	}
	return out
}

// Statuses returns the statuses created on sha in repo, oldest first.
func (s *Server) Statuses(repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.repo(repo).statuses[sha])
}

// LatestStatuses returns the newest status of each context on sha, as
// GitHub's combined status does.
func (s *Server) LatestStatuses(repo, sha string) map[string]Status {
	out := map[string]Status{}
	for _, st := range s.Statuses(repo, sha) {
		out[st.Context] = st
	}
	return out
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// SecondaryRateLimit answers the next k requests whose method and path
// match (an empty method or path matches any) with a secondary rate
// limit: status (403 or 429), GitHub's message, and Retry-After:
// retryAfter (none when empty).
func (s *Server) SecondaryRateLimit(k int, method, path string, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = append(s.rateLimit, &rateLimit{remaining: k, method: method, path: path, status: status, retryAfter: retryAfter})
}

// SetReadOnly makes the token read-only, as GitHub Actions' token is for
// a pull request from a fork: every write is refused with 403.
func (s *Server) SetReadOnly(readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly = readOnly
}

// repo returns the state of repo, creating it. The caller holds mu.
func (s *Server) repo(name string) *repoState {
	r := s.repos[name]
	if r == nil {
		r = &repoState{pulls: map[int]*PullRequest{}, comments: map[int][]*Comment{}, statuses: map[string][]Status{}}
		s.repos[name] = r
	}
	return r
}

// addComment adds a comment; the caller holds mu.
func (s *Server) addComment(r *repoState, n int, user, body string) *Comment {
	s.nextID++
	now := time.Now().UTC().Truncate(time.Second)
	c := &Comment{ID: s.nextID, Body: body, User: user, CreatedAt: now, UpdatedAt: now}
	r.comments[n] = append(r.comments[n], c)
	return c
}

// serve records the request, checks its token, applies a pending rate
// limit, and hands it to the routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if p, ok := strings.CutPrefix(r.URL.Path, enterprisePrefix); ok && strings.HasPrefix(p, "/") {
		r.URL.Path = p
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Status: rec.status})
	}()
	rateHeaders(rec.Header())
	if msg := s.authError(r); msg != "" {
		writeJSON(rec, http.StatusUnauthorized, errorBody(msg, "https://docs.github.com/rest"))
		return
	}
	if s.isReadOnly() && r.Method != http.MethodGet {
		writeJSON(rec, http.StatusForbidden, errorBody("Resource not accessible by integration", "https://docs.github.com/rest"))
		return
	}
	if rl := s.takeRateLimit(r); rl != nil {
		if rl.retryAfter != "" {
			rec.Header().Set("Retry-After", rl.retryAfter)
		}
		writeJSON(rec, rl.status, errorBody(SecondaryRateLimitMessage, secondaryRateLimitDocs))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// authError is GitHub's message for a request without the token, or "".
func (s *Server) authError(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "Requires authentication"
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if (strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) && token == s.token {
		return ""
	}
	return "Bad credentials"
}

func (s *Server) isReadOnly() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readOnly
}

// takeRateLimit returns the rate limit that answers r, counting it.
func (s *Server) takeRateLimit(r *http.Request) *rateLimit {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rl := range s.rateLimit {
		if rl.remaining > 0 && (rl.method == "" || rl.method == r.Method) && (rl.path == "" || rl.path == r.URL.Path) {
			rl.remaining--
			return rl
		}
	}
	return nil
}

// rateHeaders are the primary rate limit headers GitHub sends with every
// answer: plenty left.
func rateHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
