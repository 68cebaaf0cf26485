package elect

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"trellis.dev/trellis/reconcile/clusterrun"
)

// Sharding (serve --shards N).
//
// The declared clusters are split into N shards by daemon.ShardOf (a hash
// of the cluster's name). Shard i is held through the Lease
// <leader-election-name>-shard-<i> with client-go's leader election; a
// replica reconciles the clusters of the shards it holds, and those only.
//
// Every replica runs an election for every shard all the time, so that it
// observes every Lease and takes a free or expired one over at once. It
// takes one, though, only while it holds fewer than its share,
// ceil(N / replicas), the replicas being counted from their member Leases
// (<leader-election-name>-member-<hash of the identity>, renewed every
// retry period, expired after memberTTL, deleted on a clean stop). A
// replica holding more than its share gives the excess up, its least
// preferred shards first (an order derived from its identity), so that a
// replica that joins gets shards. The holder of shard 0 also runs the
// pull-request side (shard0).
//
// A shard is never reconciled by two replicas at once: the lock every
// election goes through stops the shard's workers, and waits until they
// returned (the apply in hand stopped), before any write that gives the
// Lease up; a Lease not renewed within the renew deadline (counted from
// the start of its last successful renewal) stops the workers at once,
// before the lease duration has passed for the other replicas, even when
// the apiserver hangs.
//
// Every replica polls and renders. A webhook reaches one replica; it
// tells the others through an annotation of its member Lease, read at
// their next count of the replicas.
type Sharder struct {
	n        int
	id       string
	ns, name string
	timing   Timing
	kube     kubernetes.Interface
	d        ShardDaemon
	log      *slog.Logger
	// shard0 runs, when set, while this replica holds shard 0 (the pull
	// request side).
	shard0 func(context.Context) error
	// poll, when set, has the daemon poll now: another replica got a
	// webhook (see RequestPoll).
	poll func()
	// held and replicas, when set, are the gauges of the shards held and
	// of the live replicas counted.
	held, replicas prometheus.Gauge

	stopMu []sync.Mutex // per shard: one stop at a time

	mu     sync.Mutex
	leased map[int]bool // Leases held (acquired, not yet released)
	// renewed is, per shard held, when its last successful write (taking
	// or renewing the Lease) began.
	renewed map[int]time.Time
	// stopping counts, per shard, the stops under way: no worker of the
	// shard starts meanwhile.
	stopping map[int]int
	members  int // live replicas, this one included
	taking   int // acquisitions in flight
	// asked is when this replica last got a webhook, told to the others
	// on its member Lease; seen is the latest such time of the others
	// acted on.
	asked, seen time.Time
	changed     chan struct{}
}

// ShardDaemon is the daemon's side of sharding.
type ShardDaemon interface {
	Acquire(shard int)
	Release(shard int)
}

// Timing is client-go's leader election timing.
type Timing struct {
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// DefaultTiming is client-go's usual timing, the flags' defaults.
var DefaultTiming = Timing{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}

// OrDefault is t, or DefaultTiming when t is unset.
func (t Timing) OrDefault() Timing {
	if t == (Timing{}) {
		return DefaultTiming
	}
	return t
}

// memberTTL is how long a replica's member Lease lives unrenewed: shorter
// than the lease duration, so that a dead replica is no longer counted
// (and the others' share has grown) by the time its shards' Leases
// expire; at least three retry periods, so that a slow renewal does not
// drop a live replica. Whole seconds, at least one.
func (t Timing) memberTTL() time.Duration {
	ttl := min(max(t.LeaseDuration/2, 3*t.RetryPeriod), t.LeaseDuration)
	return max(ttl.Round(time.Second), time.Second)
}

// Validate checks t, naming the flags that set it.
func (t Timing) Validate() error {
	switch {
	case t.RetryPeriod <= 0:
		return fmt.Errorf("--retry-period must be positive, not %s", t.RetryPeriod)
	case t.RenewDeadline <= time.Duration(leaderelection.JitterFactor*float64(t.RetryPeriod)):
		return fmt.Errorf("--renew-deadline (%s) must be longer than %.1f × --retry-period (%s)", t.RenewDeadline, leaderelection.JitterFactor, t.RetryPeriod)
	case t.LeaseDuration <= t.RenewDeadline:
		return fmt.Errorf("--lease-duration (%s) must be longer than --renew-deadline (%s)", t.LeaseDuration, t.RenewDeadline)
	case t.LeaseDuration < time.Second:
		return fmt.Errorf("--lease-duration must be at least 1s, not %s", t.LeaseDuration)
	}
	return nil
}

// errNotTaking refuses the acquisition of a shard beyond this replica's
// share.
var errNotTaking = errors.New("not taking the shard: this replica holds its share")

func ShardLeaseName(base string, i int) string { return base + "-shard-" + strconv.Itoa(i) }

// memberLeaseName is the member Lease of a replica: a name valid in
// Kubernetes whatever the identity.
func memberLeaseName(base, id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return fmt.Sprintf("%s-member-%08x", base, h.Sum32())
}

// pollAnnotation, on a member Lease, is when its replica last got a
// webhook asking for a poll (RFC 3339, nanoseconds): the other replicas
// poll too when they see a newer one, within a retry period.
const pollAnnotation = "trellis.dev/poll-requested"

// RequestPoll tells the other replicas, through this replica's member
// Lease at its next renewal, that a webhook asked for a poll: a webhook
// reaches one replica, and every replica applies its own shards.
func (s *Sharder) RequestPoll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = time.Now()
}

