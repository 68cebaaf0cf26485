package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	tests := []struct {
		name    string
		flag    string
		cluster render.Cluster
		single  bool
		want    string
		wantErr string
	}{
		{"--context wins", "staging", declared, false, "staging", ""},
		{"--context must exist", "nope", declared, true, "", `kube context "nope" (from --context) is not in the kubeconfig`},
		{"spec.context", "", declared, false, "ml-prod", ""},
		{"the cluster's name", "", byName, false, "staging", ""},
		{"current context for a single cluster", "", absent, true, "laptop", ""},
		{"no fallback for several clusters", "", absent, false, "", `kube context "ml-dev" (from spec.context) is not in the kubeconfig; pass --context`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kubeContext(raw, tt.flag, tt.cluster, tt.single)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestKubeContextNoCurrent(t *testing.T) {
	raw := &clientcmdapi.Config{Contexts: map[string]*clientcmdapi.Context{"other": {}}}
	_, err := kubeContext(raw, "", render.Cluster{Name: "dev"}, true)
	require.EqualError(t, err, `kube context "dev" (from the cluster's name) is not in the kubeconfig; pass --context`)
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
	cfg, err := restConfigFor(path, "", render.Cluster{Name: "b"}, false)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:2222", cfg.Host)
	cfg, err = restConfigFor(path, "", render.Cluster{Name: "dev"}, true)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:1111", cfg.Host, "the current context")

	_, err = restConfigFor(filepath.Join(t.TempDir(), "missing"), "", render.Cluster{Name: "dev"}, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cluster dev: kubeconfig: ")
}
