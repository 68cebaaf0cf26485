package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile/elect"
	"trellis.dev/trellis/test/gitserver"
	"trellis.dev/trellis/test/kubeproxy"
)

// TestLeaderSIGTERMMidApply runs two real `trellis serve --leader-elect`
// replicas, each reaching the control plane through a proxy of its own
// that records every request in one order. The leader is held in the
// middle of applying 200 ConfigMaps (one of its requests hangs) and gets
// SIGTERM: it stops the apply, and only then releases the Lease; the
// second replica takes over and applies everything. The proxies prove
// that no request of the second replica's daemon began before the last
// request of the first one ended, and that the first one's last Lease
// write (the release) came after its last apply request.
func TestLeaderSIGTERMMidApply(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	bin := buildTrellis(t)
	git := gitserver.Start(t, gitserver.Options{})
	url := git.NewRepo(t, "config")
	files := map[string]string{"cluster.yaml": fmt.Sprintf(
		"apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: trellis-test, namespaces: {%s-t: {}}}\n", ns)}
	var cms strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d, namespace: %s-t}\ndata: {i: \"%d\"}\n", i, ns, i)
	}
	files["clusters/dev/cms.yaml"] = cms.String()
	git.Commit(t, url, files, "200 config maps")

	proxyA, proxyB := kubeproxy.Start(t, cp.RESTConfig()), kubeproxy.Start(t, cp.RESTConfig())
	// The leader hangs at its 20th ConfigMap write: mid-apply.
	writes := 0
	proxyA.Hold(func(r *http.Request) bool {
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/configmaps/cm-") {
			writes++
		}
		return writes >= 20
	})
	replica := func(p *kubeproxy.Proxy) (*exec.Cmd, *syncBuffer) {
		var logs syncBuffer
		cmd := exec.Command(bin, "serve", "--repo", url, "--kubeconfig", p.Kubeconfig(t, "trellis-test"),
			"--interval", "1h", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--source-id", ns,
			"--lineage-branch", "", "--leader-elect", "--leader-election-namespace", ns)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, &logs
	}
	a, logsA := replica(proxyA)
	proxyA.WaitFor(t, func() bool { return proxyA.Holding() > 0 }, "the leader never reached its 20th ConfigMap")
	b, logsB := replica(proxyB)
	proxyB.WaitFor(t, func() bool { return kubeproxy.Count(proxyB.Events(), isLease) >= 2 },
		"the second replica never tried for the Lease")
	require.Zero(t, kubeproxy.Count(proxyB.Events(), isApply), "the second replica applied while the first one leads")

	require.NoError(t, a.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- a.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, logsA.String())
	case <-time.After(time.Minute): // a guard, not a timing
		t.Fatalf("the leader did not stop on SIGTERM:\n%s", logsA.String())
	}
	assert.Contains(t, logsA.String(), "msg=stopped")

	cmsApplied := func() bool {
		for _, e := range proxyB.Events() {
			if e.End && e.Method == http.MethodPatch && strings.HasSuffix(e.Path, "/configmaps/cm-199") {
				return true
			}
		}
		return false
	}
	proxyB.WaitFor(t, cmsApplied, "the second replica never applied the revision")

	evA, evB := proxyA.Events(), proxyB.Events()
	lastApplyA, lastLeaseA := lastSeq(evA, isApply), lastSeq(evA, isLease)
	firstApplyB := firstSeq(evB, isApply)
	require.NotZero(t, lastApplyA)
	assert.Greater(t, lastLeaseA, lastApplyA, "the leader's last Lease write (its release) came after its last apply request")
	assert.Greater(t, firstApplyB, lastLeaseA, "the second replica applied before the first released the Lease")
	for _, e := range evA {
		if !e.End && e.Seq > firstApplyB && isApply(e) {
			t.Errorf("the first replica sent %s %s after the second one began to apply", e.Method, e.Path)
		}
	}
	assert.Contains(t, logsB.String(), "msg=leading")
	_ = b.Process.Signal(syscall.SIGTERM)
}

// TestLeaderKeepsLeaseUntilStopped: a leader whose run takes its time to
// stop after its context ended (an apply in hand) keeps the Lease while
// it does; the other replica, trying for the Lease again and again
// meanwhile (seen through its proxy), only starts once the first run
// returned.
func TestLeaderKeepsLeaseUntilStopped(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	o := elect.Options{Namespace: ns, Name: "trellis"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var running atomic.Int32
	var overlap atomic.Bool
	startedA, stoppingA, startedB := make(chan struct{}), make(chan struct{}), make(chan struct{})
	letGo := make(chan struct{}) // the apply in hand of A finishes
	ctxA, stopA := context.WithCancel(context.Background())
	defer stopA()
	doneA := make(chan error, 1)
	go func() {
		doneA <- elect.RunLeading(ctxA, o, cp.KubeconfigPath(), log, func(ctx context.Context) error {
			overlap.CompareAndSwap(false, running.Add(1) != 1)
			close(startedA)
			<-ctx.Done()
			close(stoppingA)
			<-letGo
			running.Add(-1)
			return nil
		})
	}()
	<-startedA

	proxyB := kubeproxy.Start(t, cp.RESTConfig())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	go func() {
		doneB <- elect.RunLeading(ctxB, o, proxyB.Kubeconfig(t, "b"), log, func(ctx context.Context) error {
			overlap.CompareAndSwap(false, running.Add(1) != 1)
			close(startedB)
			<-ctx.Done()
			running.Add(-1)
			return nil
		})
	}()

	stopA()
	<-stoppingA
	mark := len(proxyB.Events())
	proxyB.WaitFor(t, func() bool { return kubeproxy.Count(proxyB.Events()[mark:], isLease) >= 3 },
		"the second replica stopped trying for the Lease")
	select {
	case <-startedB:
		t.Fatal("the second replica started while the first one was still stopping")
	default:
	}
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "trellis", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, lease.Spec.HolderIdentity)
	assert.NotEmpty(t, *lease.Spec.HolderIdentity, "the Lease is still held by the replica stopping")

	close(letGo)
	require.NoError(t, <-doneA)
	select {
	case <-startedB:
	case <-time.After(time.Minute): // a guard
		t.Fatal("the second replica never took over")
	}
	stopB()
	require.NoError(t, <-doneB)
	assert.False(t, overlap.Load(), "two replicas ran at once")
}

// isLease reports whether e is a request of leader election.
func isLease(e kubeproxy.Event) bool { return strings.Contains(e.Path, "/leases") }

// isApply reports whether e is a request of the daemon (anything but
// leader election).
func isApply(e kubeproxy.Event) bool { return !isLease(e) }

// lastSeq is the sequence number of the last event matching match (the
// end of the request that ended last).
func lastSeq(ev []kubeproxy.Event, match func(kubeproxy.Event) bool) int64 {
	var last int64
	for _, e := range ev {
		if match(e) && e.Seq > last {
			last = e.Seq
		}
	}
	return last
}

// firstSeq is the sequence number of the first request matching match to
// begin.
func firstSeq(ev []kubeproxy.Event, match func(kubeproxy.Event) bool) int64 {
	for _, e := range ev {
		if !e.End && match(e) {
			return e.Seq
		}
	}
	return 0
}
