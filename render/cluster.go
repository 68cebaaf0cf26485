package render

import (
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Names of the objects a Cluster renders in each tenant namespace.
const (
	quotaName          = "trellis-quota"
	limitRangeName     = "trellis-limits"
	isolationName      = "trellis-isolation"
	applierBindingName = "trellis-applier"
	bindingPrefix      = "trellis-"
	applierRole        = "admin"
	rbacAPIVersion     = "rbac.authorization.k8s.io/v1"
	rbacGroup          = "rbac.authorization.k8s.io"
	labelNamespaceName = "kubernetes.io/metadata.name"
)

// renderCluster renders the tenant namespaces of Cluster name, in name
// order: for each, its Namespace, the ServiceAccount trellis impersonates
// to apply the namespace's objects (when set) with its RoleBinding, the
// ResourceQuota, the LimitRange, a RoleBinding per access entry and the
// NetworkPolicy that isolates it. Quota and limits that set nothing render
// nothing. The declaration's labels and annotations go on every object;
// the caller adds the common ones, such as the cluster name.
func renderCluster(name string, c *schema.Cluster) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, nsName := range sortedKeys(c.Spec.Namespaces) {
		t := tenant{name: nsName, ns: c.Spec.Namespaces[nsName], meta: c.Metadata, platform: c.Spec.PlatformNamespaces}
		out = append(out, t.render()...)
	}
	return out
}

// tenant is one tenant namespace being rendered.
type tenant struct {
	name     string
	ns       schema.Namespace
	meta     schema.Metadata
	platform []string // the cluster's platformNamespaces
}

// render returns the tenant's objects.
func (t tenant) render() []*unstructured.Unstructured {
	out := []*unstructured.Unstructured{t.namespace()}
	if t.ns.Applier() != "" {
		out = append(out, t.serviceAccount(), t.applierBinding())
	}
	if q := t.quota(); q != nil {
		out = append(out, q)
	}
	if l := t.limitRange(); l != nil {
		out = append(out, l)
	}
	out = append(out, t.accessBindings()...)
	if t.ns.Isolated {
		out = append(out, t.networkPolicy())
	}
	return out
}

// object returns a new object in the tenant namespace.
func (t tenant) object(apiVersion, kind, name string) *unstructured.Unstructured {
	return newObject(apiVersion, kind, t.name, name, t.meta.Labels, t.meta.Annotations)
}

// namespace returns the Namespace, with the namespace's own labels over
// the declaration's.
func (t tenant) namespace() *unstructured.Unstructured {
	labels := mergeStrings(katibNamespaceLabels, t.meta.Labels, t.ns.Labels)
	return newObject("v1", "Namespace", "", t.name, labels, t.meta.Annotations)
}

// katibNamespaceLabels turn on Katib's metrics collector in tenant
// namespaces: without it, trials' metrics are never collected.
var katibNamespaceLabels = map[string]string{"katib.kubeflow.org/metrics-collector-injection": "enabled"}

// serviceAccount returns the namespace's applier ServiceAccount.
func (t tenant) serviceAccount() *unstructured.Unstructured {
	return t.object("v1", "ServiceAccount", t.ns.Applier())
}

// applierBinding binds the applier ServiceAccount to ClusterRole admin in
// the namespace, so that trellis can apply through it.
func (t tenant) applierBinding() *unstructured.Unstructured {
	rb := t.object(rbacAPIVersion, "RoleBinding", applierBindingName)
	rb.Object["roleRef"] = roleRef(applierRole)
	rb.Object["subjects"] = []any{serviceAccountSubject(t.ns.Applier(), t.name)}
	return rb
}

