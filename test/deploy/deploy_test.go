// Package deploy tests the manifests of deploy/ that run trellis in a
// cluster: the kustomization builds; every object passes a server-side dry
// run with strict field validation on a real kube-apiserver (and
// `kubectl apply -k --dry-run=server` when kubectl is installed); the
// ClusterRole is least-privilege; and it is enough: trellis's service
// account applies the examples' declarations, prunes, and leads, with the
// rights of deploy/ alone.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
	"trellis.dev/trellis/test/controlplane"
)

// The names deploy/ gives trellis.
const (
	namespace      = "trellis-system"
	serviceAccount = "trellis"
	fieldManager   = "trellis-deploy-test"
)

// cp is the control plane shared by the tests of this package: a real
// etcd and kube-apiserver with the upstream CRDs, started once.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error {
			cp = c
			return c.AggregateAdmin()
		}))
}

// repoPath returns a path of the repository, from this package's directory.
func repoPath(t testing.TB, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, elem...)...))
	require.NoError(t, err)
	return p
}

// buildDeploy builds the kustomization of dir as kubectl's kustomize
// would, with plugins disabled, and returns its objects in order.
func buildDeploy(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.PluginConfig = kustypes.DisabledPluginConfig()
	resources, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var objs []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		m, err := r.Map()
		require.NoError(t, err)
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	require.NotEmpty(t, objs)
	return objs
}

// readObjects reads the YAML documents of a file of deploy/ that is not in
// the kustomization.
func readObjects(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var objs []*unstructured.Unstructured
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		o := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &o.Object), path)
		if len(o.Object) > 0 {
			objs = append(objs, o)
		}
	}
	return objs
}

// find returns the object of kind and name among objs, as a T.
func find[T any](t testing.TB, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			out := new(T)
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out), "%s/%s", kind, name)
			return out
		}
	}
	t.Fatalf("deploy/ has no %s/%s", kind, name)
	return nil
}

// applier sends objects with server-side apply, through a RESTMapper
// built from the apiserver's discovery.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newApplier(t testing.TB, cfg *rest.Config) *applier {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

// apply applies obj, as a server-side dry run when dryRun is set, with
// strict field validation: an unknown or duplicate field is an error.
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", gvk.Kind, obj.GetName(), err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force, FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("%s/%s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// warnings collects the apiserver's warnings (deprecations, Pod Security
// admission, ...).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

// createNamespace creates trellis-system for real, from deploy/, so that
// the namespaced objects can be dry-run in it.
func createNamespace(t testing.TB, a *applier, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			require.NoError(t, a.apply(context.Background(), o, false))
		}
	}
}

// TestDeployDryRun builds deploy/ and sends every object as a server-side
// dry run with strict field validation: each must be accepted, without a
// warning (the Namespace enforces the restricted Pod Security Standard, so
// a Deployment that breaks it is warned about). `kubectl apply -k
// --dry-run=server` must succeed too, when kubectl is installed.
func TestDeployDryRun(t *testing.T) {
	cp.Require(t)
	deployDir := repoPath(t, "deploy")
	objs := buildDeploy(t, deployDir)
	cfg := cp.RESTConfig()
	warned := &warnings{}
	cfg.WarningHandler = warned
	a := newApplier(t, cfg)
	createNamespace(t, a, objs)

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		assert.NoError(t, a.apply(context.Background(), o, true))
	}
	assert.Equal(t, map[string]int{
		"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
		"Role": 1, "RoleBinding": 1, "ConfigMap": 2, "Deployment": 1, "Service": 1,
	}, kinds)
	assert.Empty(t, warned.msgs, "warnings of the apiserver")

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl is not installed: skipping `kubectl apply -k --dry-run=server`")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", cp.KubeconfigPath(),
		"apply", "-k", deployDir, "--dry-run=server").CombinedOutput()
	require.NoError(t, err, "kubectl apply -k deploy/ --dry-run=server:\n%s", out)
	t.Logf("kubectl apply -k deploy/ --dry-run=server:\n%s", out)
}

