package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/dashboard"
	"trellis.dev/trellis/reconcile/elect"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/source"
)

type serveOptions struct {
	repo, ref, path   string
	interval          time.Duration
	kubeconfig        string
	listen            string
	webhookSecretFile string
	stateDir          string
	sourceID          string
	logFormat         string
	auth              source.Auth
	verifyKeyFiles    []string
	maxClusters       int
	allowMassPrune    bool
	lineageBranch     string
	followTimeout     time.Duration
	render            renderBoundsOptions
	sops              sopsOptions
	lineageAuthor     string
	notifyConfig      string
	leader            leaderOptions
	github            serveGitHubOptions
	dashboardAddr     string
	dashboardAsked    bool // --dashboard-addr given
}

func newServeCommand(s streams) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --repo URL",
		Short: "Keep every cluster at the revision a Git repository says",
		Long: `Poll a config repo and reconcile every cluster it declares: each new revision
is rendered once, then every cluster is applied independently and
concurrently; drift is corrected every --interval even without a new commit;
a failing cluster is retried with exponential backoff and never blocks
another. An invalid revision is reported (path:line:col) and the previous one
stays in force.

HTTP on --listen: /healthz, /readyz, /metrics (Prometheus) and /hooks/github
(push and pull_request webhooks, verified with the secret of
--webhook-secret-file; a valid one triggers an immediate poll).

A read-only dashboard (clusters, runs, the lineage graph, pull-request plans)
is served under /ui/ on --dashboard-addr, a listener of its own, by default on
loopback only: reach it with a port-forward or an auth proxy, never through
the webhook's port. GET only, no forms, no Secret value.

With --github-repo OWNER/NAME, the open pull requests of the config repo are
checked as ` + "`trellis pr`" + ` checks them (sticky plan comment, trellis/validate and
trellis/plan statuses), at each new head: at once on a pull_request webhook,
else every --pr-poll-interval. The live dry-run of a check uses the clusters'
kubeconfig contexts, never for a pull request from a fork. When a merged pull
request's revision has been applied, one comment on it sums up each cluster's
run. The GitHub token comes from --github-token-file, $TRELLIS_GITHUB_TOKEN or
$GITHUB_TOKEN.

With --shards N, several replicas share the clusters: they are split into N
shards by a hash of their name, each held by one replica at a time through
the Lease NAME-shard-I (--leader-election-name, --leader-election-namespace);
a replica takes at most its share of the shards (N / replicas), applies the
clusters of those it holds, and stops them before it gives a Lease up. Only
the holder of shard 0 checks pull requests. See README, "Sharding".

Git credentials come from files or the environment (TRELLIS_GIT_TOKEN,
TRELLIS_GIT_PASSWORD), never from flag values.

Suspend without a redeploy with trellis suspend: the suspension is kept in the
cluster, on the inventory, so every replica and every restart honours it; a
suspended cluster is neither applied nor corrected for drift. trellis status
shows what each cluster runs.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.repo == "" {
				return usageError{errors.New("--repo is required")}
			}
			if err := o.leader.validate(); err != nil {
				return err
			}
			o.dashboardAsked = cmd.Flags().Changed("dashboard-addr")
			return runServe(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "config repo: https://, ssh://, git@host:path, file:// URL or a local directory")
	f.StringVar(&o.ref, "ref", "main", "branch, or branch:NAME, tag:NAME, semver:RANGE, commit:SHA")
	f.StringVar(&o.path, "path", ".", "directory of the config repo inside the Git repository")
	f.DurationVar(&o.interval, "interval", time.Minute, "time between polls and drift corrections")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig with a context per cluster (default: in-cluster, or $KUBECONFIG)")
	f.StringVar(&o.listen, "listen", ":8080", "address of the HTTP server")
	f.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "file holding the GitHub webhook secret (no file: /hooks/github refuses everything)")
	f.StringVar(&o.stateDir, "state-dir", ".trellis-state", "directory for the Git cache and the lineage queue; keep it across restarts")
	f.StringVar(&o.sourceID, "source-id", "", "id of the source; the inventory is per source and cluster (default: derived from --repo and --path)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stdout: text or json")
	o.auth.AddFlags(f)
	f.StringArrayVar(&o.verifyKeyFiles, "verify-key-file", nil, "armored OpenPGP public key; when given, only commits signed by one of them are applied (repeatable)")
	f.IntVar(&o.maxClusters, "max-concurrent-clusters", 4, "clusters applied at once")
	f.BoolVar(&o.allowMassPrune, "allow-mass-prune", false, "allow pruning every object, or more than half, of an inventory")
	f.StringVar(&o.lineageBranch, "lineage-branch", lineage.DefaultBranch, "branch of the config repo that receives a lineage record per apply (empty: none)")
	f.StringVar(&o.lineageAuthor, "lineage-author", lineage.DefaultAuthor, "author and committer of lineage commits, \"Name <email>\"")
	f.StringVar(&o.notifyConfig, "notify-config", "", "YAML file of notification providers (generic webhook, Slack), best mounted from a Secret; see README")
	f.DurationVar(&o.followTimeout, "follow-timeout", clusterrun.FollowTimeout, "how long the runs an apply started are followed before its record is written with them as last seen")
	addRenderBoundsFlags(f, &o.render)
	addSOPSFlags(f, &o.sops)
	addLeaderFlags(f, &o.leader)
	addServeGitHubFlags(f, &o.github)
	addDashboardFlag(f, &o.dashboardAddr)
	return cmd
}

// newLogger writes structured logs to w.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format must be text or json, not %q", format)}
}

func runServe(ctx context.Context, o serveOptions, s streams) error {
	log, err := newLogger(s.out, o.logFormat)
	if err != nil {
		return err
	}
	useKlog(log)
	src, err := newServeSource(o)
	if err != nil {
		return err
	}
	keys, err := o.sops.serveKeys()
	if err != nil {
		return err
	}
	bounds, err := o.render.bounds()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.sourceID == "" {
		o.sourceID = defaultSourceID(o.repo, o.path)
	}
	writer, err := newLineageWriter(o, log)
	if err != nil {
		return err
	}
	conn := clusterrun.NewPool(o.kubeconfig)
	board := dashboard.NewBoard(conn, o.sourceID, o.repo)
	gh, err := newServeGitHub(o, conn, writer, board.Checked, log)
	if err != nil {
		return err
	}
	notifier, err := newServeNotifier(o.notifyConfig, log)
	if err != nil {
		return fmt.Errorf("--notify-config: %w", err)
	}
	// With --shards, pull requests are the holder of shard 0's: it alone
	// checks them and sums up merged ones, from the records of the
	// clusters it applies.
	var shard0 atomic.Bool
	recorded := gh.recorded()
	if o.leader.shards > 0 && recorded != nil {
		all := recorded
		recorded = func(ctx context.Context, rec lineage.Record) {
			if shard0.Load() {
				all(ctx, rec)
			}
		}
	}
	d := daemon.New(daemon.Config{
		Source: src, SourceID: o.sourceID, Interval: o.interval,
		Connect: conn.Connect,
		Applied: func(ctx context.Context, cs *reconcile.ChangeSet, err error) {
			board.Applied(ctx, cs, err)
			if err != nil {
				conn.Forget(cs.Cluster) // a cluster that comes back is discovered anew
			}
		},
		MaxConcurrentClusters: o.maxClusters, AllowMassPrune: o.allowMassPrune,
		Lineage: writer, SourceURL: o.repo, FollowTimeout: o.followTimeout, Recorded: bothRecorded(recorded, notifierRecord(notifier)),
		RenderBounds: bounds, SOPS: keys,
		Log: log, Metrics: daemon.NewMetrics(reg),
		Shards: o.leader.shards,
	})
	board.SetDaemon(d)
	poll := d.Trigger
	var sh *elect.Sharder
	if o.leader.shards > 0 {
		// Every replica polls and renders; each applies the clusters of
		// the shards it holds; the holder of shard 0 alone checks pull
		// requests and sums up merged ones.
		opts := o.leader.sharding()
		opts.Poll = d.Trigger
		sh, err = elect.NewSharder(opts, o.kubeconfig, d, func(ctx context.Context) error {
			shard0.Store(true)
			defer shard0.Store(false)
			return gh.run(ctx)
		}, log)
		if err != nil {
			return err
		}
		elect.RegisterGauges(reg, sh)
		// A webhook reaches one replica: it tells the others.
		poll = func() { d.Trigger(); sh.RequestPoll() }
	}
	hook := &daemon.WebhookHandler{Log: log, Trigger: gh.route(src.ref, poll)}
	if o.webhookSecretFile != "" {
		secret, err := os.ReadFile(o.webhookSecretFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// An optional Secret not created yet: run, and refuse webhooks.
			log.Warn("webhook secret file missing; /hooks/github refuses every webhook", "file", o.webhookSecretFile)
		case err != nil:
			return fmt.Errorf("--webhook-secret-file: %w", err)
		default:
			hook.Secret = []byte(strings.TrimSpace(string(secret)))
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: daemon.Handler(d, reg, hook), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	served := make(chan struct{})
	var serveErr error // written before served is closed
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			// Without /healthz and /readyz the daemon cannot be watched:
			// stop, and let the supervisor restart it.
			serveErr = fmt.Errorf("HTTP server on %s: %w", ln.Addr(), err)
			log.Error("HTTP server failed; stopping", "error", err)
			stop(serveErr)
		}
	}()
	log.Info("serving", "listen", ln.Addr().String(), "repo", source.StripCredentials(o.repo), "ref", o.ref, "interval", o.interval.String())
	stopDashboard, err := startDashboard(o.dashboardAddr, dashboard.Options{
		Lineage: serveLineageReader(o), Daemon: board, Refresh: dashboardRefresh, Log: log}, log)
	switch {
	case err != nil && o.dashboardAsked:
		_ = srv.Close()
		return err
	case err != nil:
		// The default address is taken (another serve on this host):
		// reconciling matters more than the dashboard.
		log.Warn("no dashboard; pass a free --dashboard-addr to have one", "error", err)
	default:
		defer stopDashboard()
	}
	switch run := withNotifier(notifier, gh.around(d.Run)); {
	case sh != nil:
		err = elect.RunSharded(ctx, sh, withNotifier(notifier, d.Run))
	case o.leader.enabled:
		err = elect.RunLeading(ctx, o.leader.election(), o.kubeconfig, log, run)
	default:
		err = run(ctx)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil {
		log.Warn("HTTP server not shut down cleanly", "error", serr)
	}
	<-served
	if err == nil {
		err = serveErr
	}
	log.Info("stopped")
	return err
}

// newLineageWriter returns the writer of lineage records to the config
// repo's lineage branch, with the source's credentials; none for a plain
// directory or without --lineage-branch. Records wait in the state
// directory until pushed.
func newLineageWriter(o serveOptions, log *slog.Logger) (*lineage.Writer, error) {
	if o.lineageBranch == "" {
		return nil, nil
	}
	if info, err := os.Stat(o.repo); err == nil && info.IsDir() {
		log.Info("lineage records are not written for a plain directory", "repo", o.repo)
		return nil, nil
	}
	name, email, err := parseAuthor(o.lineageAuthor)
	if err != nil {
		return nil, err
	}
	auth, err := o.auth.Method(o.repo)
	if err != nil {
		return nil, fmt.Errorf("lineage: %w", err)
	}
	return &lineage.Writer{
		RepoURL: o.repo, Auth: auth, Branch: o.lineageBranch,
		AuthorName: name, AuthorEmail: email,
		StateDir: filepath.Join(o.stateDir, "lineage"), Log: log,
	}, nil
}

// defaultSourceID names the inventory of a source after its URL and path,
// so that two daemons of two repos never prune each other's objects.
func defaultSourceID(repo, path string) string {
	id := strings.TrimSuffix(source.StripCredentials(repo), ".git")
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	if path != "" && path != "." {
		id += "-" + strings.NewReplacer("/", "-", ".", "-").Replace(strings.Trim(path, "/"))
	}
	return id
}
