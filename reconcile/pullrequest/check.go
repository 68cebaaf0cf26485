package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// Status contexts of a check.
const (
	ContextValidate = "trellis/validate"
	ContextPlan     = "trellis/plan"
)

// Dialer builds the client of a cluster for the live dry-run, giving up
// when ctx ends; single says
// whether the head declares one cluster (a --context may then name its
// context; it never stands for several).
type Dialer func(ctx context.Context, cluster render.Cluster, single bool) (*reconcile.Client, error)

// Options say which pull request to check and how.
type Options struct {
	// GitHub is the repository's API client.
	GitHub *GitHub
	// Number is the pull request's number.
	Number int
	// RepoURL is where to clone the config repo from: a URL or a local
	// directory; empty for the base repository's clone URL from the API.
	RepoURL string
	// GitToken, when set, is sent as basic auth (x-access-token) to
	// HTTP(S) repo URLs on the host of the API's clone URL, and nowhere
	// else.
	GitToken string
	// Dial, when set, reaches each cluster for a server-side dry-run of
	// the head. It is never called for a pull request from a fork.
	Dial Dialer
	// SourceID is the source whose inventory the live dry-run asks what
	// an apply would prune (reconcile.Options.SourceID).
	SourceID string
	// WorkDir is where the temporary checkout goes (default: the
	// system's temporary directory). It is removed when Check returns.
	WorkDir string
	// Path is the config repo's directory inside the Git repository
	// ("" or "." for its root), as the daemon's --path.
	Path string
	// Redact are patterns (Go regexps) hidden in the comment's free text
	// besides Secret values; nil means redact.DefaultPatterns.
	Redact []string
	// RenderBounds bound the render of each side (its time, and a child
	// process): a head past them is invalid, with a problem that says so.
	RenderBounds render.Bounds
	// SOPS are the keys that decrypt the repo's SOPS files. A pull
	// request from a fork never gets them (see ForkSOPSPolicy).
	SOPS render.SOPSKeys
}

// ForkSOPSPolicy is why a fork's pull request is checked without SOPS
// keys: both sides render with SOPS files not decrypted (their Secrets
// hold placeholders that change only when the ciphertext does), so the
// plan still shows which Secrets change, and the comment lists the files.
const ForkSOPSPolicy = "a pull request from a fork never gets the SOPS decryption keys"

// sopsKeys are the keys a check of pr may use.
func (o Options) sopsKeys(fork bool) render.SOPSKeys {
	if fork {
		return render.SOPSKeys{Withheld: ForkSOPSPolicy}
	}
	return o.SOPS
}

// ClusterResult is the check of one cluster.
type ClusterResult struct {
	reconcile.ClusterPlan
	// LiveRan says whether a live dry-run ran: its answers are in Live.
	LiveRan bool `json:"liveRan,omitempty"`
	// LiveError is why the live dry-run could not run or failed as a
	// whole (an unreachable cluster).
	LiveError string `json:"liveError,omitempty"`
}

// LiveRefused counts the objects the live dry-run refused.
func (c *ClusterResult) LiveRefused() int {
	n := 0
	for _, d := range c.Live {
		if d.Action == reconcile.Failed {
			n++
		}
	}
	return n
}

// Result is the check of one pull request: everything its comment and
// its statuses show.
type Result struct {
	Repo        string      `json:"repo"`
	PullRequest PullRequest `json:"pullRequest"`
	// Fork is set for a pull request from another repository: no live
	// dry-run, whatever Dial, and no SOPS keys.
	Fork bool `json:"fork,omitempty"`
	// SOPSWithheld are the head's SOPS files not decrypted (a fork's).
	SOPSWithheld []string `json:"sopsWithheld,omitempty"`
	// Problems are the head's invalid declarations; none when valid.
	Problems []render.Problem `json:"problems,omitempty"`
	// Declarations is the number of the head's declarations.
	Declarations int `json:"declarations"`
	// secrets are the values of the Secrets of a head that did not
	// render, for the redactor.
	secrets []string
	// BaseError says why the base could not be rendered; the plan then
	// compares the head with nothing.
	BaseError string `json:"baseError,omitempty"`
	// Clusters are the plans, by cluster name (none when invalid).
	Clusters []ClusterResult `json:"clusters,omitempty"`
	// LiveAsked is set when a live dry-run was asked (Dial set).
	LiveAsked bool `json:"liveAsked,omitempty"`
	// Body is the comment, Comment where it went.
	Body     string   `json:"-"`
	Comment  *Comment `json:"comment,omitempty"`
	Statuses []Status `json:"statuses,omitempty"`
	// Started and Finished time the check.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`

	// declarations are the head's, for lineage records.
	declarations *render.Result
}

// Valid reports whether the head's declarations are valid.
func (r *Result) Valid() bool { return len(r.Problems) == 0 }

