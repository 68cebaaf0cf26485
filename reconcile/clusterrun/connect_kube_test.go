package clusterrun

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

func TestKubeContext(t *testing.T) {
	raw := &clientcmdapi.Config{
		CurrentContext: "laptop",
		Contexts: map[string]*clientcmdapi.Context{
			"laptop": {}, "ml-prod": {}, "staging": {},
		},
	}
	declared := render.Cluster{Name: "prod", Spec: schema.ClusterSpec{Context: "ml-prod"}}
	byName := render.Cluster{Name: "staging"}
	absent := render.Cluster{Name: "dev", Spec: schema.ClusterSpec{Context: "ml-dev"}}
	inCluster := render.Cluster{Name: "home", Spec: schema.ClusterSpec{Context: "in-cluster"}}
	tests := []struct {
		name    string
		flag    string
		cluster render.Cluster
		want    string
		wantErr string
	}{
		{"--context wins", "staging", declared, "staging", ""},
		{"--context must exist", "nope", declared, "", `kube context "nope" (from --context) is not in the kubeconfig`},
		{"spec.context", "", declared, "ml-prod", ""},
		{"the cluster's name", "", byName, "staging", ""},
		{"never the current context", "", absent, "", `kube context "ml-dev" (from spec.context) is not in the kubeconfig`},
		{"in-cluster only when declared", "", inCluster, "", "in-cluster"},
		{"a cluster named in-cluster is no declaration", "", render.Cluster{Name: "in-cluster"}, "",
			`kube context "in-cluster" (from the cluster's name, as it declares no spec.context) is not in the kubeconfig`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kubeContext(raw, tt.flag, tt.cluster)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRestConfigFor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
current-context: a
contexts:
- name: a
  context: {cluster: one, user: u}
- name: b
  context: {cluster: two, user: u}
clusters:
- name: one
  cluster: {server: "https://127.0.0.1:1111"}
- name: two
  cluster: {server: "https://127.0.0.1:2222"}
users:
- name: u
  user: {token: t}
`), 0o600))
	cfg, err := restConfig(path, "", render.Cluster{Name: "b"})
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:2222", cfg.Host)
	_, err = restConfig(path, "", render.Cluster{Name: "dev"})
	require.EqualError(t, err, `cluster dev: kube context "dev" (from the cluster's name, as it declares no spec.context) is not in the kubeconfig (searched kubeconfig `+
		path+` (--kubeconfig)); pass --context, or add the context to the kubeconfig`, "never the current context")
	cfg, err = restConfig(path, "a", render.Cluster{Name: "dev"})
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:1111", cfg.Host, "--context")

	_, err = restConfig(filepath.Join(t.TempDir(), "missing"), "", render.Cluster{Name: "dev"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cluster dev: kubeconfig: ")
}

// TestRestConfigForSearchesKUBECONFIG names every file of $KUBECONFIG when
// the context is in none of them.
func TestRestConfigForSearchesKUBECONFIG(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	require.NoError(t, os.WriteFile(one, []byte("apiVersion: v1\nkind: Config\ncurrent-context: staging\ncontexts:\n- name: staging\n  context: {cluster: s}\nclusters:\n- name: s\n  cluster: {server: \"https://127.0.0.1:1\"}\n"), 0o600))
	t.Setenv("KUBECONFIG", one+string(os.PathListSeparator)+two)
	cluster := render.Cluster{Name: "prod", Spec: schema.ClusterSpec{Context: "ml-prod", KubeconfigSecret: &schema.SecretKeyRef{Name: "k"}}}
	_, err := restConfig("", "", cluster)
	require.EqualError(t, err, `cluster prod: kube context "ml-prod" (from spec.context) is not in the kubeconfig (searched kubeconfigs `+
		one+", "+two+` ($KUBECONFIG)); its kubeconfigSecret is read by trellis serve only: pass --context`)
}

// restConfig is KubeConfig's REST config alone.
func restConfig(kubeconfig, contextName string, cluster render.Cluster) (*rest.Config, error) {
	cfg, _, err := KubeConfig(Kube{Kubeconfig: kubeconfig, Context: contextName}, cluster)
	return cfg, err
}

// TestKubeConfigure: --as and --request-timeout reach the REST config
// when given, and leave it alone when not.
func TestKubeConfigure(t *testing.T) {
	as := rest.ImpersonationConfig{UserName: "ada", Groups: []string{"ml"}}
	cfg := &rest.Config{Timeout: time.Second, Impersonate: rest.ImpersonationConfig{UserName: "kept"}}
	Kube{}.Configure(cfg)
	assert.Equal(t, time.Second, cfg.Timeout)
	assert.Equal(t, "kept", cfg.Impersonate.UserName)
	Kube{Impersonate: as, Timeout: time.Minute}.Configure(cfg)
	assert.Equal(t, time.Minute, cfg.Timeout)
	assert.Equal(t, as, cfg.Impersonate)
}