// TestClusterRoleIsLeastPrivilege checks the RBAC of deploy/ without a
// cluster: no wildcards, no Secrets cluster-wide, `bind` and `escalate`
// only on the ClusterRoles admin, edit and view, impersonation of service
// accounts only, and Secrets in trellis-system read by name only.
func TestClusterRoleIsLeastPrivilege(t *testing.T) {
	objs := buildDeploy(t, repoPath(t, "deploy"))
	role := find[rbacv1.ClusterRole](t, objs, "ClusterRole", "trellis")
	require.NotEmpty(t, role.Rules)
	bindable := []string{"admin", "edit", "view"}
	for i, r := range role.Rules {
		where := fmt.Sprintf("ClusterRole trellis, rule %d (%v %v %v)", i, r.APIGroups, r.Resources, r.Verbs)
		for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			assert.NotContains(t, field, rbacv1.APIGroupAll, "%s: a wildcard", where)
		}
		assert.NotContains(t, r.NonResourceURLs, "*", "%s: every non-resource URL", where)
		for _, res := range r.Resources {
			assert.False(t, res == "secrets" || strings.HasPrefix(res, "secrets/"), "%s: Secrets cluster-wide", where)
		}
		for _, v := range r.Verbs {
			switch v {
			case "bind", "escalate":
				assert.Equal(t, []string{"rbac.authorization.k8s.io"}, r.APIGroups, where)
				assert.Equal(t, []string{"clusterroles"}, r.Resources, where)
				assert.NotEmpty(t, r.ResourceNames, "%s: %s on every ClusterRole", where, v)
				for _, name := range r.ResourceNames {
					assert.Contains(t, bindable, name, "%s: %s on ClusterRole %s", where, v, name)
				}
			case "impersonate":
				assert.Equal(t, []string{""}, r.APIGroups, where)
				assert.Equal(t, []string{"serviceaccounts"}, r.Resources, "%s: impersonates more than service accounts", where)
				assert.Equal(t, []string{schema.DefaultApplier}, r.ResourceNames, "%s: impersonates other service accounts than the appliers trellis creates", where)
			case "get", "list", "create", "patch", "delete":
			default:
				t.Errorf("%s: verb %q is not needed", where, v)
			}
		}
	}

	// Secrets: in trellis-system only, by name (get), never listed.
	ns := find[rbacv1.Role](t, objs, "Role", "trellis")
	assert.Equal(t, namespace, ns.Namespace)
	for _, r := range ns.Rules {
		assert.NotContains(t, r.Verbs, rbacv1.VerbAll)
		assert.NotContains(t, r.Resources, rbacv1.ResourceAll)
		if slices.Contains(r.Resources, "secrets") {
			assert.Equal(t, []string{"get"}, r.Verbs, "Role trellis: Secrets may only be read by name")
		}
	}

	// The bindings grant these roles to trellis's ServiceAccount, nothing else.
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}}
	crb := find[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "trellis")
	assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "trellis"}, crb.RoleRef)
	assert.Equal(t, subject, crb.Subjects)
	rb := find[rbacv1.RoleBinding](t, objs, "RoleBinding", "trellis")
	assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "trellis"}, rb.RoleRef)
	assert.Equal(t, subject, rb.Subjects)
}

// TestDeploymentIsHardened checks the Deployment without a cluster: it runs
// as trellis's ServiceAccount, non-root, read-only, without capabilities,
// with probes and resources, leader election and JSON logs; its Secrets
// are optional and mounted where its flags read them.
func TestDeploymentIsHardened(t *testing.T) {
	objs := buildDeploy(t, repoPath(t, "deploy"))
	c := assertHardened(t, objs, 1)
	assert.Contains(t, c.Args, "--leader-elect")
	assert.NotContains(t, strings.Join(c.Args, " "), "--shards")
}

// assertHardened checks the Deployment trellis of objs (see
// TestDeploymentIsHardened) and returns its container.
func assertHardened(t *testing.T, objs []*unstructured.Unstructured, replicas int32) corev1.Container {
	t.Helper()
	d := find[appsv1.Deployment](t, objs, "Deployment", "trellis")
	assert.Equal(t, namespace, d.Namespace)
	assert.Equal(t, replicas, *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	assert.Equal(t, serviceAccount, pod.ServiceAccountName)
	require.NotNil(t, pod.SecurityContext)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, *sc.RunAsNonRoot)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "100m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "256Mi", c.Resources.Requests.Memory().String())
	assert.Equal(t, "1", c.Resources.Limits.Cpu().String())
	assert.Equal(t, "1Gi", c.Resources.Limits.Memory().String())
	assert.Equal(t, "serve", c.Args[0])
	for _, arg := range []string{"--log-format=json", "--state-dir=/var/lib/trellis", "--repo=$(TRELLIS_REPO)"} {
		assert.Contains(t, c.Args, arg)
	}

	// Every file a flag names is on a volume the container mounts.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, arg := range c.Args {
		flag, path, ok := strings.Cut(arg, "=")
		if !ok || !strings.HasSuffix(flag, "-file") && flag != "--kubeconfig" && flag != "--state-dir" {
			continue
		}
		found := false
		for name, dir := range mounts {
			if path == dir || strings.HasPrefix(path, dir+"/") {
				found = true
				assert.Contains(t, volumes, name, "%s: volume %s", flag, name)
			}
		}
		assert.True(t, found, "%s=%s is on no mounted volume", flag, path)
	}

	// Secrets are optional, so that trellis installs before they exist.
	secrets := map[string]string{}
	for _, v := range pod.Volumes {
		if s := v.Secret; s != nil {
			require.NotNil(t, s.Optional, "volume %s", v.Name)
			assert.True(t, *s.Optional, "volume %s: Secret %s is not optional", v.Name, s.SecretName)
			for _, item := range s.Items {
				secrets[s.SecretName] = item.Key
			}
		}
	}
	assert.Equal(t, map[string]string{"trellis-git": "token", "trellis-webhook": "secret", "trellis-github": "token", "trellis-notify": "notify.yaml", "trellis-sops": "keys.txt"}, secrets)

	// The repo comes from ConfigMap trellis-config, which has every key the
	// container reads.
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "trellis-config")
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			ref := e.ValueFrom.ConfigMapKeyRef
			assert.Equal(t, "trellis-config", ref.Name, e.Name)
			assert.Contains(t, cm.Data, ref.Key, e.Name)
		}
	}
	return c
}