// Check checks pull request o.Number: it fetches its base and head,
// validates the head, renders both, plans each cluster, dry-runs the
// head against each cluster when o.Dial is set and the pull request is
// not from a fork, then posts the sticky comment and the statuses
// trellis/validate and trellis/plan on the head commit.
//
// The error is for what kept the check from completing (the API, Git, a
// comment that could not be posted); an invalid head is a Result that
// is not Valid. After the pull request was read, a failure to fetch or
// render sets both statuses to error.
func Check(ctx context.Context, o Options) (*Result, error) {
	if o.GitHub == nil {
		return nil, errors.New("pull request check: no GitHub client")
	}
	pr, err := o.GitHub.PullRequest(ctx, o.Number)
	if err != nil {
		return nil, err
	}
	res := &Result{Repo: o.GitHub.Repo(), PullRequest: *pr, Fork: pr.Fork(), LiveAsked: o.Dial != nil, Started: time.Now().UTC()}
	defer func() { res.Finished = time.Now().UTC() }()
	for _, s := range []string{ContextValidate, ContextPlan} {
		// Progress only: a token that may not write statuses still gets
		// the check (and its comment printed by the caller).
		_ = o.GitHub.SetStatus(ctx, pr.Head.SHA, Status{Context: s, State: StatePending, Description: "checking " + short(pr.Head.SHA)})
	}
	if err := check(ctx, o, res); err != nil {
		return res, errors.Join(err, setErrorStatuses(ctx, o.GitHub, pr.Head.SHA, err))
	}
	return res, publish(ctx, o.GitHub, res)
}

// check fetches, renders, plans and dry-runs into res, and renders its
// comment.
func check(ctx context.Context, o Options, res *Result) error {
	pr := &res.PullRequest
	work, err := os.MkdirTemp(o.WorkDir, "trellis-pr-")
	if err != nil {
		return fmt.Errorf("pull request %d: work directory: %w", pr.Number, err)
	}
	defer os.RemoveAll(work)
	repoURL := o.RepoURL
	if repoURL == "" {
		repoURL = pr.Base.CloneURL
	}
	co, err := Fetch(ctx, repoURL, gitAuth(repoURL, pr.Base.CloneURL, o.GitToken), pr, work)
	if err != nil {
		return err
	}
	roots := []string{co.HeadDir, co.BaseDir}
	if o.Path != "" && o.Path != "." {
		clean := filepath.Clean(filepath.FromSlash(o.Path))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("pull request %d: path %q: not inside the repository", pr.Number, o.Path)
		}
		co.HeadDir, co.BaseDir = filepath.Join(co.HeadDir, clean), filepath.Join(co.BaseDir, clean)
	}
	base, head := renderSides(ctx, co, pr, res, o)
	res.declarations = head
	if res.Valid() {
		res.Clusters = planClusters(base, head)
		if o.Dial != nil && !res.Fork {
			dryRun(ctx, o.Dial, o.SourceID, head, res.Clusters)
		}
	}
	redactor, err := newResultRedactor(o.Redact, res.secrets, base, head)
	if err != nil {
		return err
	}
	redactor.dirs = append([]string{co.HeadDir, co.BaseDir}, roots...)
	redactor.redactResult(res)
	res.Body = RenderComment(*res)
	return nil
}

// gitAuth is the token's basic auth for repoURL when it is an HTTP(S) URL
// on the host of the API's clone URL, else nil: the token goes to
// GitHub, never to another host.
func gitAuth(repoURL, cloneURL, token string) transport.AuthMethod {
	if token == "" {
		return nil
	}
	u, err := url.Parse(repoURL)
	c, cerr := url.Parse(cloneURL)
	if err != nil || cerr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Host != c.Host {
		return nil
	}
	return TokenAuth(token)
}

// renderSides renders the head (its problems go to res) and the base
// (its failure is res.BaseError), each within o.RenderBounds; a side that
// does not render is nil.
func renderSides(ctx context.Context, co *Checkout, pr *PullRequest, res *Result, o Options) (base, head *render.Result) {
	keys := o.sopsKeys(res.Fork)
	head, err := render.DirBounded(ctx, co.HeadDir, render.Options{Revision: pr.Head.SHA, UpstreamSchemas: true, SOPS: keys}, o.RenderBounds)
	if err != nil {
		res.secrets = render.SecretValues(err)
		res.Problems = render.Problems(err, co.HeadDir, render.Explain())
		if len(res.Problems) == 0 {
			res.Problems = []render.Problem{{Message: err.Error()}}
		}
		return nil, nil
	}
	res.Declarations = len(head.Declarations)
	res.SOPSWithheld = head.SOPSWithheld
	base, err = render.DirBounded(ctx, co.BaseDir, render.Options{Revision: pr.Base.SHA, SOPS: keys}, o.RenderBounds)
	if err != nil {
		res.secrets = append(res.secrets, render.SecretValues(err)...)
		var msgs []string
		for _, p := range render.Problems(err, co.BaseDir, render.Explain()) {
			msgs = append(msgs, p.String())
		}
		if len(msgs) == 0 {
			msgs = append(msgs, err.Error())
		}
		res.BaseError = strings.Join(msgs, "\n")
		return nil, head
	}
	return base, head
}

// planClusters plans every cluster of base or head, by name.
func planClusters(base, head *render.Result) []ClusterResult {
	var out []ClusterResult
	for _, name := range clusterNames(base, head) {
		out = append(out, ClusterResult{ClusterPlan: reconcile.PlanCluster(findCluster(base, name), findCluster(head, name))})
	}
	return out
}

// clusterNames are the names of the clusters of base and head, sorted.
func clusterNames(results ...*render.Result) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, c := range r.Clusters {
			if !seen[c.Name] {
				seen[c.Name] = true
				names = append(names, c.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// findCluster is cluster name of r, or nil.
func findCluster(r *render.Result, name string) *render.Cluster {
	if r == nil {
		return nil
	}
	for i := range r.Clusters {
		if r.Clusters[i].Name == name {
			return &r.Clusters[i]
		}
	}
	return nil
}
