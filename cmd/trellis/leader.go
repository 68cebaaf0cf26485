package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"trellis.dev/trellis/reconcile/clusterrun"
)

type leaderOptions struct {
	enabled   bool
	namespace string
	name      string
	timing    leaseTiming
	// shards, when positive, splits the clusters into that many shards,
	// each held through a Lease of its own (see sharder).
	shards int
	holder string
}

func addLeaderFlags(f *pflag.FlagSet, o *leaderOptions) {
	f.BoolVar(&o.enabled, "leader-elect", false, "run only while holding a Lease, so that one of several replicas reconciles")
	f.StringVar(&o.namespace, "leader-election-namespace", "trellis-system", "namespace of the Leases (of --leader-elect and of --shards)")
	f.StringVar(&o.name, "leader-election-name", "trellis", "name of the Lease; with --shards, the shards' Leases are NAME-shard-I and the replicas' NAME-member-HASH")
	f.DurationVar(&o.timing.leaseDuration, "lease-duration", defaultLeaseTiming.leaseDuration, "how long a Lease not renewed stays held: the longest a dead replica's clusters wait for another one")
	f.DurationVar(&o.timing.renewDeadline, "renew-deadline", defaultLeaseTiming.renewDeadline, "how long the holder tries to renew its Lease before it stops reconciling what the Lease holds")
	f.DurationVar(&o.timing.retryPeriod, "retry-period", defaultLeaseTiming.retryPeriod, "time between two tries to take or renew a Lease")
	f.IntVar(&o.shards, "shards", 0, "split the declared clusters into this many shards by a hash of their name, each held by one replica at a time through a Lease of its own (0: no sharding)")
	f.StringVar(&o.holder, "shard-holder", "", "identity of this replica in the Leases, unique among the replicas (default: the host name, the pod's name in-cluster, and a random suffix)")
}

// validate checks the leader election flags.
func (o leaderOptions) validate() error {
	if o.shards < 0 {
		return usageError{fmt.Errorf("--shards must not be negative, not %d", o.shards)}
	}
	if o.shards > 0 && o.enabled {
		return usageError{errors.New("--shards and --leader-elect exclude each other: with --shards each shard has a Lease of its own")}
	}
	if o.holder != "" && o.shards == 0 {
		return usageError{errors.New("--shard-holder needs --shards")}
	}
	if o.enabled || o.shards > 0 {
		if err := o.timing.validate(); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// runLeading runs fn until ctx ends; with leader election on, only while
// this process holds the Lease (in the cluster of the kubeconfig's current
// context, or the one it runs in). Losing the Lease ends fn and returns.
//
// When ctx ends, the Lease is kept (and renewed) until fn has returned —
// the daemon finished or stopped the apply in hand — and only then
// released: a replica that takes over never overlaps this one.
func runLeading(ctx context.Context, o leaderOptions, kubeconfig string, log *slog.Logger, fn func(context.Context) error) error {
	if !o.enabled {
		return fn(ctx)
	}
	o.timing = o.timing.orDefault()
	cfg, err := clusterrun.HomeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	id := leaderIdentity()
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, o.namespace, o.name,
		resourcelock.ResourceLockConfig{Identity: id}, cfg, o.timing.renewDeadline)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	l := newLeading(ctx, fn)
	defer l.stop()
	leaderelection.RunOrDie(l.electCtx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.timing.leaseDuration, RenewDeadline: o.timing.renewDeadline, RetryPeriod: o.timing.retryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				log.Info("leading", "lease", o.namespace+"/"+o.name, "identity", id)
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

// leaderIdentity names this replica in the Lease: its host name (the pod's
// name in-cluster) and a random suffix, unique even for two replicas on
// one host.
func leaderIdentity() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}

// newSharder returns the sharding of o for daemon d; shard0 runs while
// shard 0 is held.
func newSharder(o leaderOptions, kubeconfig string, d shardDaemon, shard0 func(context.Context) error, log *slog.Logger) (*sharder, error) {
	cfg, err := clusterrun.HomeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("sharding: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.timing.renewDeadline
	// Each shard's election reads its Lease, and renews it when held,
	// every retry period: client-go's default 5 requests per second would
	// delay renewals and take-overs by seconds.
	cfg.QPS = float32(max(50, 4*float64(o.shards+1)/o.timing.retryPeriod.Seconds()))
	cfg.Burst = int(2 * cfg.QPS)
	kube, err := kubernetes.NewForConfig(rest.AddUserAgent(cfg, "trellis-shards"))
	if err != nil {
		return nil, fmt.Errorf("sharding: %w", err)
	}
	id := o.holder
	if id == "" {
		id = leaderIdentity()
	}
	return &sharder{n: o.shards, id: id, ns: o.namespace, name: o.name, timing: o.timing,
		kube: kube, d: d, log: log, shard0: shard0}, nil
}