// TestKubeconfigIsInCluster checks the kubeconfig of ConfigMap
// trellis-kubeconfig: its current context is the cluster trellis runs in,
// reached as trellis's ServiceAccount through the files the kubelet mounts,
// so it holds no credential; and the Deployment reads it where it mounts
// it.
func TestKubeconfigIsInCluster(t *testing.T) {
	objs := buildDeploy(t, repoPath(t, "deploy"))
	cm := find[corev1.ConfigMap](t, objs, "ConfigMap", "trellis-kubeconfig")
	cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
	require.NoError(t, err)
	ctx := cfg.Contexts[cfg.CurrentContext]
	require.NotNil(t, ctx, "current context %q", cfg.CurrentContext)
	const saDir = "/var/run/secrets/kubernetes.io/serviceaccount/"
	assert.Equal(t, "https://kubernetes.default.svc", cfg.Clusters[ctx.Cluster].Server)
	assert.Equal(t, saDir+"ca.crt", cfg.Clusters[ctx.Cluster].CertificateAuthority)
	user := cfg.AuthInfos[ctx.AuthInfo]
	assert.Equal(t, saDir+"token", user.TokenFile)
	assert.Empty(t, user.Token)
	assert.Empty(t, user.ClientKeyData)
	assert.Empty(t, user.Password)

	d := find[appsv1.Deployment](t, objs, "Deployment", "trellis")
	c := d.Spec.Template.Spec.Containers[0]
	assert.Contains(t, c.Args, "--kubeconfig=/etc/trellis/kubeconfig/kubeconfig")
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "kubeconfig", MountPath: "/etc/trellis/kubeconfig", ReadOnly: true})
}

