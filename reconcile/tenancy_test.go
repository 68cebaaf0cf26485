package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/render"
)

// TestTenantAppliedAsItsServiceAccount renders a multi-tenant repo (the
// tenant namespace lists paths, and names no service account) and applies
// it. The Cluster declaration's objects, trellis-applier and its binding
// to admin included, are written by trellis's own identity; the tenant's
// ConfigMap is written, and the tenant's ResourceQuota is refused by RBAC
// with a message naming system:serviceaccount:<ns>:trellis-applier: trellis's
// own identity may write quotas (it wrote the Cluster's), admin in the
// namespace may not, so only impersonation explains it. The same quota
// from a platform file, in a platform namespace, is written.
func TestTenantAppliedAsItsServiceAccount(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	team, platform := base+"-team", base+"-plat"
	repo := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, name), []byte(content), 0o600))
	}
	write("platform/cluster.yaml", fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Cluster
metadata: {name: mt}
spec:
  namespaces:
    %s: {paths: [teams/a], quota: {pods: 10}, isolated: false}
    %s: {isolated: false}
`, team, platform))
	quota := "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: more-pods, namespace: %s, annotations: {trellis.dev/cluster: mt}}\nspec: {hard: {pods: \"20\"}}\n"
	write("teams/a/app.yaml", fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: %s, annotations: {trellis.dev/cluster: mt}}\ndata: {k: v}\n", team))
	write("teams/a/quota.yaml", fmt.Sprintf(quota, team))
	write("platform/quota.yaml", fmt.Sprintf(quota, platform))
	res, err := render.Dir(context.Background(), repo, render.Options{Revision: "r1"})
	require.NoError(t, err)
	require.Len(t, res.Clusters, 1)

	cs, err := Apply(context.Background(), c, res.Clusters[0], Options{SourceID: base})
	require.NoError(t, err)
	got := map[string]Action{}
	var refused Change
	for _, ch := range cs.Changes {
		got[ch.Object.Namespace+"/"+ch.Object.Kind+"/"+ch.Object.Name] = ch.Action
		if ch.Object.Namespace == team && ch.Object.Name == "more-pods" {
			refused = ch
		}
	}
	assert.Equal(t, map[string]Action{
		"/Namespace/" + team: Created, "/Namespace/" + platform: Created,
		team + "/ServiceAccount/trellis-applier": Created, team + "/RoleBinding/trellis-applier": Created,
		team + "/ResourceQuota/trellis-quota": Created,
		team + "/ConfigMap/app":               Created,
		team + "/ResourceQuota/more-pods":     Failed,
		platform + "/ResourceQuota/more-pods": Created,
	}, got)
	assert.Contains(t, refused.Reason, `resourcequotas "more-pods" is forbidden: User "system:serviceaccount:`+team+`:trellis-applier" cannot patch resource "resourcequotas"`)
}
