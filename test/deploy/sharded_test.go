package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// buildSharded builds an overlay of deploy/ with the Component
// deploy/sharded/, as its users do.
func buildSharded(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	rel := func(elem ...string) string { // kustomize takes relative paths only
		p, err := filepath.Rel(dir, repoPath(t, elem...))
		require.NoError(t, err)
		return p
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(fmt.Sprintf(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\ncomponents: [%q]\n",
		rel("deploy"), rel("deploy", "sharded"))), 0o600))
	return buildDeploy(t, dir)
}

// TestShardedDeployDryRun: every object of deploy/ with the Component
// deploy/sharded/ passes a server-side dry run with strict field
// validation, without a warning.
func TestShardedDeployDryRun(t *testing.T) {
	cp.Require(t)
	objs := buildSharded(t)
	cfg := cp.RESTConfig()
	warned := &warnings{}
	cfg.WarningHandler = warned
	a := newApplier(t, cfg)
	createNamespace(t, a, objs)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		assert.NoError(t, a.apply(context.Background(), o, true), "%s/%s", o.GetKind(), o.GetName())
	}
	assert.Equal(t, map[string]int{
		"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
		"Role": 1, "RoleBinding": 1, "ConfigMap": 2, "Deployment": 1, "Service": 1,
	}, kinds)
	assert.Empty(t, warned.msgs, "warnings of the apiserver")
}

// TestShardedDeployment: deploy/ with deploy/sharded/ runs three hardened replicas of
// `serve --shards=12`, each named in the Leases by its pod, without
// --leader-elect, rolled one at a time; everything else is deploy/'s.
func TestShardedDeployment(t *testing.T) {
	objs := buildSharded(t)
	c := assertHardened(t, objs, 3)
	assert.Contains(t, c.Args, "--shards=12")
	assert.Contains(t, c.Args, "--shard-holder=$(POD_NAME)")
	assert.Contains(t, c.Args, "--leader-election-namespace=trellis-system")
	assert.NotContains(t, c.Args, "--leader-elect")
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAME" })
	require.GreaterOrEqual(t, i, 0, "no POD_NAME in the environment")
	require.NotNil(t, c.Env[i].ValueFrom)
	assert.Equal(t, "metadata.name", c.Env[i].ValueFrom.FieldRef.FieldPath)
	d := find[appsv1.Deployment](t, objs, "Deployment", "trellis")
	assert.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type)
	assert.Equal(t, "0", d.Spec.Strategy.RollingUpdate.MaxSurge.String())

	// Only the Role differs from deploy/'s: Leases, in trellis-system.
	base := buildDeploy(t, repoPath(t, "deploy"))
	baseRole := find[rbacv1.Role](t, base, "Role", "trellis")
	role := find[rbacv1.Role](t, objs, "Role", "trellis")
	assert.Equal(t, namespace, role.Namespace)
	require.Len(t, role.Rules, len(baseRole.Rules)+1)
	assert.Equal(t, baseRole.Rules, role.Rules[:len(baseRole.Rules)])
	added := role.Rules[len(role.Rules)-1]
	assert.Equal(t, rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
		Verbs: []string{"get", "list", "update", "delete"}}, added)
	assert.Equal(t, find[rbacv1.ClusterRole](t, base, "ClusterRole", "trellis"), find[rbacv1.ClusterRole](t, objs, "ClusterRole", "trellis"))
}

// TestShardedRoleSuffices applies the RBAC of deploy/ with deploy/sharded/ and, as trellis's
// ServiceAccount, does what sharding does with Leases in trellis-system:
// create, read and renew a shard's Lease; create, renew, list and delete a
// member Lease. Leases of other namespaces stay out of reach.
func TestShardedRoleSuffices(t *testing.T) {
	cp.Require(t)
	ctx := context.Background()
	admin := newApplier(t, cp.RESTConfig())
	objs := buildSharded(t)
	createNamespace(t, admin, objs)
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			require.NoError(t, admin.apply(ctx, o, false))
		}
	}
	k, err := kubernetes.NewForConfig(serviceAccountConfig(t))
	require.NoError(t, err)
	leases := k.CoordinationV1().Leases(namespace)
	holder := "trellis-0"
	for _, name := range []string{"trellis-shard-7", "trellis-member-0a1b2c3d"} {
		l, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"trellis.dev/member-of": "trellis"}}}, metav1.CreateOptions{})
		require.NoError(t, err, "create Lease %s", name)
		l, err = leases.Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err, "get Lease %s", name)
		l.Spec.HolderIdentity = &holder
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		require.NoError(t, err, "update Lease %s", name)
	}
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: "trellis.dev/member-of=trellis"})
	require.NoError(t, err, "list the member Leases")
	assert.NotEmpty(t, list.Items)
	require.NoError(t, leases.Delete(ctx, "trellis-member-0a1b2c3d", metav1.DeleteOptions{}))
	require.NoError(t, leases.Delete(ctx, "trellis-shard-7", metav1.DeleteOptions{}))
	_, err = k.CoordinationV1().Leases("kube-system").List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list Leases in kube-system: %v", err)
}
