package render

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCleanTenantPath(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"teams/nlp", "teams/nlp", ""},
		{"teams/nlp/", "teams/nlp", ""},
		{"./teams//nlp", "teams/nlp", ""},
		{"teams/../ops", "ops", ""},
		{".", "", `".": the whole repo cannot be a tenant's (the platform's files would be)`},
		{"", "", `"": the whole repo cannot be a tenant's (the platform's files would be)`},
		{"../x", "", `"../x": leaves the repo`},
		{"teams/../..", "", `"teams/../..": leaves the repo`},
		{"/etc", "", `"/etc": a path is relative to the repo's root`},
		{`teams\nlp`, "", `"teams\\nlp": use / in paths`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cleanTenantPath(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReservedKey(t *testing.T) {
	tests := []struct {
		key        string
		annotation bool
		want       bool
	}{
		{"team", false, false},
		{"example.com/owner", true, false},
		{"trellis.dev/cluster", true, false}, // assigns a manifest to a cluster
		{"trellis.dev/cluster", false, true}, // the label is trellis's
		{"trellis.dev/prune", true, false},
		{"trellis.dev/adopt", true, false},
		{"trellis.dev/declaration", true, true},
		{"trellis.dev/source-path", true, true},
		{"trellis.dev/revision", false, true},
		{"trellis.dev/run-of", false, true},
		{"trellis.dev/config-hash", true, true},
		{"trellis.dev/model-run", true, true},
		{"trellis.dev/anything-new", true, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, reservedKey(tt.key, tt.annotation), "%s (annotation %v)", tt.key, tt.annotation)
	}
}

func TestOwnersOf(t *testing.T) {
	tenants := []tenantPath{{dir: "teams/nlp", cluster: "prod", namespace: "nlp"}, {dir: "teams", cluster: "prod", namespace: "shared"}}
	assert.Len(t, ownersOf(tenants, "teams/nlp/a.yaml"), 2)
	assert.Len(t, ownersOf(tenants, "teams/nlp"), 2)
	assert.Len(t, ownersOf(tenants, "teams/nlp-other/a.yaml"), 1, "a sibling with the same prefix is not below")
	assert.Empty(t, ownersOf(tenants, "platform/a.yaml"))
}

// TestPlainManifestIsNoDeclaration drops a trellis.dev/declaration
// annotation from a plain manifest, platform's or not: which identity
// writes an object must not be the manifest's to say.
func TestPlainManifestIsNoDeclaration(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters", "dev"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {team: {serviceAccount: deployer}}}\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clusters", "dev", "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: team, annotations: {trellis.dev/declaration: Cluster/dev}}\n"), 0o600))
	res, err := Dir(context.Background(), dir, Options{})
	require.NoError(t, err)
	for _, o := range res.Clusters[0].Objects {
		if o.GetKind() == "ConfigMap" {
			assert.NotContains(t, o.GetAnnotations(), AnnotationDecl)
		}
	}
}
