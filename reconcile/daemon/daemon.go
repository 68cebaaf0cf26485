package daemon

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
)

// Snapshot is one poll of the source.
type Snapshot struct {
	// Revision is the commit (or "" for a plain directory that is not a
	// Git work tree).
	Revision string
	// Dir holds the config repo at that revision.
	Dir string
	// Changed is false when the revision is the one of the previous poll.
	Changed bool
	// Ref, Author and Message describe the commit, for lineage records.
	Ref, Author, Message string
}

// Source is polled for the config repo.
type Source interface {
	Poll(ctx context.Context) (Snapshot, error)
}

// Config configures a Daemon.
type Config struct {
	Source   Source
	SourceID string
	// Interval between polls and between drift corrections. Default 1m.
	Interval time.Duration
	// Connect returns the client of a cluster; it gives up when ctx ends,
	// and must not wait for other clusters.
	Connect func(ctx context.Context, cluster render.Cluster) (*reconcile.Client, error)
	// MaxConcurrentClusters bounds concurrent applies. Default 4.
	MaxConcurrentClusters int
	// MaxBackoff caps a failing cluster's retry delay. Default Interval.
	MaxBackoff time.Duration
	// AllowMassPrune is passed to every apply.
	AllowMassPrune bool
	Log            *slog.Logger
	Metrics        *Metrics
	// Lineage, when set, receives a record of every apply (with its teed
	// log) and pushes it to the lineage branch; SourceURL is recorded in
	// it.
	Lineage   *lineage.Writer
	SourceURL string
	// Applied, when set, is called after every apply of a cluster (success
	// or not), from that cluster's worker.
	Applied func(ctx context.Context, cs *reconcile.ChangeSet, err error)
	// FollowTimeout bounds how long the runs an apply started (Workflow
	// runs, Experiments, InferenceServices) are followed before the
	// run's record is written with their state as last seen. Default
	// clusterrun.FollowTimeout.
	// Following holds up neither the cluster's next apply nor other
	// clusters.
	FollowTimeout time.Duration
	// FollowInterval is the time between two looks at a followed run.
	// Default clusterrun.FollowInterval.
	FollowInterval time.Duration
	// Redactor hides secrets in run logs and records, besides the values
	// of the Secrets of the revision applied. Default: one of
	// redact.DefaultPatterns.
	Redactor *redact.Redactor
	// RenderBounds bound the render of one revision (its time, and a
	// child process); a revision past them is reported, not retried, and
	// the previous one stays in force.
	RenderBounds render.Bounds
	// SOPS are the keys that decrypt the repo's SOPS files.
	SOPS render.SOPSKeys
	// Recorded, when set, is called with the finished record of every run
	// (after the runs it started were followed), whether or not Lineage
	// is set. It must not block for long.
	Recorded func(ctx context.Context, rec lineage.Record)
	// Shards, when positive, splits the declared clusters into that many
	// shards by ShardOf: the daemon then reconciles only the clusters of
	// the shards it was given with Acquire (none at first), so that
	// replicas holding disjoint shards reconcile disjoint clusters. Zero:
	// every cluster.
	Shards int
}

// Daemon reconciles every cluster of a source.
type Daemon struct {
	cfg     Config
	trigger chan struct{}
	sem     chan struct{}
	// flush asks the lineage flusher for a push (see flushLoop).
	flush chan struct{}
	// following counts the goroutines following runs.
	following sync.WaitGroup
	// renderer renders each new revision, keeping what the files loaded
	// from one revision to the next.
	renderer *render.Renderer

	mu       sync.Mutex
	current  *render.Result // the last revision that rendered
	workers  map[string]*worker
	rendered bool
	// failed is the last revision that did not render, so that an
	// unchanged remote does not have it rendered again at every poll.
	failed string
	// rejected is the problems of failed, for Rejected.
	rejected *Rejection
	// snap is the snapshot of current.
	snap Snapshot
	// owned are the shards acquired (with Config.Shards).
	owned map[int]bool
	// runCtx and runWG are Run's, for workers started by Acquire; runCtx
	// is nil before Run and once Run is stopping.
	runCtx context.Context
	runWG  *sync.WaitGroup
}

