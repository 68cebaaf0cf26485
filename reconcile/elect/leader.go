package elect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"trellis.dev/trellis/reconcile/clusterrun"
)

// Options name the Leases and time their elections.
type Options struct {
	// Namespace and Name name the Lease (--leader-election-namespace and
	// --leader-election-name); with shards, the shards' Leases are
	// NAME-shard-I and the replicas' NAME-member-HASH.
	Namespace, Name string
	// Timing is the elections' timing; zero: DefaultTiming.
	Timing Timing
}

// ShardOptions are Options for sharding.
type ShardOptions struct {
	Options
	// Shards is how many shards the clusters are split into.
	Shards int
	// Holder names this replica in the Leases (default: Identity()).
	Holder string
	// Poll, when set, has the daemon poll now: another replica got a
	// webhook (see Sharder.RequestPoll).
	Poll func()
}

// RunLeading runs fn until ctx ends, only while this process holds the
// Lease (in the cluster of the kubeconfig's current
// context, or the one it runs in). Losing the Lease ends fn and returns.
//
// When ctx ends, the Lease is kept (and renewed) until fn has returned —
// the daemon finished or stopped the apply in hand — and only then
// released: a replica that takes over never overlaps this one.
func RunLeading(ctx context.Context, o Options, kubeconfig string, log *slog.Logger, fn func(context.Context) error) error {
	o.Timing = o.Timing.OrDefault()
	cfg, err := clusterrun.HomeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	id := Identity()
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, o.Namespace, o.Name,
		resourcelock.ResourceLockConfig{Identity: id}, cfg, o.Timing.RenewDeadline)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	l := newLeading(ctx, fn)
	defer l.stop()
	leaderelection.RunOrDie(l.electCtx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.Timing.LeaseDuration, RenewDeadline: o.Timing.RenewDeadline, RetryPeriod: o.Timing.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				log.Info("leading", "lease", o.Namespace+"/"+o.Name, "identity", id)
				l.lead(leaseCtx)
			},
			OnStoppedLeading: func() { log.Info("no longer leading", "identity", id) },
		},
	})
	return l.wait()
}

// leading runs fn while a Lease is held. The election runs on electCtx,
// which outlives the caller's context: it ends when fn has returned (or
// when the caller's context ends before this replica leads), so that the
// Lease is released only once fn stopped.
type leading struct {
	ctx      context.Context // the caller's: SIGTERM ends it
	fn       func(context.Context) error
	electCtx context.Context
	stop     context.CancelFunc

	mu       sync.Mutex
	started  bool // fn was started
	stopping bool // ctx ended
	err      error
	done     chan struct{} // closed when fn returned
}

func newLeading(ctx context.Context, fn func(context.Context) error) *leading {
	l := &leading{ctx: ctx, fn: fn, done: make(chan struct{})}
	l.electCtx, l.stop = context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.stopping = true
		if !l.started {
			l.stop() // not leading: nothing to wait for
		}
	})
	return l
}

// lead runs fn until the Lease is lost or the caller's context ends, then
// ends the election, which releases the Lease.
func (l *leading) lead(leaseCtx context.Context) {
	defer l.stop()
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return
	}
	l.started = true
	l.mu.Unlock()
	defer close(l.done)
	runCtx, cancel := context.WithCancel(leaseCtx)
	defer cancel()
	stopRun := context.AfterFunc(l.ctx, cancel)
	defer stopRun()
	err := l.fn(runCtx)
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// wait returns fn's error once fn returned (at once when it never started).
func (l *leading) wait() error {
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if !started {
		return nil
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Identity names this replica in the Lease: its host name (the pod's
// name in-cluster) and a random suffix, unique even for two replicas on
// one host.
func Identity() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}
