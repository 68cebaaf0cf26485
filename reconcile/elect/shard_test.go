package elect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/test/kubeproxy"
)

// shardBook is what the fake daemons of one test hold: who reconciles
// each shard, and whether two ever did at once.
type shardBook struct {
	mu      sync.Mutex
	holder  map[int]string
	overlap []string
	changed chan struct{} // closed and replaced at each change
}

func newShardBook() *shardBook {
	return &shardBook{holder: map[int]string{}, changed: make(chan struct{})}
}

// changeLocked wakes the waiters.
func (b *shardBook) changeLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait waits until cond holds, looking again at each change; a minute is
// the guard.
func (b *shardBook) wait(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	guard := time.After(time.Minute)
	for {
		b.mu.Lock()
		changed := b.changed
		b.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-guard:
			b.mu.Lock()
			defer b.mu.Unlock()
			require.Fail(t, fmt.Sprintf("shards never as expected: %v", b.holder), msgAndArgs...)
		}
	}
}

func (b *shardBook) count(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, h := range b.holder {
		if h == name {
			n++
		}
	}
	return n
}

// fakeShardDaemon records Acquire and Release in a shardBook; Release
// waits for block, when set (under the book's lock), as an apply in hand
// would.
type fakeShardDaemon struct {
	name  string
	book  *shardBook
	block chan struct{}
}

func (f *fakeShardDaemon) Acquire(i int) {
	f.book.mu.Lock()
	defer f.book.mu.Unlock()
	if h := f.book.holder[i]; h != "" && h != f.name {
		f.book.overlap = append(f.book.overlap, f.name+" acquired shard held by "+h)
	}
	f.book.holder[i] = f.name
	f.book.changeLocked()
}

func (f *fakeShardDaemon) Release(i int) {
	f.book.mu.Lock()
	mine, block := f.book.holder[i] == f.name, f.block
	f.book.mu.Unlock()
	if !mine {
		return
	}
	if block != nil {
		<-block
	}
	f.book.mu.Lock()
	defer f.book.mu.Unlock()
	if f.book.holder[i] == f.name {
		delete(f.book.holder, i)
		f.book.changeLocked()
	}
}

// TestShardsSpreadAndStop runs three sharders in-process against the
// control plane: the six shards are spread two per replica. One replica
// is stopped while its shards' applies take their time: its Leases stay
// held until its daemon released them, and only then do the two others
// take them over, three each. No shard is ever held by two daemons.
func TestShardsSpreadAndStop(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	book := newShardBook()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	timing := Timing{LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond}
	require.NoError(t, timing.Validate())
	type replica struct {
		d    *fakeShardDaemon
		stop context.CancelFunc
		done chan struct{} // closed when RunSharded returned, with err
		err  error
	}
	start := func(name string) *replica {
		d := &fakeShardDaemon{name: name, book: book}
		s := &Sharder{n: 6, id: name, ns: ns, name: "trellis", timing: timing, kube: kube, d: d, log: log}
		ctx, stop := context.WithCancel(context.Background())
		r := &replica{d: d, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			r.err = RunSharded(ctx, s, func(ctx context.Context) error { <-ctx.Done(); return nil })
		}()
		t.Cleanup(func() { stop(); <-r.done })
		return r
	}
	a, b, c := start("a"), start("b"), start("c")
	spread := func(want map[string]int) func() bool {
		return func() bool {
			for name, n := range want {
				if book.count(name) != n {
					return false
				}
			}
			return true
		}
	}
	book.wait(t, spread(map[string]int{"a": 2, "b": 2, "c": 2}), "never spread")

	block := make(chan struct{})
	var held []int
	book.mu.Lock()
	a.d.block = block
	for i, h := range book.holder {
		if h == "a" {
			held = append(held, i)
		}
	}
	book.mu.Unlock()
	a.stop()
	// While a's daemon stops, its Leases stay a's, through several of the
	// others' tries (b and c now count as the only replicas: a deleted its
	// member Lease).
	lease := func(i int) string {
		l, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), ShardLeaseName("trellis", i), metav1.GetOptions{})
		require.NoError(t, err)
		if l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	renewed := func(i int) time.Time {
		l, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), ShardLeaseName("trellis", i), metav1.GetOptions{})
		require.NoError(t, err)
		return l.Spec.RenewTime.Time
	}
	first := renewed(held[0])
	require.Eventually(t, func() bool { return renewed(held[0]).After(first.Add(timing.LeaseDuration)) }, time.Minute, 50*time.Millisecond,
		"a's Lease was not renewed for a lease duration while its daemon stopped")
	for _, i := range held {
		assert.Equal(t, "a", lease(i), "shard %d given up before its daemon stopped", i)
	}
	close(block)
	<-a.done
	require.NoError(t, a.err)
	book.wait(t, spread(map[string]int{"a": 0, "b": 3, "c": 3}), "a's shards not taken over")
	book.mu.Lock()
	assert.Empty(t, book.overlap)
	book.mu.Unlock()
	_, _ = b, c
}

// TestLeaseTiming: the timing's checks, and the member Leases' life.
func TestLeaseTiming(t *testing.T) {
	ok := Timing{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	require.NoError(t, ok.Validate())
	assert.Equal(t, 8*time.Second, ok.memberTTL())
	short := Timing{LeaseDuration: 5 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond}
	assert.Equal(t, 3*time.Second, short.memberTTL())
	assert.Error(t, Timing{LeaseDuration: 5 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: time.Second}.Validate())
	assert.Error(t, Timing{LeaseDuration: 5 * time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second}.Validate())
	assert.Error(t, Timing{LeaseDuration: 500 * time.Millisecond, RenewDeadline: 400 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}.Validate())
}

// TestShardLostStopsAtOnce: the replica holding a shard loses its
// apiserver (its proxy stalls: nothing answers, nothing fails fast). It
// stops the shard's workers within the renew deadline of its last
// renewal, before the other replica, waiting out the lease duration,
// takes the shard: no overlap, though client-go itself would only give
// the Lease up after a further renew deadline spent trying to release it.
func TestShardLostStopsAtOnce(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	book := newShardBook()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	timing := Timing{LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 250 * time.Millisecond}
	start := func(id string, p *kubeproxy.Proxy) func() {
		cfg := p.RESTConfig()
		cfg.Timeout = timing.RenewDeadline
		kube, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		s := &Sharder{n: 1, id: id, ns: ns, name: "trellis", timing: timing, kube: kube,
			d: &fakeShardDaemon{name: id, book: book}, log: log}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			assert.NoError(t, RunSharded(ctx, s, func(ctx context.Context) error { <-ctx.Done(); return nil }))
		}()
		return func() { stop(); <-done }
	}
	proxyA, proxyB := kubeproxy.Start(t, cp.RESTConfig()), kubeproxy.Start(t, cp.RESTConfig())
	stopA := start("a", proxyA)
	book.wait(t, func() bool { return book.count("a") == 1 }, "a never took the shard")
	stopB := start("b", proxyB)
	defer stopB()
	proxyB.WaitFor(t, func() bool { return kubeproxy.Count(proxyB.Events(), isLease) >= 6 }, "b never tried for the shard")

	proxyA.Stall()
	book.wait(t, func() bool { return book.count("a") == 0 }, "a never stopped the shard")
	book.wait(t, func() bool { return book.count("b") == 1 }, "b never took the shard over")
	book.mu.Lock()
	assert.Empty(t, book.overlap, "b took the shard while a still applied")
	book.mu.Unlock()
	proxyA.Resume()
	stopA()
}
