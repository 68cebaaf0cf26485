// Package pullrequest checks pull requests of a config repo on GitHub:
// what `trellis pr` runs in CI, and what `trellis serve` runs for each new
// head of an open pull request.
//
// # A check
//
// Check takes a pull request's number and:
//
//  1. gets the pull request from the API (base and head SHAs, whether the
//     head comes from a fork) and sets the statuses trellis/validate and
//     trellis/plan to pending on the head commit;
//  2. fetches the base branch and GitHub's refs/pull/N/head with go-git
//     into a temporary directory, and writes out the trees of the base and
//     head commits (fetch.go);
//  3. validates and renders the head, renders the base, and plans each
//     cluster offline with reconcile.PlanCluster: objects added, changed
//     and removed with their diffs, and the prune guard's verdict;
//  4. with a Dialer, and only for a pull request from the same
//     repository, dry-runs the head against each cluster (server-side
//     apply, dry run; dryrun.go); a fork never gets a cluster client;
//  5. renders the sticky comment (comment.go), posts it or updates it in
//     place, and sets the final statuses (publish.go).
//
// The Result is data: the comment, the statuses, the command's exit code
// and, later, the lineage record are all made from it.
//
// # Secrets
//
// Secret values are redacted by key in every diff (reconcile.RedactPair),
// then every value of every Secret of base or head, plain or base64, and
// every credential pattern is hidden in the comment's free text
// (redact.go). The GitHub token goes into an Authorization header, and to
// Git only as basic auth to the host of GitHub's clone URL; it is never
// logged nor part of an error.
//
// # GitHub
//
// GitHub (github.go) wraps go-github for one repository: pull requests,
// the sticky comment (found by CommentMarker, comments read page by page,
// never duplicated) and commit statuses. Its transport (retry.go) honours
// GitHub's rate limits: a 429, or a 403 that is a rate limit, is retried
// after Retry-After, else at X-RateLimit-Reset when no request is left,
// else after an exponential backoff, a bounded number of times, and never
// beyond its context.
package pullrequest
