package elect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/test/kubeproxy"
)

// BenchmarkShardFailover measures the fail-over of a shard: the time from
// the death of the replica holding it (its apiserver connection stalls, so
// it renews neither its shard's Lease nor its member Lease, as a killed
// pod would) to another replica holding the shard and starting its
// workers. Lease duration 2s, renew deadline 1.5s, retry period 250ms;
// the fail-over is bounded by the lease duration plus about two retry
// periods. Reported as failover-s; ns/op is the same time.
func BenchmarkShardFailover(b *testing.B) {
	if cp == nil {
		b.Skip("needs the control plane")
	}
	ns := cp.Namespace(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	timing := Timing{LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 250 * time.Millisecond}
	require.NoError(b, timing.Validate())
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("bench-%d", i)
		book := newShardBook()
		start := func(id string, p *kubeproxy.Proxy) (context.CancelFunc, chan error) {
			cfg := p.RESTConfig()
			cfg.Timeout = timing.RenewDeadline
			kube, err := kubernetes.NewForConfig(cfg)
			require.NoError(b, err)
			s := &Sharder{n: 1, id: id, ns: ns, name: name, timing: timing, kube: kube,
				d: &fakeShardDaemon{name: id, book: book}, log: log}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- RunSharded(ctx, s, func(ctx context.Context) error { <-ctx.Done(); return nil }) }()
			return stop, done
		}
		proxyA, proxyB := kubeproxy.Start(b, cp.RESTConfig()), kubeproxy.Start(b, cp.RESTConfig())
		stopA, doneA := start("a", proxyA)
		book.wait(b, func() bool { return book.count("a") == 1 })
		stopB, doneB := start("b", proxyB)
		// b is up and counted before a dies.
		proxyB.WaitFor(b, func() bool { return kubeproxy.Count(proxyB.Events(), isLease) >= 6 }, "b never tried for the shard")

		b.StartTimer()
		died := time.Now()
		proxyA.Stall()
		book.wait(b, func() bool { return book.count("b") == 1 })
		took := time.Since(died)
		b.StopTimer()
		total += took

		proxyA.Resume()
		stopA()
		stopB()
		<-doneA
		<-doneB
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "failover-s")
}
