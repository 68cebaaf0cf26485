package render

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Tenancy: a Cluster's namespace may list paths, directories of the repo
// that belong to its tenant. When any namespace does, the repo is
// multi-tenant, and a file under a tenant path (a YAML or JSON file, a CUE
// package's directory, a kustomization) may produce only namespaced
// objects in the namespaces whose paths include it:
//
//   - no Cluster declaration;
//   - no object without a namespace, and no object of a kind known to be
//     cluster-scoped;
//   - no object in another namespace, or another cluster;
//   - no label or annotation under trellis.dev/ that trellis itself sets
//     (only trellis.dev/cluster, to assign a manifest, and the
//     trellis.dev/prune and trellis.dev/adopt policies are the user's).
//
// Files outside every tenant path are the platform's. kube-system,
// kube-public, kube-node-lease and trellis-system are never tenant
// namespaces (nor any namespace of a Cluster). A tenant namespace's
// objects are applied as its service account (schema.Namespace.Applier),
// which is what makes these rules hold in the cluster too; this check
// makes them fail early, at validate, with positions.
//
// The check runs in Load, so validate, render, diff, apply and every pull
// request check run it.

// tenantPath is one path of one tenant namespace.
type tenantPath struct {
	dir       string // relative to the repo, '/'-separated, clean
	cluster   string
	namespace string
}

// userTrellisKeys are the trellis.dev/ annotations a tenant may set.
var userTrellisKeys = map[string]bool{
	LabelCluster:        true, // the annotation that assigns a manifest to a cluster
	AnnotationPrune:     true,
	"trellis.dev/adopt": true,
}

// checkTenancy checks the Cluster declarations' namespaces and paths, and,
// in a multi-tenant repo, every declaration and manifest under a tenant
// path.
func (l *loader) checkTenancy(clusters map[string]*schema.Cluster) {
	tenants := l.tenantPaths()
	if len(tenants) == 0 {
		return
	}
	for _, d := range l.repo.Declarations {
		for _, origin := range declOrigins(d) {
			if owners := ownersOf(tenants, origin); len(owners) > 0 {
				l.checkTenantDeclaration(d, origin, owners)
			}
		}
	}
	for _, m := range l.repo.Manifests {
		if owners := ownersOf(tenants, m.Path); len(owners) > 0 {
			l.checkTenantManifest(m, owners)
		}
	}
}

// tenantPaths checks each Cluster's namespaces (never a system namespace)
// and paths (clean directories inside the repo), and returns the valid
// paths.
func (l *loader) tenantPaths() []tenantPath {
	var out []tenantPath
	for _, d := range l.repo.Declarations {
		c, ok := d.spec.(*schema.Cluster)
		if !ok {
			continue
		}
		for _, ns := range sortedKeys(c.Spec.Namespaces) {
			nsPath := cue.MakePath(cue.Str("spec"), cue.Str("namespaces"), cue.Str(ns))
			if slices.Contains(schema.SystemNamespaces, ns) {
				l.errs.addf(d.pos(nsPath), "spec.namespaces.%s: %s is a system namespace: it can never be a tenant namespace", ns, ns)
				continue
			}
			for i, p := range c.Spec.Namespaces[ns].Paths {
				dir, err := cleanTenantPath(p)
				if err != nil {
					l.errs.addf(d.pos(cue.MakePath(cue.Str("spec"), cue.Str("namespaces"), cue.Str(ns), cue.Str("paths"), cue.Index(i))),
						"spec.namespaces.%s.paths[%d]: %v", ns, i, err)
					continue
				}
				out = append(out, tenantPath{dir: dir, cluster: d.Name, namespace: ns})
			}
		}
	}
	return out
}