// TestClusterRoleSuffices applies deploy/'s RBAC for real and acts as
// trellis's ServiceAccount, with a token of its own: it applies both
// clusters of examples/ (the prod one impersonating the vision team's
// trellis-applier, the one service account deploy/ lets it impersonate), prunes, leads on the Lease, and reads Secrets in
// trellis-system only. Only the plain manifests of a kind deploy/ does not
// cover fail, until deploy/extend/monitoring-rbac.yaml grants it.
func TestClusterRoleSuffices(t *testing.T) {
	cp.Require(t)
	ctx := context.Background()
	admin := newApplier(t, cp.RESTConfig())
	objs := buildDeploy(t, repoPath(t, "deploy"))
	createNamespace(t, admin, objs)
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			require.NoError(t, admin.apply(ctx, o, false))
		}
	}
	cfg := serviceAccountConfig(t)

	res, err := render.Dir(t.Context(), repoPath(t, "examples"), render.Options{Revision: "deploy-test"})
	require.NoError(t, err)
	require.Len(t, res.Clusters, 2)
	// Both clusters declare the same namespaces: on this one control
	// plane, staging's are renamed, or every object of staging would be
	// prod's (owned by another inventory: a failure).
	staging := &res.Clusters[slices.IndexFunc(res.Clusters, func(c render.Cluster) bool { return c.Name == "staging" })]
	for i, o := range staging.Objects {
		staging.Objects[i] = renameNamespaces(t, o, "staging-", "vision", "nlp", "monitoring")
	}
	client, err := reconcile.NewClient(cfg)
	require.NoError(t, err)
	// applyAll applies both clusters (prod, then staging) and returns the
	// objects that failed, by cluster.
	applyAll := func() map[string][]string {
		failed := map[string][]string{}
		for _, cluster := range res.Clusters {
			cs, err := reconcile.Apply(ctx, client, cluster, reconcile.Options{SourceID: "deploy-test"})
			require.NoError(t, err, "cluster %s", cluster.Name)
			for _, c := range cs.Changes {
				if c.Action == reconcile.Failed {
					failed[cluster.Name] = append(failed[cluster.Name], c.Object.String())
					t.Logf("cluster %s: %s", cluster.Name, c)
				}
			}
		}
		return failed
	}

	// Everything rendered from declarations applies; the monitoring
	// stack's Role is forbidden (deploy/ does not cover Roles), and so its
	// RoleBinding fails: the apiserver cannot check a binding to a missing
	// Role.
	monitoring := func(prefix string) []string {
		return []string{
			prefix + "monitoring/role.rbac.authorization.k8s.io/prometheus-discovery",
			prefix + "monitoring/rolebinding.rbac.authorization.k8s.io/prometheus-discovery",
		}
	}
	assert.Equal(t, map[string][]string{"prod": monitoring(""), "staging": monitoring("staging-")}, applyAll(),
		"what deploy/ does not cover")

	// With the extension, everything applies at once: reconcile applies a
	// Role before the RoleBindings that refer to it.
	for _, o := range readObjects(t, repoPath(t, "deploy", "extend", "monitoring-rbac.yaml")) {
		require.NoError(t, admin.apply(ctx, o, false))
		require.NoError(t, admin.apply(ctx, renameNamespaces(t, o, "staging-", "monitoring"), false)) // staging's, renamed
	}
	assert.Empty(t, applyAll(), "with deploy/extend/monitoring-rbac.yaml")

	// Pruning: a ConfigMap removed from Git is deleted.
	staging.Objects = slices.DeleteFunc(slices.Clone(staging.Objects), func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "ConfigMap" && o.GetName() == "feature-flags"
	})
	cs, err := reconcile.Apply(ctx, client, *staging, reconcile.Options{SourceID: "deploy-test"})
	require.NoError(t, err)
	assert.False(t, cs.Failed(), "%v", cs.Changes)
	assert.Equal(t, 1, cs.Count(reconcile.Pruned), "%v", cs.Changes)

	leads(t, cfg)

	// Secrets: by name in trellis-system; nowhere else, never listed.
	k, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = k.CoreV1().Secrets(namespace).Get(ctx, "prod-kubeconfig", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "get a Secret in trellis-system: %v", err)
	_, err = k.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list Secrets in trellis-system: %v", err)
	_, err = k.CoreV1().Secrets("kube-system").Get(ctx, "any", metav1.GetOptions{})
	assert.True(t, apierrors.IsForbidden(err), "get a Secret in kube-system: %v", err)
}

// serviceAccountConfig returns a client config that authenticates as
// trellis's ServiceAccount, with a token from the TokenRequest API.
func serviceAccountConfig(t testing.TB) *rest.Config {
	t.Helper()
	k, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	expiry := int64(3600)
	tok, err := k.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(cp.RESTConfig())
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// leads runs client-go's leader election as cmd/trellis does, with cfg:
// trellis must create the Lease, take it, and release it.
func leads(t testing.TB, cfg *rest.Config) {
	t.Helper()
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, namespace, "trellis",
		resourcelock.ResourceLockConfig{Identity: "deploy-test"}, cfg, 10*time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var led atomic.Bool // OnStartedLeading runs in a goroutine of its own
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { led.Store(true); cancel() },
			OnStoppedLeading: func() {},
		},
	})
	require.True(t, led.Load(), "trellis's ServiceAccount never took Lease %s/trellis", namespace)
	k, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	lease, err := k.CoordinationV1().Leases(namespace).Get(context.Background(), "trellis", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, *lease.Spec.HolderIdentity, "the Lease was not released")
}

// renameNamespaces returns obj with every string value equal to one of
// names (a namespace, a namespace selector's value, a subject's
// namespace) prefixed.
func renameNamespaces(t *testing.T, obj *unstructured.Unstructured, prefix string, names ...string) *unstructured.Unstructured {
	t.Helper()
	b, err := json.Marshal(obj.Object)
	require.NoError(t, err)
	s := string(b)
	for _, n := range names {
		s = strings.ReplaceAll(s, `"`+n+`"`, `"`+prefix+n+`"`)
	}
	out := &unstructured.Unstructured{}
	require.NoError(t, json.Unmarshal([]byte(s), &out.Object))
	return out
}