// quota returns the ResourceQuota on the sum of requests, or nil when the
// quota sets nothing.
func (t tenant) quota() *unstructured.Unstructured {
	q := t.ns.Quota
	if q == nil {
		return nil
	}
	r := &schema.Resources{CPU: q.CPU, Memory: q.Memory}
	if q.GPU != nil {
		r.GPU = *q.GPU
	}
	hard := resourceList(r, "requests.")
	if hard == nil {
		hard = map[string]any{}
	}
	if q.GPU != nil && *q.GPU == 0 {
		hard["requests."+ResourceGPU] = "0" // a quota of no GPU at all
	}
	if q.Pods != nil {
		hard["pods"] = strconv.FormatInt(*q.Pods, 10)
	}
	if len(hard) == 0 {
		return nil
	}
	rq := t.object("v1", "ResourceQuota", quotaName)
	rq.Object["spec"] = map[string]any{"hard": hard}
	return rq
}

// limitRange returns the LimitRange of container defaults and maximums,
// or nil when the limits set nothing.
func (t tenant) limitRange() *unstructured.Unstructured {
	l := t.ns.Limits
	if l == nil {
		return nil
	}
	item := map[string]any{}
	setIf(item, "defaultRequest", resourceList(l.DefaultRequest, ""))
	setIf(item, "default", resourceList(l.Default, ""))
	setIf(item, "max", resourceList(l.Max, ""))
	if len(item) == 0 {
		return nil
	}
	item["type"] = "Container"
	lr := t.object("v1", "LimitRange", limitRangeName)
	lr.Object["spec"] = map[string]any{"limits": []any{item}}
	return lr
}

// accessBindings returns one RoleBinding per access entry, named
// trellis-ROLE, with -2, -3... added when a name is already taken.
func (t tenant) accessBindings() []*unstructured.Unstructured {
	used := map[string]bool{applierBindingName: t.ns.Applier() != ""}
	var out []*unstructured.Unstructured
	for _, a := range t.ns.Access {
		name := bindingPrefix + a.Role
		for i := 2; used[name]; i++ {
			name = bindingPrefix + a.Role + "-" + strconv.Itoa(i)
		}
		used[name] = true
		rb := t.object(rbacAPIVersion, "RoleBinding", name)
		rb.Object["roleRef"] = roleRef(a.Role)
		setIf(rb.Object, "subjects", t.subjects(a))
		out = append(out, rb)
	}
	return out
}

// subjects returns the users, groups and service accounts of an access
// entry, in that order.
func (t tenant) subjects(a schema.Access) []any {
	var out []any
	for _, u := range a.Users {
		out = append(out, map[string]any{"kind": "User", "apiGroup": rbacGroup, "name": u})
	}
	for _, g := range a.Groups {
		out = append(out, map[string]any{"kind": "Group", "apiGroup": rbacGroup, "name": g})
	}
	for _, sa := range a.ServiceAccounts {
		out = append(out, serviceAccountSubject(sa, t.name))
	}
	return out
}

// networkPolicy returns the policy that admits ingress only from pods of
// the namespace, of the platform's namespaces (whose controllers call into
// tenant namespaces: Katib's suggestion services, KServe predictors behind
// Knative's activator and the ingress gateway) and of the namespaces in
// allowFrom.
func (t tenant) networkPolicy() *unstructured.Unstructured {
	from := []any{map[string]any{"podSelector": map[string]any{}}}
	seen := map[string]bool{t.name: true}
	for _, ns := range slices.Sorted(slices.Values(append(slices.Clone(t.platform), t.ns.AllowFrom...))) {
		if seen[ns] {
			continue
		}
		seen[ns] = true
		from = append(from, map[string]any{"namespaceSelector": map[string]any{
			"matchLabels": map[string]any{labelNamespaceName: ns},
		}})
	}
	np := t.object("networking.k8s.io/v1", "NetworkPolicy", isolationName)
	np.Object["spec"] = map[string]any{
		"podSelector": map[string]any{},
		"policyTypes": []any{"Ingress"},
		"ingress":     []any{map[string]any{"from": from}},
	}
	return np
}

// roleRef refers to a ClusterRole.
func roleRef(role string) map[string]any {
	return map[string]any{"apiGroup": rbacGroup, "kind": "ClusterRole", "name": role}
}

// serviceAccountSubject is a RoleBinding subject for a service account.
func serviceAccountSubject(name, namespace string) map[string]any {
	return map[string]any{"kind": "ServiceAccount", "name": name, "namespace": namespace}
}