// cleanTenantPath returns p as a clean directory relative to the repo, or
// why it is not one.
func cleanTenantPath(p string) (string, error) {
	clean := path.Clean(strings.TrimSuffix(p, "/"))
	switch {
	case strings.Contains(p, "\\"):
		return "", fmt.Errorf("%q: use / in paths", p)
	case path.IsAbs(p):
		return "", fmt.Errorf("%q: a path is relative to the repo's root", p)
	case clean == "." || clean == "":
		return "", fmt.Errorf("%q: the whole repo cannot be a tenant's (the platform's files would be)", p)
	case clean == ".." || strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("%q: leaves the repo", p)
	}
	return clean, nil
}

// declOrigins are the places a declaration comes from: its file, and the
// directory of its CUE package (a value there may be built from files of
// another directory; both must be allowed).
func declOrigins(d *Declaration) []string {
	if d.pkgDir == "" || d.pkgDir == "." || under(d.Path, d.pkgDir) {
		return []string{d.Path}
	}
	return []string{d.Path, d.pkgDir}
}

// under reports whether the repo-relative path p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// ownersOf returns the tenant paths that hold p.
func ownersOf(tenants []tenantPath, p string) []tenantPath {
	var out []tenantPath
	for _, t := range tenants {
		if under(p, t.dir) {
			out = append(out, t)
		}
	}
	return out
}

// allows reports whether owners may write namespace ns of cluster.
func allows(owners []tenantPath, cluster, ns string) bool {
	for _, o := range owners {
		if o.cluster == cluster && o.namespace == ns {
			return true
		}
	}
	return false
}

// describe is "tenant path teams/nlp (namespace nlp of cluster prod, ...)".
func describe(owners []tenantPath) string {
	dirs := map[string]bool{}
	var nss []string
	for _, o := range owners {
		dirs[o.dir] = true
		nss = append(nss, fmt.Sprintf("namespace %s of cluster %s", o.namespace, o.cluster))
	}
	sort.Strings(nss)
	return fmt.Sprintf("tenant path %s (%s)", strings.Join(sortedKeys(dirs), ", "), strings.Join(slices.Compact(nss), ", "))
}

// checkTenantDeclaration checks a declaration that comes from origin,
// under owners' paths.
func (l *loader) checkTenantDeclaration(d *Declaration, origin string, owners []tenantPath) {
	where := origin
	if origin != d.Path {
		where = "CUE package " + origin
	}
	if d.Kind == schema.KindCluster {
		l.errs.addf(d.origin.value().Pos(), "a Cluster cannot be declared in %s, under %s: Cluster declarations come only from platform files", where, describe(owners))
		return
	}
	if !allows(owners, d.Cluster, d.Namespace) {
		l.errs.addf(d.pos(pathNamespace), "spec.namespace: namespace %s of cluster %s is not a namespace of %s, where %s is",
			d.Namespace, d.Cluster, describe(owners), where)
	}
	md := declMetadata(d)
	if md == nil {
		return
	}
	for _, field := range []string{"labels", "annotations"} {
		m := md.Labels
		if field == "annotations" {
			m = md.Annotations
		}
		for _, key := range sortedKeys(m) {
			if reservedKey(key, field == "annotations") {
				l.errs.addf(d.pos(cue.MakePath(cue.Str("metadata"), cue.Str(field), cue.Str(key))),
					"metadata.%s: %s is set by trellis: a tenant's declaration (%s) may not set it", field, key, describe(owners))
			}
		}
	}
}

// reservedKey reports whether key is a trellis.dev/ label or annotation
// that trellis sets, which a tenant may not.
func reservedKey(key string, annotation bool) bool {
	if !strings.HasPrefix(key, "trellis.dev/") {
		return false
	}
	return !(annotation && userTrellisKeys[key])
}