// New returns a daemon; Run starts it.
func New(cfg Config) *Daemon {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.MaxConcurrentClusters <= 0 {
		cfg.MaxConcurrentClusters = 4
	}
	if cfg.MaxBackoff <= 0 || cfg.MaxBackoff > cfg.Interval {
		cfg.MaxBackoff = cfg.Interval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Redactor == nil {
		cfg.Redactor = redact.Default()
	}
	return &Daemon{
		cfg:     cfg,
		trigger: make(chan struct{}, 1),
		flush:   make(chan struct{}, 1),
		sem:     make(chan struct{}, cfg.MaxConcurrentClusters),
		workers: map[string]*worker{},
		owned:   map[int]bool{},
		// One renderer for the daemon's life: a revision re-renders what
		// changed since the last one (see render.Renderer).
		renderer: render.NewRenderer(cfg.RenderBounds),
	}
}

// Trigger asks for a poll now (a webhook). It never blocks.
func (d *Daemon) Trigger() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// Ready reports whether a revision has rendered, so that clusters are
// being reconciled.
func (d *Daemon) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rendered
}

// Run polls and reconciles until ctx ends, then waits for the workers to
// finish the apply in hand and for the runs being followed to be recorded
// (as last seen). Lineage records are pushed in the background (see
// flushLoop); those not pushed when ctx ends wait on disk for the next
// start.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.renderer.Close()
	var wg sync.WaitGroup
	defer d.following.Wait()
	defer wg.Wait()
	d.mu.Lock()
	d.runCtx, d.runWG = ctx, &wg
	d.mu.Unlock()
	defer func() { // before wg.Wait: Acquire starts no worker any more
		d.mu.Lock()
		d.runCtx, d.runWG = nil, nil
		d.mu.Unlock()
	}()
	if d.cfg.Lineage != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.flushLoop(ctx) }()
	}
	ticker := time.NewTicker(d.cfg.Interval)
	defer ticker.Stop()
	for {
		d.poll(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-d.trigger:
		}
	}
}

// poll fetches the source and, on a new revision, renders it and hands it
// to the workers.
func (d *Daemon) poll(ctx context.Context, wg *sync.WaitGroup) {
	start := time.Now()
	snap, err := d.cfg.Source.Poll(ctx)
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.PollDuration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.PollErrors.Inc()
		}
		d.cfg.Log.Error("poll failed; the last revision stays in force", "error", err)
		return
	}
	d.mu.Lock()
	fresh := snap.Changed || (d.current == nil && (snap.Revision == "" || snap.Revision != d.failed))
	d.mu.Unlock()
	if !fresh {
		return
	}
	before := d.renderer.Stats()
	res, err := d.renderer.Dir(ctx, snap.Dir, render.Options{Revision: snap.Revision, SOPS: d.cfg.SOPS})
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		d.mu.Lock()
		d.failed = snap.Revision
		d.mu.Unlock()
		d.renderFailed(snap, err)
		return
	}
	d.cfg.Metrics.sourceRevision(snap.Revision, true)
	after := d.renderer.Stats()
	if after.Hits+after.Misses < before.Hits+before.Misses {
		before = render.CacheStats{} // a new render child, a new cache
	}
	d.cfg.Log.Info("revision rendered", "revision", snap.Revision, "clusters", len(res.Clusters), "declarations", len(res.Declarations),
		"files_loaded", after.Misses-before.Misses, "files_from_cache", after.Hits-before.Hits)
	d.publish(ctx, res, snap, wg)
}

// renderFailed reports an invalid revision; nothing is applied.
// Its problems are logged with the values of the Secrets it holds hidden.
func (d *Daemon) renderFailed(snap Snapshot, err error) {
	red := d.cfg.Redactor.WithValues(render.SecretValues(err)...)
	rej := &Rejection{Revision: snap.Revision, At: time.Now().UTC()}
	for _, p := range render.Problems(err, snap.Dir, render.Explain()) {
		rej.Problems = append(rej.Problems, red.Redact(p.String()))
		d.cfg.Log.Error("invalid revision; the previous revision stays in force", "revision", snap.Revision, "problem", red.Redact(p.String()))
	}
	d.mu.Lock()
	d.rejected = rej
	d.mu.Unlock()
	d.cfg.Metrics.sourceRevision(snap.Revision, false)
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.RenderErrors.Inc()
	}
}

