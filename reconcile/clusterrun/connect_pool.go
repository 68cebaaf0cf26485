package clusterrun

import (
	"strings"
	"sync"

	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// Pool is the daemon's connector: it makes and keeps one client per
// cluster, so that discovery and OpenAPI schemas are fetched once, not at
// every apply. It is safe for concurrent use.
type Pool struct {
	kubeconfig string
	mu         sync.Mutex
	clients    map[string]*reconcile.Client
}

// NewPool returns a Pool that reaches clusters through kubeconfig (empty:
// kubectl's default files) and their kubeconfig Secrets.
func NewPool(kubeconfig string) *Pool {
	return &Pool{kubeconfig: kubeconfig, clients: map[string]*reconcile.Client{}}
}

// restConfig reaches a cluster: through its kubeconfig Secret (see
// connect_secret.go); else through the kubeconfig's context for it (see
// KubeConfig): the context spec.context names (default the cluster's
// name), or, for "in-cluster" only, the cluster trellis runs in. A context
// that is not found is an error, never another cluster.
func (c *Pool) restConfig(cluster render.Cluster) (*rest.Config, error) {
	if cluster.Spec.KubeconfigSecret != nil {
		return c.secretConfig(cluster)
	}
	cfg, _, err := KubeConfig(c.kubeconfig, "", cluster)
	return cfg, err
}

// Forget drops the client of a cluster, so that the next Connect
// discovers it anew (and reads its kubeconfig Secret again).
func (c *Pool) Forget(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.clients {
		if strings.HasPrefix(key, cluster+"\x00") {
			delete(c.clients, key)
		}
	}
}

// Connect returns the client of cluster, made at the first call and kept
// until Forget.
func (c *Pool) Connect(cluster render.Cluster) (*reconcile.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cluster.Name + "\x00" + cluster.Spec.Context
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cfg, err := c.restConfig(cluster)
	if err != nil {
		return nil, err
	}
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.clients[key] = cl
	return cl, nil
}
