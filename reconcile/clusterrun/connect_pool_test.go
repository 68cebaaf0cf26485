package clusterrun

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
	"trellis.dev/trellis/test/kubeproxy"
)

// TestConnectorSlowHomeCluster: the home cluster hangs while a cluster's
// kubeconfig Secret is read from it. Another cluster connects meanwhile
// and is reachable; a second caller for the hanging cluster gives up when
// its context ends; cancelling the first caller's context ends the read
// of the Secret at once (shutdown does not wait for it).
func TestPoolSlowHomeCluster(t *testing.T) {
	ns := cp.Namespace(t)
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	kubeconfig, err := os.ReadFile(cp.KubeconfigPath())
	require.NoError(t, err)
	_, err = kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "remote", Namespace: ns}, Data: map[string][]byte{"kubeconfig": kubeconfig}},
		metav1.CreateOptions{})
	require.NoError(t, err)

	home := kubeproxy.Start(t, cp.RESTConfig())
	home.Hold(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/secrets/") })
	conn := NewPool(home.Kubeconfig(t, "trellis-test"))
	remote := render.Cluster{Name: "remote", Spec: schema.ClusterSpec{
		KubeconfigSecret: &schema.SecretKeyRef{Namespace: ns, Name: "remote"}}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := make(chan error, 1)
	go func() { _, err := conn.Connect(ctx, remote); slow <- err }()
	home.WaitFor(t, func() bool { return home.Holding() == 1 }, "the Secret was never read")

	// Another cluster, reached through a context, connects and answers.
	var other *reconcile.Client
	connected := make(chan error, 1)
	go func() {
		var err error
		other, err = conn.Connect(context.Background(), render.Cluster{Name: "other", Spec: schema.ClusterSpec{Context: "trellis-test"}})
		connected <- err
	}()
	require.NoError(t, waitErr(t, connected), "the other cluster waited for the hanging one")
	_, err = other.Discovery.ServerVersion()
	require.NoError(t, err, "the other cluster is reachable while the home cluster hangs")

	// A second caller of the hanging cluster waits for the first, and
	// gives up with its own context.
	short, stop := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { _, err := conn.Connect(short, remote); second <- err }()
	stop()
	require.ErrorIs(t, waitErr(t, second), context.Canceled)

	cancel()
	require.ErrorIs(t, waitErr(t, slow), context.Canceled)
	home.WaitFor(t, func() bool { return home.Holding() == 0 }, "the Secret's read was not cancelled")

	// Once the home cluster answers again, the cluster connects.
	home.Resume()
	client, err := conn.Connect(context.Background(), remote)
	require.NoError(t, err)
	_, err = client.Discovery.ServerVersion()
	assert.NoError(t, err)
}

// waitErr returns the error sent on ch, failing after a minute (a guard).
func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatal("still waiting after a minute")
		return nil
	}
}
