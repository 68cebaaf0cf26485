package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// Statuses are the commit statuses of a check: trellis/validate (are the
// head's declarations valid) and trellis/plan (can the change be applied:
// no prune refused, no object refused by a live dry-run). Descriptions
// are short; the comment has the details.
func Statuses(r *Result) []Status {
	return []Status{validateStatus(r), planStatus(r)}
}

func validateStatus(r *Result) Status {
	if r.Valid() {
		return Status{Context: ContextValidate, State: StateSuccess, Description: validSummary(r.Declarations)}
	}
	return Status{Context: ContextValidate, State: StateFailure,
		Description: plural(render.CountProblems(r.Problems), "problem") + "; first: " + r.Problems[0].String()}
}

func planStatus(r *Result) Status {
	s := Status{Context: ContextPlan, State: StateFailure}
	if !r.Valid() {
		s.Description = "no plan: the declarations are invalid"
		return s
	}
	for _, c := range r.Clusters {
		if c.PruneRefusal != "" {
			s.Description = "cluster " + c.Cluster + ": " + c.PruneRefusal
			return s
		}
	}
	for _, c := range r.Clusters {
		if n := c.LiveRefused(); n > 0 {
			s.Description = fmt.Sprintf("cluster %s: the dry run refused %s", c.Cluster, plural(n, "object"))
			return s
		}
	}
	for _, c := range r.Clusters {
		if c.LiveError != "" {
			return Status{Context: ContextPlan, State: StateError, Description: "cluster " + c.Cluster + ": dry run: " + c.LiveError}
		}
	}
	var parts []string
	for _, c := range r.Clusters {
		parts = append(parts, c.Cluster+": "+changeSummary(&c.ClusterPlan))
	}
	if len(parts) == 0 {
		parts = append(parts, "no clusters")
	}
	return Status{Context: ContextPlan, State: StateSuccess, Description: strings.Join(parts, "; ")}
}

// changeSummary is "1 added, 2 changed, 0 removed", or "no changes".
func changeSummary(p *reconcile.ClusterPlan) string {
	if len(p.Changes) == 0 {
		return "no changes"
	}
	return fmt.Sprintf("%d added, %d changed, %d removed", p.Count(reconcile.Created), p.Count(reconcile.Configured), p.Count(reconcile.Pruned))
}

// publish posts the comment of res, then its statuses, linked to the
// comment. The statuses are posted even when the comment could not be.
func publish(ctx context.Context, gh *GitHub, res *Result) error {
	c, commentErr := gh.UpsertComment(ctx, res.PullRequest.Number, CommentMarker, res.Body)
	res.Comment = c
	res.Statuses = Statuses(res)
	errs := []error{commentErr}
	for i := range res.Statuses {
		if c != nil {
			res.Statuses[i].TargetURL = c.HTMLURL
		}
		errs = append(errs, gh.SetStatus(ctx, res.PullRequest.Head.SHA, res.Statuses[i]))
	}
	return errors.Join(errs...)
}

// setErrorStatuses sets both statuses to error, saying why the check
// could not complete.
func setErrorStatuses(ctx context.Context, gh *GitHub, sha string, cause error) error {
	var errs []error
	for _, name := range []string{ContextValidate, ContextPlan} {
		errs = append(errs, gh.SetStatus(ctx, sha, Status{Context: name, State: StateError, Description: "check failed: " + cause.Error()}))
	}
	return errors.Join(errs...)
}

// short is the abbreviated commit hash.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// plural is "1 object", "2 objects".
func plural(n int, noun string) string {
	return fmt.Sprintf("%d %s", n, pluralNoun(n, noun))
}

// pluralNoun is noun, with an s unless n is 1.
func pluralNoun(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