// checkTenantManifest checks a plain manifest (or a kustomization's
// output) under owners' paths. Its problems are one error, at the
// document's position.
func (l *loader) checkTenantManifest(m *Manifest, owners []tenantPath) {
	obj := m.Object
	ns := obj.GetNamespace()
	var problems []string
	switch {
	case clusterScoped(obj):
		problems = append(problems, "it is cluster-scoped; cluster-scoped objects come only from platform files")
	case ns == "":
		problems = append(problems, "it has no metadata.namespace")
	case !allows(owners, m.Cluster, ns):
		problems = append(problems, fmt.Sprintf("namespace %s of cluster %s is not one of them", ns, m.Cluster))
	}
	var keys []string
	for _, key := range sortedKeys(obj.GetLabels()) {
		if reservedKey(key, false) {
			keys = append(keys, "label "+key)
		}
	}
	for _, key := range sortedKeys(obj.GetAnnotations()) {
		if reservedKey(key, true) {
			keys = append(keys, "annotation "+key)
		}
	}
	if len(keys) > 0 {
		problems = append(problems, strings.Join(keys, ", ")+" may be set by trellis only")
	}
	if len(problems) > 0 {
		l.errs.addf(m.pos, "%s: %s may hold only namespaced objects in its namespaces: %s",
			objectDesc(obj), describe(owners), strings.Join(problems, "; "))
	}
}

// objectDesc is "Kind.group/name" for messages.
func objectDesc(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	if gvk.Group == "" {
		return gvk.Kind + "/" + obj.GetName()
	}
	return gvk.Kind + "." + gvk.Group + "/" + obj.GetName()
}

// clusterScopedKinds are the built-in kinds (group/Kind) that have no
// namespace, and those of the Kubeflow stack's CRDs. A cluster-scoped kind
// of another CRD, with a namespace set, is refused by the apiserver, and
// its write by the tenant's service account in any case.
var clusterScopedKinds = map[string]bool{
	"/Namespace": true, "/Node": true, "/PersistentVolume": true, "/ComponentStatus": true,
	"rbac.authorization.k8s.io/ClusterRole": true, "rbac.authorization.k8s.io/ClusterRoleBinding": true,
	"apiextensions.k8s.io/CustomResourceDefinition":                 true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration":   true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":     true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicy":        true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding": true,
	"admissionregistration.k8s.io/MutatingAdmissionPolicy":          true,
	"admissionregistration.k8s.io/MutatingAdmissionPolicyBinding":   true,
	"apiregistration.k8s.io/APIService":                             true,
	"storage.k8s.io/StorageClass":                                   true, "storage.k8s.io/CSIDriver": true, "storage.k8s.io/CSINode": true,
	"storage.k8s.io/VolumeAttachment": true, "storage.k8s.io/VolumeAttributesClass": true,
	"scheduling.k8s.io/PriorityClass": true, "node.k8s.io/RuntimeClass": true,
	"networking.k8s.io/IngressClass": true, "networking.k8s.io/IPAddress": true, "networking.k8s.io/ServiceCIDR": true,
	"certificates.k8s.io/CertificateSigningRequest": true, "certificates.k8s.io/ClusterTrustBundle": true,
	"flowcontrol.apiserver.k8s.io/FlowSchema": true, "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration": true,
	"resource.k8s.io/DeviceClass":                 true,
	"argoproj.io/ClusterWorkflowTemplate":         true,
	"serving.kserve.io/ClusterServingRuntime":     true,
	"serving.kserve.io/ClusterStorageContainer":   true,
	"trainer.kubeflow.org/ClusterTrainingRuntime": true,
}

// clusterScoped reports whether obj is of a kind known to be
// cluster-scoped.
func clusterScoped(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return clusterScopedKinds[gvk.Group+"/"+gvk.Kind]
}

// declMetadata is the metadata of a namespaced declaration, nil for a
// Cluster.
func declMetadata(d *Declaration) *schema.Metadata {
	switch spec := d.spec.(type) {
	case *schema.Pipeline:
		return &spec.Metadata
	case *schema.Experiment:
		return &spec.Metadata
	case *schema.Endpoint:
		return &spec.Metadata
	}
	return nil
}
