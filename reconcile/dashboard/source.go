package dashboard

import (
	"context"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// Lineage reads the records of a lineage branch, as committed (already
// redacted).
type Lineage interface {
	// Records returns every record, newest first.
	Records(ctx context.Context) ([]lineage.Record, error)
	// Log returns a run's log; an error wrapping lineage.ErrNotFound for
	// an unknown run.
	Log(ctx context.Context, runID string) ([]byte, error)
}

// Daemon is what a running `trellis serve` knows. Its strings may hold
// secrets: the dashboard redacts them.
type Daemon interface {
	// Clusters returns each cluster reconciled, sorted by name.
	Clusters(ctx context.Context) ([]ClusterView, error)
	// PullRequests returns the last check of each pull request checked,
	// newest first; none without --github-repo.
	PullRequests(ctx context.Context) ([]PullRequestView, error)
}

// Commit describes a revision of the config repo.
type Commit struct {
	Revision string
	Message  string
	Author   string
	// Repo is the config repo's URL, for a link to the commit.
	Repo string
}

// ClusterView is one cluster as the daemon knows it.
type ClusterView struct {
	Name string
	// Applied is the revision of the last apply (successful or not);
	// empty before the first.
	Applied Commit
	// Finished is when the last apply finished.
	Finished time.Time
	// Result is reconcile.ResultSucceeded, reconcile.ResultFailed, or ""
	// before the first apply.
	Result string
	// Counts are the objects of the last apply by action.
	Counts map[reconcile.Action]int
	// Drifted is the number of objects the last apply found changed by
	// hand and restored.
	Drifted int
	// SuspendedSince is when the cluster was suspended; "" when it is not.
	SuspendedSince string
	// Offered is the revision the daemon works on for the cluster, when
	// it is not the applied one yet.
	Offered Commit
	// Errors are the last apply's error, or the problems (path:line:col
	// first) of a newer revision that did not render.
	Errors []string
	// Unreachable says why the cluster's inventory could not be read.
	Unreachable string
}

// PullRequestView is the last check of one pull request.
type PullRequestView struct {
	Number int
	Title  string
	// URL is the pull request's page.
	URL     string
	HeadSHA string
	Checked time.Time
	// Problems are the head's invalid declarations, path:line:col first.
	Problems []string
	// Plans are the plan of each cluster.
	Plans []PlanView
}

// PlanView is what a pull request would do to one cluster.
type PlanView struct {
	Cluster string
	Counts  map[reconcile.Action]int
	// Changes are the objects that would change, "kind/namespace/name".
	Changes []string
	Errors  []string
}
