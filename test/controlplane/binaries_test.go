package controlplane_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/controlplane"
)

func TestFindBinaries(t *testing.T) {
	withBoth := t.TempDir()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		require.NoError(t, os.WriteFile(filepath.Join(withBoth, name), []byte("#!/bin/sh\n"), 0o755))
	}
	onlyEtcd := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(onlyEtcd, "etcd"), []byte("#!/bin/sh\n"), 0o755))

	t.Run("explicit directory", func(t *testing.T) {
		bins, err := controlplane.FindBinaries(withBoth)
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(withBoth, "kube-apiserver"), bins.KubeAPIServer)
		assert.Equal(t, filepath.Join(withBoth, "etcd"), bins.Etcd)
	})
	t.Run("KUBEBUILDER_ASSETS comes first", func(t *testing.T) {
		t.Setenv(controlplane.EnvKubebuilderAssets, withBoth)
		t.Setenv(controlplane.EnvToolsBin, onlyEtcd)
		bins, err := controlplane.FindBinaries("")
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(withBoth, "etcd"), bins.Etcd)
	})
	t.Run("a directory missing one binary is skipped", func(t *testing.T) {
		t.Setenv(controlplane.EnvKubebuilderAssets, onlyEtcd)
		t.Setenv(controlplane.EnvToolsBin, withBoth)
		bins, err := controlplane.FindBinaries("")
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(withBoth, "etcd"), bins.Etcd)
	})
	t.Run("missing binaries say how to build them", func(t *testing.T) {
		_, err := controlplane.FindBinaries(onlyEtcd)
		require.ErrorIs(t, err, controlplane.ErrBinariesNotFound)
		assert.Contains(t, err.Error(), "make tools")
	})
}

// TestToolsDirMatchesMake checks that the Go side and the Makefile agree on
// where `make tools` puts the binaries.
func TestToolsDirMatchesMake(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	root, err := controlplane.RepoRoot()
	require.NoError(t, err)
	cmd := exec.Command("make", "-s", "--no-print-directory", "print-tools-bin")
	cmd.Dir = root
	for _, kv := range os.Environ() { // the defaults, whatever make called the test
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "TOOLS_BIN", "TOOLS_CACHE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	require.NoError(t, err)
	want, err := controlplane.ToolsDir()
	require.NoError(t, err)
	assert.Equal(t, want, strings.TrimSpace(string(out)))
}
