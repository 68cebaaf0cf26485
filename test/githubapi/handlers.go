package githubapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GitHub's limits on what the endpoints accept.
const (
	maxCommentChars     = 65536
	maxDescriptionChars = 140
	defaultPerPage      = 30
	maxPerPage          = 100
)

// routes are the endpoints, as GitHub's REST reference names them.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.listComments)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.createComment)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", s.updateComment)
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{sha}/pulls", s.pullsOfCommit)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { notFound(w) })
	return mux
}

// repoName is owner/repo of a request.
func repoName(r *http.Request) string { return r.PathValue("owner") + "/" + r.PathValue("repo") }

// knownRepo returns the state of the request's repository, or nil when
// the server holds nothing of it. The caller holds mu.
func (s *Server) knownRepo(r *http.Request) *repoState {
	return s.repos[repoName(r)]
}

// getPull is "Get a pull request".
func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.knownRepo(r)
	n, err := strconv.Atoi(r.PathValue("number"))
	if rs == nil || err != nil || rs.pulls[n] == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.pullJSON(repoName(r), rs.pulls[n], true))
}

// listPulls is "List pull requests": state open (default), closed or
// all; newest first; paginated.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.knownRepo(r)
	if rs == nil {
		notFound(w)
		return
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	var prs []*PullRequest
	for _, pr := range rs.pulls {
		if state == "all" || pr.State == state {
			prs = append(prs, pr)
		}
	}
	slices.SortFunc(prs, func(a, b *PullRequest) int { return b.Number - a.Number })
	out := []any{}
	for _, pr := range paginate(w, r, prs) {
		out = append(out, s.pullJSON(repoName(r), pr, false))
	}
	writeJSON(w, http.StatusOK, out)
}

// pullsOfCommit is "List pull requests associated with a commit": those
// whose head is sha, or that were merged as sha.
func (s *Server) pullsOfCommit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.knownRepo(r)
	if rs == nil {
		notFound(w)
		return
	}
	sha := r.PathValue("sha")
	var prs []*PullRequest
	for _, pr := range rs.pulls {
		if pr.Head.SHA == sha || (pr.MergeCommitSHA != "" && pr.MergeCommitSHA == sha) {
			prs = append(prs, pr)
		}
	}
	slices.SortFunc(prs, func(a, b *PullRequest) int { return b.Number - a.Number })
	out := []any{}
	for _, pr := range paginate(w, r, prs) {
		out = append(out, s.pullJSON(repoName(r), pr, false))
	}
	writeJSON(w, http.StatusOK, out)
}

// listComments is "List issue comments": oldest first, paginated.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, n, ok := s.issue(w, r)
	if !ok {
		return
	}
	out := []any{}
	for _, c := range paginate(w, r, rs.comments[n]) {
		out = append(out, s.commentJSON(repoName(r), n, c))
	}
	writeJSON(w, http.StatusOK, out)
}

// createComment is "Create an issue comment".
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, n, ok := s.issue(w, r)
	if !ok {
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	c := s.addComment(rs, n, s.Login, body)
	w.Header().Set("Location", s.URL+"/repos/"+repoName(r)+"/issues/comments/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, s.commentJSON(repoName(r), n, c))
}

// updateComment is "Update an issue comment".
func (s *Server) updateComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.knownRepo(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if rs == nil || err != nil {
		notFound(w)
		return
	}
	for n, cs := range rs.comments {
		for _, c := range cs {
			if c.ID != id {
				continue
			}
			body, ok := commentBody(w, r)
			if !ok {
				return
			}
			c.Body, c.UpdatedAt = body, time.Now().UTC().Truncate(time.Second)
			writeJSON(w, http.StatusOK, s.commentJSON(repoName(r), n, c))
			return
		}
	}
	notFound(w)
}

// issue finds the issue (a pull request) of a comments request.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) (*repoState, int, bool) {
	rs := s.knownRepo(r)
	n, err := strconv.Atoi(r.PathValue("number"))
	if rs == nil || err != nil || rs.pulls[n] == nil {
		notFound(w)
		return nil, 0, false
	}
	return rs, n, true
}

