package clusterrun

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// Pool is the daemon's connector: it makes and keeps one client per
// cluster, so that discovery and OpenAPI schemas are fetched once, not at
// every apply. Each cluster is connected under a lock of its own, so that
// a slow cluster (or a slow read of its kubeconfig Secret) holds up nobody
// else, and the caller's context cancels the wait and the reads. It is
// safe for concurrent use.
type Pool struct {
	kubeconfig string
	mu         sync.Mutex
	slots      map[string]*poolSlot
}

// poolSlot is one cluster's client; lock is a one-token semaphore that a
// waiting caller can give up on.
type poolSlot struct {
	lock   chan struct{}
	client *reconcile.Client
}

// NewPool returns a Pool that reaches clusters through kubeconfig (empty:
// kubectl's default files) and their kubeconfig Secrets.
func NewPool(kubeconfig string) *Pool {
	return &Pool{kubeconfig: kubeconfig, slots: map[string]*poolSlot{}}
}

// restConfig reaches a cluster: through its kubeconfig Secret (see
// connect_secret.go); else through the kubeconfig's context for it (see
// KubeConfig): the context spec.context names (default the cluster's
// name), or, for "in-cluster" only, the cluster trellis runs in. A context
// that is not found is an error, never another cluster.
func (c *Pool) restConfig(ctx context.Context, cluster render.Cluster) (*rest.Config, error) {
	if cluster.Spec.KubeconfigSecret != nil {
		return c.secretConfig(ctx, cluster)
	}
	cfg, _, err := KubeConfig(Kube{Kubeconfig: c.kubeconfig}, cluster)
	return cfg, err
}

// Forget drops the client of a cluster, so that the next Connect
// discovers it anew (and reads its kubeconfig Secret again). A client
// being connected right now is the new one and stays.
func (c *Pool) Forget(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, slot := range c.slots {
		if strings.HasPrefix(key, cluster+"\x00") {
			select {
			case slot.lock <- struct{}{}: // not being connected: drop it
				delete(c.slots, key)
				<-slot.lock
			default:
			}
		}
	}
}

// slot returns the slot of key, made on first use.
func (c *Pool) slot(key string) *poolSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.slots[key]
	if !ok {
		s = &poolSlot{lock: make(chan struct{}, 1)}
		c.slots[key] = s
	}
	return s
}

// Connect returns the client of cluster, made at the first call and kept
// until Forget. It waits for no other cluster; ctx ends the wait for this
// cluster's slot and the read of its kubeconfig Secret.
func (c *Pool) Connect(ctx context.Context, cluster render.Cluster) (*reconcile.Client, error) {
	s := c.slot(cluster.Name + "\x00" + cluster.Spec.Context)
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("cluster %s: %w", cluster.Name, context.Cause(ctx))
	}
	defer func() { <-s.lock }()
	if s.client != nil {
		return s.client, nil
	}
	cfg, err := c.restConfig(ctx, cluster)
	if err != nil {
		return nil, err
	}
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s.client = cl
	return cl, nil
}
