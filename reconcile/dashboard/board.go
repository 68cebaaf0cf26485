package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

// inventoryTimeout bounds the read of one cluster's inventory for a page.
const inventoryTimeout = 3 * time.Second

// Board is what the dashboard reads of a running serve: the daemon's
// clusters, the last apply of each (from the daemon's Applied hook), their
// inventories (suspension, and the last status after a restart) and the
// pull-request checks. It implements Daemon.
type Board struct {
	d        *daemon.Daemon
	conn     *clusterrun.Pool
	sourceID string
	repo     string
	redactor *redact.Redactor

	mu      sync.Mutex
	applies map[string]lastApply
	checks  map[int]PullRequestView
}

// lastApply is a cluster's last apply as the daemon reported it.
type lastApply struct {
	cs  *reconcile.ChangeSet
	err error
}

var _ Daemon = (*Board)(nil)

// SetDaemon gives b the daemon whose clusters it shows.
func (b *Board) SetDaemon(d *daemon.Daemon) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.d = d
}

// NewBoard returns the Board of a serve that reaches its clusters
// through conn and applies as sourceID, from repo; SetDaemon gives it the
// daemon before pages are served.
func NewBoard(conn *clusterrun.Pool, sourceID, repo string) *Board {
	return &Board{conn: conn, sourceID: sourceID, repo: source.StripCredentials(repo), redactor: redact.Default(),
		applies: map[string]lastApply{}, checks: map[int]PullRequestView{}}
}

// Applied is the daemon's Applied hook.
func (b *Board) Applied(_ context.Context, cs *reconcile.ChangeSet, err error) {
	if cs == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applies[cs.Cluster] = lastApply{cs: cs, err: err}
}

// Checked is the pull-request watcher's Checked hook: the check's lineage
// records (redacted, as written to the lineage branch) are its plan.
func (b *Board) Checked(_ context.Context, n int, res *pullrequest.Result, _ error) {
	if res == nil || res.Finished.IsZero() {
		return
	}
	pr := res.PullRequest
	v := PullRequestView{Number: n, Title: pr.Title, URL: pr.HTMLURL, HeadSHA: pr.Head.SHA, Checked: res.Finished}
	for _, rec := range res.Records() {
		if rec.Cluster == "" {
			v.Problems = append(v.Problems, rec.Errors...)
			continue
		}
		plan := PlanView{Cluster: rec.Cluster, Counts: map[reconcile.Action]int{}, Errors: rec.Errors}
		for _, o := range rec.Objects {
			plan.Counts[o.Action]++
			plan.Changes = append(plan.Changes, fmt.Sprintf("%s %s", o.Action, reconcile.ObjectRef{
				Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}))
		}
		v.Plans = append(v.Plans, plan)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checks[n] = v
}

// PullRequests returns the last check of each pull request.
func (b *Board) PullRequests(context.Context) ([]PullRequestView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]PullRequestView, 0, len(b.checks))
	for _, v := range b.checks {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number > out[j].Number })
	return out, nil
}

// Clusters returns each cluster the daemon reconciles.
func (b *Board) Clusters(ctx context.Context) ([]ClusterView, error) {
	b.mu.Lock()
	d := b.d
	b.mu.Unlock()
	if d == nil {
		return nil, errors.New("the daemon is not running")
	}
	rejected := d.Rejected()
	states := d.Clusters()
	// The values of every Secret of the revision, whichever cluster holds
	// it: a commit message is every cluster's.
	var secrets []string
	for _, st := range states {
		for _, obj := range st.Cluster.Objects {
			secrets = append(secrets, render.SecretValuesOf(obj)...)
		}
	}
	red := b.redactor.WithValues(secrets...)
	var out []ClusterView
	for _, st := range states {
		v := ClusterView{Name: st.Cluster.Name}
		b.mu.Lock()
		last, ok := b.applies[st.Cluster.Name]
		b.mu.Unlock()
		if ok {
			v = b.fromChangeSet(v, last)
		}
		b.readInventory(ctx, st, &v)
		snap := st.Snapshot
		commit := Commit{Revision: snap.Revision, Message: snap.Message, Author: snap.Author, Repo: b.repo}
		if v.Applied.Revision == "" || v.Applied.Revision == snap.Revision {
			if v.Applied.Revision != "" {
				v.Applied = commit
			}
		} else {
			v.Offered = commit
		}
		if rejected != nil {
			v.Errors = append(v.Errors, fmt.Sprintf("revision %s did not render; the previous one stays in force:", lineage.ShortRevision(rejected.Revision)))
			v.Errors = append(v.Errors, rejected.Problems...)
		}
		for i := range v.Errors {
			v.Errors[i] = red.Redact(v.Errors[i])
		}
		v.Unreachable = red.Redact(v.Unreachable)
		v.Applied.Message, v.Offered.Message = red.Redact(v.Applied.Message), red.Redact(v.Offered.Message)
		out = append(out, v)
	}
	return out, nil
}

// fromChangeSet fills v from the cluster's last apply.
func (b *Board) fromChangeSet(v ClusterView, last lastApply) ClusterView {
	cs := last.cs
	v.Applied = Commit{Revision: cs.Revision, Repo: b.repo}
	v.Finished = cs.Finished
	v.Result = reconcile.ResultSucceeded
	if last.err != nil || cs.Failed() {
		v.Result = reconcile.ResultFailed
	}
	v.Counts = map[reconcile.Action]int{}
	for _, a := range reconcile.Actions {
		if n := cs.Count(a); n > 0 {
			v.Counts[a] = n
		}
	}
	for _, c := range cs.Changes {
		if c.Reason == reconcile.ReasonDrift {
			v.Drifted++
		}
		if c.Action == reconcile.Failed {
			v.Errors = append(v.Errors, c.String())
		}
	}
	switch {
	case last.err != nil:
		v.Errors = append([]string{last.err.Error()}, v.Errors...)
	case cs.Error != "":
		v.Errors = append([]string{cs.Error}, v.Errors...)
	}
	return v
}

// readInventory reads the cluster's inventory of this source: whether it
// is suspended, and, before the daemon's first apply of it (a restart,
// a suspension), what the last apply recorded.
func (b *Board) readInventory(ctx context.Context, st daemon.ClusterState, v *ClusterView) {
	client, err := b.conn.Connect(ctx, st.Cluster)
	if err != nil {
		v.Unreachable = err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	invs, err := reconcile.Inventories(ctx, client, st.Cluster.Name, b.sourceID)
	if err != nil {
		v.Unreachable = err.Error()
		return
	}
	for _, inv := range invs {
		v.SuspendedSince = inv.SuspendedSince
		if l := inv.Last; l != nil && v.Result == "" {
			v.Applied = Commit{Revision: l.Revision, Repo: b.repo}
			v.Finished, v.Result, v.Counts, v.Drifted = l.Finished, l.Result, l.Counts, l.Drifted
			if l.Error != "" {
				v.Errors = append(v.Errors, l.Error)
			}
		}
	}
}