// memberLabel marks the member Leases of one deployment (its Lease base
// name).
const memberLabel = "trellis.dev/member-of"

// RunSharded runs run (the daemon) until ctx ends, and the shards'
// elections beside it; it returns once every shard was released and run
// returned.
func RunSharded(ctx context.Context, s *Sharder, run func(context.Context) error) error {
	s.leased = map[int]bool{}
	s.renewed = map[int]time.Time{}
	s.stopping = map[int]int{}
	s.members = 1
	s.changed = make(chan struct{})
	s.stopMu = make([]sync.Mutex, s.n)
	s.log = s.log.With("identity", s.id)
	s.mu.Lock()
	s.seen = time.Now()
	s.mu.Unlock()
	// Count the replicas before contending, not to grab every shard at
	// start when the others are up already.
	s.beat(ctx)
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); runErr <- run(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.memberLoop(ctx) }()
	for i := 0; i < s.n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.shardLoop(ctx, i) }()
	}
	s.log.Info("sharding", "shards", s.n, "namespace", s.ns, "leases", ShardLeaseName(s.name, 0)+"…", "lease_duration", s.timing.LeaseDuration.String())
	wg.Wait()
	return <-runErr
}

// notifyLocked wakes whoever waits on changed, and updates the gauges.
func (s *Sharder) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	if s.held != nil {
		s.held.Set(float64(len(s.leased)))
	}
	if s.replicas != nil {
		s.replicas.Set(float64(s.members))
	}
}

// RegisterGauges registers trellis_shards_held and trellis_shard_replicas.
func RegisterGauges(reg prometheus.Registerer, s *Sharder) {
	s.held = prometheus.NewGauge(prometheus.GaugeOpts{Name: "trellis_shards_held", Help: "Shards this replica holds (serve --shards)."})
	s.replicas = prometheus.NewGauge(prometheus.GaugeOpts{Name: "trellis_shard_replicas", Help: "Live replicas this replica counts, itself included (serve --shards)."})
	reg.MustRegister(s.held, s.replicas)
}

func (s *Sharder) changedCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// shareLocked is the most shards this replica takes: ceil(N / replicas).
func (s *Sharder) shareLocked() int {
	m := max(s.members, 1)
	return (s.n + m - 1) / m
}

// preference orders the shards for this replica: the least preferred
// are given up first.
func (s *Sharder) preference(i int) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s.id + "/" + strconv.Itoa(i)))
	return h.Sum32()
}

// shedLocked reports whether shard i, held, is among those this replica
// gives up: more shards held than its share, and i among the least
// preferred of them.
func (s *Sharder) shedLocked(i int) bool {
	excess := len(s.leased) - s.shareLocked()
	if excess <= 0 || !s.leased[i] {
		return false
	}
	held := make([]int, 0, len(s.leased))
	for j := range s.leased {
		held = append(held, j)
	}
	sort.Slice(held, func(a, b int) bool {
		pa, pb := s.preference(held[a]), s.preference(held[b])
		if pa != pb {
			return pa > pb
		}
		return held[a] > held[b]
	})
	for _, j := range held[:excess] {
		if j == i {
			return true
		}
	}
	return false
}