// commentBody decodes {"body": ...}, which must be non-empty and at most
// 65,536 characters; it answers 422 otherwise.
func commentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("Problems parsing JSON", "https://docs.github.com/rest/issues/comments"))
		return "", false
	}
	switch {
	case in.Body == nil || *in.Body == "":
		validationFailed(w, "IssueComment", "body", "missing_field", "body is missing")
	case utf8.RuneCountInString(*in.Body) > maxCommentChars:
		validationFailed(w, "IssueComment", "body", "custom", fmt.Sprintf("body is too long (maximum is %d characters)", maxCommentChars))
	default:
		return *in.Body, true
	}
	return "", false
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// createStatus is "Create a commit status".
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.knownRepo(r)
	if rs == nil {
		notFound(w)
		return
	}
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("Problems parsing JSON", "https://docs.github.com/rest/commits/statuses"))
		return
	}
	sha := r.PathValue("sha")
	switch {
	case !shaPattern.MatchString(sha):
		validationFailed(w, "Status", "sha", "custom", "No commit found for SHA: "+sha)
		return
	case !slices.Contains([]string{"error", "failure", "pending", "success"}, in.State):
		validationFailed(w, "Status", "state", "custom", "state is not included in the list")
		return
	case utf8.RuneCountInString(in.Description) > maxDescriptionChars:
		validationFailed(w, "Status", "description", "custom", fmt.Sprintf("description is too long (maximum is %d characters)", maxDescriptionChars))
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	s.nextID++
	st := Status{ID: s.nextID, State: in.State, Description: in.Description, Context: in.Context, TargetURL: in.TargetURL}
	rs.statuses[sha] = append(rs.statuses[sha], st)
	now := time.Now().UTC().Format(time.RFC3339)
	writeJSON(w, http.StatusCreated, map[string]any{
		"url": s.URL + "/repos/" + repoName(r) + "/statuses/" + sha, "id": st.ID,
		"state": st.State, "description": st.Description, "target_url": st.TargetURL,
		"context": st.Context, "created_at": now, "updated_at": now,
	})
}

// paginate returns the page of items that the request's page and
// per_page ask for, and sets GitHub's Link header.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = defaultPerPage
	}
	perPage = min(perPage, maxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max(1, (len(items)+perPage-1)/perPage)
	link := func(p int, rel string) string {
		u := *r.URL
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = v.Encode()
		return fmt.Sprintf(`<%s%s>; rel="%s"`, requestBase(r), u.RequestURI(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(page-1, "prev"), link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := min((page-1)*perPage, len(items))
	return items[start:min(start+perPage, len(items))]
}

// requestBase is the scheme and host the request reached.
func requestBase(r *http.Request) string {
	return (&url.URL{Scheme: "http", Host: r.Host}).String()
}

// pullJSON is a pull request as GitHub's API shows it; the list
// endpoints leave out merged (they show merged_at).
func (s *Server) pullJSON(repo string, pr *PullRequest, full bool) map[string]any {
	owner, _, _ := strings.Cut(repo, "/")
	out := map[string]any{
		"url":              s.URL + "/repos/" + repo + "/pulls/" + strconv.Itoa(pr.Number),
		"id":               int64(pr.Number) + 5000,
		"number":           pr.Number,
		"state":            pr.State,
		"title":            pr.Title,
		"html_url":         "https://github.com/" + repo + "/pull/" + strconv.Itoa(pr.Number),
		"user":             map[string]any{"login": owner},
		"merge_commit_sha": nullable(pr.MergeCommitSHA),
		"merged_at":        nil,
		"head":             branchJSON(pr.Head),
		"base":             branchJSON(pr.Base),
	}
	if pr.Merged {
		out["merged_at"] = "2024-01-01T00:00:00Z"
	}
	if full {
		out["merged"] = pr.Merged
	}
	return out
}

func branchJSON(b Branch) map[string]any {
	owner, name, _ := strings.Cut(b.Repo, "/")
	return map[string]any{
		"label": owner + ":" + b.Ref,
		"ref":   b.Ref,
		"sha":   b.SHA,
		"user":  map[string]any{"login": owner},
		"repo": map[string]any{
			"name":      name,
			"full_name": b.Repo,
			"owner":     map[string]any{"login": owner},
			"html_url":  "https://github.com/" + b.Repo,
			"clone_url": b.CloneURL,
		},
	}
}

// commentJSON is an issue comment as GitHub's API shows it.
func (s *Server) commentJSON(repo string, n int, c *Comment) map[string]any {
	id := strconv.FormatInt(c.ID, 10)
	return map[string]any{
		"id":         c.ID,
		"node_id":    "IC_" + id,
		"url":        s.URL + "/repos/" + repo + "/issues/comments/" + id,
		"html_url":   "https://github.com/" + repo + "/pull/" + strconv.Itoa(n) + "#issuecomment-" + id,
		"issue_url":  s.URL + "/repos/" + repo + "/issues/" + strconv.Itoa(n),
		"body":       c.Body,
		"user":       map[string]any{"login": c.User},
		"created_at": c.CreatedAt.Format(time.RFC3339),
		"updated_at": c.UpdatedAt.Format(time.RFC3339),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func errorBody(message, docs string) map[string]any {
	return map[string]any{"message": message, "documentation_url": docs}
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, errorBody("Not Found", "https://docs.github.com/rest"))
}

// validationFailed is GitHub's 422 answer.
func validationFailed(w http.ResponseWriter, resource, field, code, message string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []any{map[string]any{"resource": resource, "field": field, "code": code, "message": message}},
		"documentation_url": "https://docs.github.com/rest",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
