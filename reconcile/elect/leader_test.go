package elect

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestLeaderElection: of two replicas, one runs at a time; when the leader
// stops (releasing its Lease), the other takes over.
func TestLeaderElection(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	o := Options{Namespace: ns, Name: "trellis"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var running atomic.Int32
	started := make(chan string, 2)
	replica := func(ctx context.Context, name string) func(context.Context) error {
		return func(ctx context.Context) error {
			require.Equal(t, int32(1), running.Add(1), "two replicas ran at once")
			started <- name
			<-ctx.Done()
			running.Add(-1)
			return nil
		}
	}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- RunLeading(ctxA, o, cp.KubeconfigPath(), log, replica(ctxA, "a")) }()
	require.Equal(t, "a", <-started)

	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	go func() { doneB <- RunLeading(ctxB, o, cp.KubeconfigPath(), log, replica(ctxB, "b")) }()

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "trellis", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, lease.Spec.HolderIdentity)

	stopA()
	require.NoError(t, <-doneA)
	select {
	case name := <-started:
		require.Equal(t, "b", name)
	case <-time.After(time.Minute):
		t.Fatal("the second replica never took over")
	}
	stopB()
	require.NoError(t, <-doneB)
}