// shardLoop runs the election of shard i again and again until ctx ends.
func (s *Sharder) shardLoop(ctx context.Context, i int) {
	backoff := s.timing.RetryPeriod
	for ctx.Err() == nil {
		if err := s.elect(ctx, i); err != nil {
			s.log.Error("shard election failed", "shard", i, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
		}
	}
}

// elect runs one election of shard i: it returns when ctx ended while the
// shard was not held, or once the shard was held and then released or
// lost, its workers stopped.
func (s *Sharder) elect(ctx context.Context, i int) error {
	lock := &shardLock{s: s, i: i, LeaseLock: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: s.ns, Name: ShardLeaseName(s.name, i)},
		Client:     s.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.id},
	}}
	// The election outlives ctx while the shard is held: the Lease is
	// released only once the shard's workers stopped.
	electCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	electCtx = klog.NewContext(electCtx, logr.FromSlogHandler(refusalFilter{s.log.With("source", "client-go", "shard", i).Handler()}))
	stopWatch := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.leased[i] {
			cancel() // not holding: stop trying
		}
	})
	defer stopWatch()
	var (
		mu      sync.Mutex
		started bool
		ended   bool
		done    = make(chan struct{})
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, Name: lock.LeaseMeta.Name,
		LeaseDuration: s.timing.LeaseDuration, RenewDeadline: s.timing.RenewDeadline, RetryPeriod: s.timing.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				mu.Lock()
				if ended {
					mu.Unlock()
					return
				}
				started = true
				mu.Unlock()
				defer close(done)
				defer cancel() // after the workers stopped: release the Lease
				s.hold(ctx, leaseCtx, i)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	le.Run(electCtx)
	mu.Lock()
	ended = true
	wait := started
	mu.Unlock()
	if wait {
		<-done
	}
	// Whatever happened, no worker of the shard is left running.
	s.stop(i)
	return nil
}

// hold reconciles shard i while its Lease is held, until the Lease is
// lost, ctx ends or the shard is given up; the shard's workers have
// stopped when it returns.
func (s *Sharder) hold(ctx, leaseCtx context.Context, i int) {
	s.mu.Lock()
	if !s.leased[i] || s.stopping[i] > 0 || leaseCtx.Err() != nil {
		s.mu.Unlock()
		return
	}
	// Under s.mu: a stop (before a release of the Lease, see
	// shardLock.Update) counts itself in stopping first, so no worker
	// starts once the Lease is going.
	s.d.Acquire(i)
	s.log.Info("shard acquired", "shard", i, "held", len(s.leased), "share", s.shareLocked())
	s.mu.Unlock()
	var side sync.WaitGroup
	sideCtx, stopSide := context.WithCancel(leaseCtx)
	if i == 0 && s.shard0 != nil {
		side.Add(1)
		go func() { defer side.Done(); _ = s.shard0(sideCtx) }()
	}
	reason := ""
	for reason == "" {
		changed := s.changedCh()
		s.mu.Lock()
		shed := s.shedLocked(i)
		// client-go gives up a Lease it could not renew for the renew
		// deadline, but only ends leaseCtx after trying to release it,
		// which may take another renew deadline when the apiserver hangs:
		// past the lease duration the other replicas wait. The deadline is
		// kept here, from the start of the last successful renewal.
		deadline := s.renewed[i].Add(s.timing.RenewDeadline)
		s.mu.Unlock()
		if shed {
			reason = "given up: more than this replica's share"
			break
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			reason = "Lease lost"
			break
		}
		timer := time.NewTimer(wait)
		select {
		case <-leaseCtx.Done():
			reason = "Lease lost"
		case <-ctx.Done():
			reason = "stopping"
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
	stopSide()
	side.Wait()
	s.stop(i)
	if reason == "Lease lost" {
		s.log.Warn("shard lost; its clusters were stopped", "shard", i)
	} else {
		s.log.Info("shard released", "shard", i, "reason", reason)
	}
}

// stop stops the workers of shard i and waits until they returned; a stop
// under way in another goroutine is waited for too. Only then is the
// shard no longer counted as held: until then its Lease is renewed.
func (s *Sharder) stop(i int) {
	s.mu.Lock()
	s.stopping[i]++
	s.mu.Unlock()
	s.stopMu[i].Lock()
	defer s.stopMu[i].Unlock()
	s.d.Release(i)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping[i]--
	if s.leased[i] {
		delete(s.leased, i)
		delete(s.renewed, i)
		s.notifyLocked()
	}
}

// shardLock is the Lease of one shard as the election sees it. It refuses
// to take the shard beyond this replica's share, counts the shard as held
// from the write that took it, and stops the shard's workers before any
// write that gives the Lease up.
type shardLock struct {
	*resourcelock.LeaseLock
	s *Sharder
	i int
}

func (l *shardLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.take(ler, func() error { return l.LeaseLock.Create(ctx, ler) })
}

func (l *shardLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if ler.HolderIdentity != l.s.id {
		// The release: stop applying first.
		l.s.stop(l.i)
		return l.LeaseLock.Update(ctx, ler)
	}
	return l.take(ler, func() error { return l.LeaseLock.Update(ctx, ler) })
}

// take writes the Lease for this replica: a renewal when held, else an
// acquisition, within the share only (acquisitions in flight count).
func (l *shardLock) take(_ resourcelock.LeaderElectionRecord, write func() error) error {
	s := l.s
	s.mu.Lock()
	acquiring := !s.leased[l.i]
	if acquiring {
		if len(s.leased)+s.taking >= s.shareLocked() {
			s.mu.Unlock()
			return errNotTaking
		}
		s.taking++
	}
	s.mu.Unlock()
	began := time.Now()
	err := write()
	s.mu.Lock()
	defer s.mu.Unlock()
	if acquiring {
		s.taking--
	}
	if err != nil {
		return err
	}
	if acquiring || s.leased[l.i] {
		s.renewed[l.i] = began
	}
	if acquiring {
		s.leased[l.i] = true
		s.notifyLocked()
	}
	return nil
}

// refusalFilter drops client-go's error logs of errNotTaking: refusing a
// shard is the design, not a failure.
type refusalFilter struct{ slog.Handler }

func (f refusalFilter) Handle(ctx context.Context, r slog.Record) error {
	refused := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, errNotTaking) {
			refused = true
			return false
		}
		return true
	})
	if refused {
		return nil
	}
	return f.Handler.Handle(ctx, r)
}