// publish makes res the revision every worker applies, starting workers
// for new clusters (of the shards owned) and stopping those of clusters no
// longer declared.
func (d *Daemon) publish(ctx context.Context, res *render.Result, snap Snapshot, wg *sync.WaitGroup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.current, d.rendered, d.rejected, d.snap = res, true, nil, snap
	seen := map[string]bool{}
	for i := range res.Clusters {
		c := &res.Clusters[i]
		seen[c.Name] = true
		if !d.ownsLocked(c.Name) {
			continue
		}
		d.offerLocked(ctx, wg, c, res, snap)
	}
	for name, w := range d.workers {
		if !seen[name] {
			// A cluster removed from Git is left as it is: trellis does not
			// empty a cluster because its declaration went away.
			d.cfg.Log.Warn("cluster no longer declared; it is not reconciled any more", "cluster", name)
			w.cancel()
			delete(d.workers, name)
		}
	}
}

// offerLocked offers c to its worker, started first when there is none.
func (d *Daemon) offerLocked(ctx context.Context, wg *sync.WaitGroup, c *render.Cluster, res *render.Result, snap Snapshot) {
	w, ok := d.workers[c.Name]
	if !ok {
		w = newWorker(d, c.Name)
		d.workers[c.Name] = w
		wctx, cancel := context.WithCancel(ctx)
		w.cancel = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(w.done)
			w.run(wctx)
		}()
	}
	w.offer(c, res, snap)
}

// ownsLocked reports whether the daemon reconciles the cluster name.
func (d *Daemon) ownsLocked(name string) bool {
	return d.cfg.Shards <= 0 || d.owned[ShardOf(name, d.cfg.Shards)]
}

// ShardOf is the shard, in [0, shards), of the cluster name: FNV-1a of
// the name, modulo shards. It depends on the name alone, so every replica
// and every revision agree on it.
func ShardOf(name string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % uint32(shards))
}

// Acquire has the daemon reconcile the clusters of shard (with
// Config.Shards): at once for those of the revision in force, and those
// of every later revision. Its workers apply as soon as they start.
func (d *Daemon) Acquire(shard int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.owned[shard] = true
	if d.runCtx == nil || d.runCtx.Err() != nil || d.current == nil {
		return // Run starts them when it publishes a revision
	}
	for i := range d.current.Clusters {
		c := &d.current.Clusters[i]
		if ShardOf(c.Name, d.cfg.Shards) == shard {
			d.offerLocked(d.runCtx, d.runWG, c, d.current, d.snap)
		}
	}
}

// Release stops reconciling the clusters of shard: it stops their
// workers (an apply in hand is stopped through its context) and returns
// once each of them has returned, so that no request of an apply of
// theirs is left in flight. Runs being followed go on being followed
// (reads only) until recorded.
func (d *Daemon) Release(shard int) {
	d.mu.Lock()
	delete(d.owned, shard)
	var stopped []*worker
	for name, w := range d.workers {
		if ShardOf(name, d.cfg.Shards) == shard {
			w.cancel()
			delete(d.workers, name)
			stopped = append(stopped, w)
		}
	}
	d.mu.Unlock()
	for _, w := range stopped {
		<-w.done
	}
}

// Owned returns the shards acquired, in order.
func (d *Daemon) Owned() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]int, 0, len(d.owned))
	for i := range d.owned {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// errSuspended marks an apply skipped by suspension.
var errSuspended = errors.New("suspended")

// flushLoop pushes the lineage records waiting on disk, off the apply
// path: at start (records an earlier process left), after each new
// record, and, after a failed push, again with backoff (1s doubled per
// failure, capped at MaxBackoff); new records do not cut a backoff short.
// Each attempt of a push is bounded by the Writer's AttemptTimeout, so a
// lineage remote that hangs delays records, never an apply.
func (d *Daemon) flushLoop(ctx context.Context) {
	lw := d.cfg.Lineage
	retry := time.NewTimer(0)
	defer retry.Stop()
	failures := 0
	for {
		kick := d.flush
		if failures > 0 {
			kick = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-retry.C:
		}
		err := lw.Flush(ctx)
		if ctx.Err() != nil {
			return // stopping: the records wait on disk for the next start
		}
		pending, _ := lw.Pending()
		d.cfg.Metrics.lineage(pending, err)
		if err == nil {
			failures = 0
			continue
		}
		failures++
		delay := min(time.Second<<min(failures-1, 20), d.cfg.MaxBackoff)
		d.cfg.Log.Warn("lineage records not pushed yet; they stay queued on disk", "pending", pending, "retry_in", delay.String(), "error", err)
		retry.Reset(delay)
	}
}

// kickFlush asks flushLoop for a push. It never blocks.
func (d *Daemon) kickFlush() {
	select {
	case d.flush <- struct{}{}:
	default:
	}
}
