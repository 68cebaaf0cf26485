// Package pullrequest checks pull requests of a config repo on GitHub:
// what `trellis pr` runs in CI, and what `trellis serve` runs for each new
// head of an open pull request; it also sums up, on a merged pull
// request, how each cluster applied its revision.
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
// Secret values are redacted by key in every diff (redact.Pair),
// then every value of every Secret of base or head, plain or base64, and
// every credential pattern is hidden in the comment's free text
// (redact.go). The GitHub token goes into an Authorization header, and to
// Git only as basic auth to the host of GitHub's clone URL; it is never
// logged nor part of an error.
//
// # Watching pull requests
//
// A Watcher (watch.go) is what `trellis serve --github-repo` runs: it
// lists the open pull requests when it starts and every PollInterval,
// and Notify (a pull_request webhook) queues one for a check at once. A
// pull request is checked again only when its head SHA or its base
// branch changes; a failed check is logged and tried again at the next
// poll; a closed pull request is forgotten. Checks run one at a time in
// Run's goroutine, so that a rate limit slows down checks only, and
// Notify never blocks. The Options template's Dial is never called for
// a fork (Check's rule).
//
// # Merged pull requests
//
// Summaries (merged.go, merged_comment.go) take the lineage record of
// every cluster's run (Record queues it and returns at once) and, when
// the record's revision is the merge commit of merged pull requests
// (PullRequestsOfCommit), keep on each one comment per revision, found
// by AppliedMarker(sha): a section per cluster, sorted by name, with its
// result, objects changed, runs followed, pins and run id. A cluster's
// first run of a revision is the one shown; a later run replaces it only
// when that one failed (replacesSection), so that drift corrections do
// not churn the comment. Sections are read back from the comment, so a
// restarted daemon adds to it. Every text is redacted with the patterns
// of the plan comment. A failure is retried with a doubling backoff, a
// bounded number of times, and logged.
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
