package reconcile

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

// Impersonation: a Cluster declaration may name, per tenant namespace, a
// serviceAccount that applies the namespace's objects. Objects in that
// namespace that do not come from the Cluster declaration itself are then
// written by a client impersonating system:serviceaccount:<ns>:<sa>, so a
// team's declarations get exactly the rights of that service account (the
// Cluster binds it to ClusterRole admin in its namespace): nothing
// cluster-wide, nothing in other namespaces. The Cluster declaration's own
// objects (the Namespace, quota, limits, RBAC, the ServiceAccount and its
// binding) are written by the admin identity, in earlier phases. Reads
// (the Lists that find live objects) stay with the admin identity.

// clusterDeclarationPrefix starts the trellis.dev/declaration annotation
// of the objects a Cluster declaration renders.
const clusterDeclarationPrefix = "Cluster/"

// fromClusterDeclaration reports whether obj was rendered from a Cluster
// declaration.
func fromClusterDeclaration(obj *unstructured.Unstructured) bool {
	return strings.HasPrefix(obj.GetAnnotations()[render.AnnotationDecl], clusterDeclarationPrefix)
}

// impersonatedUser returns the user that writes obj: the service account
// its namespace declares, or "" for the admin identity.
func impersonatedUser(spec schema.ClusterSpec, obj *unstructured.Unstructured) string {
	ns := obj.GetNamespace()
	if ns == "" || fromClusterDeclaration(obj) {
		return ""
	}
	sa := spec.Namespaces[ns].Applier()
	if sa == "" {
		return ""
	}
	return "system:serviceaccount:" + ns + ":" + sa
}

// identities hands out a dynamic client per identity, made once per
// Apply. Their requests are not rate-limited on the client side: Apply
// bounds its load by the number of requests in flight (Options.Concurrency),
// and the apiserver's priority and fairness does the rest; a token bucket
// on top would only add latency (at the Client's 200 requests per second,
// 1,000 writes take 3 s instead of 1 s).
type identities struct {
	c      *Client
	mu     sync.Mutex
	byUser map[string]dynamic.Interface
}

func newIdentities(c *Client) *identities {
	return &identities{c: c, byUser: map[string]dynamic.Interface{}}
}

// dynamicFor returns the dynamic client that acts as user, or as the
// admin identity when user is "".
func (ids *identities) dynamicFor(user string) (dynamic.Interface, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if d, ok := ids.byUser[user]; ok {
		return d, nil
	}
	cfg := rest.CopyConfig(ids.c.Config)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil // no client-side rate limit
	if user != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("identity %q: %w", user, err)
	}
	ids.byUser[user] = d
	return d, nil
}
