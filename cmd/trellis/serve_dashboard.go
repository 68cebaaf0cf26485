package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/spf13/pflag"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/dashboard"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

// defaultDashboardAddr keeps the dashboard off the port that receives
// GitHub's webhooks: on loopback, it is reached by a port-forward or an
// auth proxy in the same pod, never by whatever reaches --listen.
const defaultDashboardAddr = "127.0.0.1:8081"

// inventoryTimeout bounds the read of one cluster's inventory for a page.
const inventoryTimeout = 3 * time.Second

func addDashboardFlag(f *pflag.FlagSet, addr *string) {
	f.StringVar(addr, "dashboard-addr", defaultDashboardAddr,
		"address of the read-only dashboard (under /ui/), a listener of its own; empty: no dashboard")
}

// serveBoard is what the dashboard reads of a running serve: the daemon's
// clusters, the last apply of each (from the daemon's Applied hook), their
// inventories (suspension, and the last status after a restart) and the
// pull-request checks. It implements dashboard.Daemon.
type serveBoard struct {
	d        *daemon.Daemon
	conn     *clusterrun.Pool
	sourceID string
	repo     string
	redactor *redact.Redactor

	mu      sync.Mutex
	applies map[string]lastApply
	checks  map[int]dashboard.PullRequestView
}

// lastApply is a cluster's last apply as the daemon reported it.
type lastApply struct {
	cs  *reconcile.ChangeSet
	err error
}

var _ dashboard.Daemon = (*serveBoard)(nil)

func newServeBoard(conn *clusterrun.Pool, sourceID, repo string) *serveBoard {
	return &serveBoard{conn: conn, sourceID: sourceID, repo: source.StripCredentials(repo), redactor: redact.Default(),
		applies: map[string]lastApply{}, checks: map[int]dashboard.PullRequestView{}}
}

// applied is the daemon's Applied hook.
func (b *serveBoard) applied(_ context.Context, cs *reconcile.ChangeSet, err error) {
	if cs == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applies[cs.Cluster] = lastApply{cs: cs, err: err}
}

// checked is the pull-request watcher's Checked hook: the check's lineage
// records (redacted, as written to the lineage branch) are its plan.
func (b *serveBoard) checked(_ context.Context, n int, res *pullrequest.Result, _ error) {
	if res == nil || res.Finished.IsZero() {
		return
	}
	pr := res.PullRequest
	v := dashboard.PullRequestView{Number: n, Title: pr.Title, URL: pr.HTMLURL, HeadSHA: pr.Head.SHA, Checked: res.Finished}
	for _, rec := range res.Records() {
		if rec.Cluster == "" {
			v.Problems = append(v.Problems, rec.Errors...)
			continue
		}
		plan := dashboard.PlanView{Cluster: rec.Cluster, Counts: map[reconcile.Action]int{}, Errors: rec.Errors}
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
func (b *serveBoard) PullRequests(context.Context) ([]dashboard.PullRequestView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]dashboard.PullRequestView, 0, len(b.checks))
	for _, v := range b.checks {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number > out[j].Number })
	return out, nil
}

// Clusters returns each cluster the daemon reconciles.
func (b *serveBoard) Clusters(ctx context.Context) ([]dashboard.ClusterView, error) {
	if b.d == nil {
		return nil, errors.New("the daemon is not running")
	}
	rejected := b.d.Rejected()
	states := b.d.Clusters()
	// The values of every Secret of the revision, whichever cluster holds
	// it: a commit message is every cluster's.
	var secrets []string
	for _, st := range states {
		for _, obj := range st.Cluster.Objects {
			secrets = append(secrets, render.SecretValuesOf(obj)...)
		}
	}
	red := b.redactor.WithValues(secrets...)
	var out []dashboard.ClusterView
	for _, st := range states {
		v := dashboard.ClusterView{Name: st.Cluster.Name}
		b.mu.Lock()
		last, ok := b.applies[st.Cluster.Name]
		b.mu.Unlock()
		if ok {
			v = b.fromChangeSet(v, last)
		}
		b.readInventory(ctx, st, &v)
		snap := st.Snapshot
		commit := dashboard.Commit{Revision: snap.Revision, Message: snap.Message, Author: snap.Author, Repo: b.repo}
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
func (b *serveBoard) fromChangeSet(v dashboard.ClusterView, last lastApply) dashboard.ClusterView {
	cs := last.cs
	v.Applied = dashboard.Commit{Revision: cs.Revision, Repo: b.repo}
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
func (b *serveBoard) readInventory(ctx context.Context, st daemon.ClusterState, v *dashboard.ClusterView) {
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
			v.Applied = dashboard.Commit{Revision: l.Revision, Repo: b.repo}
			v.Finished, v.Result, v.Counts, v.Drifted = l.Finished, l.Result, l.Counts, l.Drifted
			if l.Error != "" {
				v.Errors = append(v.Errors, l.Error)
			}
		}
	}
}

// startDashboard serves the dashboard on addr, nothing when addr is
// empty, and returns when the listener is bound, with the function that
// stops it.
func startDashboard(addr string, o dashboard.Options, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	h, err := dashboard.Handler(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--dashboard-addr: %w", err)
	}
	// Pages in flight end with the server: their reads are canceled.
	base, stop := context.WithCancel(context.Background())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	go func() { _ = srv.Serve(ln) }()
	log.Info("dashboard", "url", "http://"+ln.Addr().String()+dashboard.Prefix)
	return func() {
		stop()
		shutdown, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
	}, nil
}

// dashboardRefresh is how often dashboard pages refresh themselves.
const dashboardRefresh = 3 * time.Second

// serveLineageReader reads the config repo's lineage branch for the
// dashboard, with the source's credentials; without a lineage branch, a
// branch that never exists (the pages then show no run).
func serveLineageReader(o serveOptions) dashboard.Lineage {
	var auth transport.AuthMethod
	if m, err := o.auth.Method(o.repo); err == nil {
		auth = m
	}
	branch := o.lineageBranch
	if branch == "" {
		return noLineage{}
	}
	return &dashboard.Branch{Repo: o.repo, Branch: branch, Auth: auth}
}

// noLineage is the lineage of a serve without --lineage-branch: none.
type noLineage struct{}

func (noLineage) Records(context.Context) ([]lineage.Record, error) { return nil, nil }
func (noLineage) Log(_ context.Context, id string) ([]byte, error) {
	return nil, fmt.Errorf("run %s: %w: serve runs without --lineage-branch", id, lineage.ErrNotFound)
}