func (f refusalFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return refusalFilter{f.Handler.WithAttrs(as)}
}

func (f refusalFilter) WithGroup(name string) slog.Handler {
	return refusalFilter{f.Handler.WithGroup(name)}
}

// memberLoop renews this replica's member Lease and counts the live ones
// every retry period, until ctx ends; then it deletes its own.
func (s *Sharder) memberLoop(ctx context.Context) {
	t := time.NewTicker(s.timing.RetryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			del, cancel := context.WithTimeout(context.Background(), s.timing.RenewDeadline)
			defer cancel()
			err := s.kube.CoordinationV1().Leases(s.ns).Delete(del, memberLeaseName(s.name, s.id), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				s.log.Warn("member Lease not deleted; it expires", "error", err)
			}
			return
		case <-t.C:
			s.beat(ctx)
		}
	}
}

// beat renews the member Lease of this replica and counts the replicas
// whose member Lease has not expired.
func (s *Sharder) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.timing.RenewDeadline)
	defer cancel()
	leases := s.kube.CoordinationV1().Leases(s.ns)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(s.timing.memberTTL().Seconds())
	name := memberLeaseName(s.name, s.id)
	s.mu.Lock()
	asked := s.asked
	s.mu.Unlock()
	annotations := map[string]string{}
	if !asked.IsZero() {
		annotations[pollAnnotation] = asked.UTC().Format(time.RFC3339Nano)
	}
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns,
			Labels: map[string]string{memberLabel: s.name}, Annotations: annotations}}
		lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: &s.id, LeaseDurationSeconds: &secs, RenewTime: &now, AcquireTime: &now}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	case err == nil:
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &s.id, &secs, &now
		lease.Annotations = annotations
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("member Lease not renewed", "error", err)
		}
		return
	}
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: memberLabel + "=" + s.name})
	if err != nil {
		s.log.Warn("member Leases not listed", "error", err)
		return
	}
	live := 0
	var latest time.Time // the latest poll asked by another replica
	for _, l := range list.Items {
		if l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		expiry := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		if *l.Spec.HolderIdentity == s.id || time.Now().Before(expiry) {
			live++
		}
		if at, err := time.Parse(time.RFC3339Nano, l.Annotations[pollAnnotation]); err == nil && *l.Spec.HolderIdentity != s.id && at.After(latest) {
			latest = at
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if latest.After(s.seen) {
		s.seen = latest
		if s.poll != nil {
			s.log.Info("another replica got a webhook; polling")
			s.poll()
		}
	}
	if live != s.members {
		s.log.Info("replicas", "live", live, "share", (s.n+max(live, 1)-1)/max(live, 1))
		s.members = live
		s.notifyLocked()
	}
}

// NewSharder returns the sharding of o for daemon d; shard0 runs while
// shard 0 is held.
func NewSharder(o ShardOptions, kubeconfig string, d ShardDaemon, shard0 func(context.Context) error, log *slog.Logger) (*Sharder, error) {
	cfg, err := clusterrun.HomeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("sharding: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.Timing.RenewDeadline
	// Each shard's election reads its Lease, and renews it when held,
	// every retry period: client-go's default 5 requests per second would
	// delay renewals and take-overs by seconds.
	cfg.QPS = float32(max(50, 4*float64(o.Shards+1)/o.Timing.RetryPeriod.Seconds()))
	cfg.Burst = int(2 * cfg.QPS)
	kube, err := kubernetes.NewForConfig(rest.AddUserAgent(cfg, "trellis-shards"))
	if err != nil {
		return nil, fmt.Errorf("sharding: %w", err)
	}
	id := o.Holder
	if id == "" {
		id = Identity()
	}
	return &Sharder{n: o.Shards, id: id, ns: o.Namespace, name: o.Name, timing: o.Timing, poll: o.Poll,
		kube: kube, d: d, log: log, shard0: shard0}, nil
}
