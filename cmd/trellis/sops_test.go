package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/sopstest"
)

// TestSOPSRenderCLI: the CLI finds age keys where SOPS does (a flag, the
// file SOPS_AGE_KEY_FILE names, the key in SOPS_AGE_KEY), render prints
// the decrypted Secret redacted unless --show-secrets, and without a key
// the file is an error at its path, its values shown nowhere.
func TestSOPSRenderCLI(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no default key file
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	key := sopstest.NewKey(t)
	repo := t.TempDir()
	cluster, err := os.ReadFile(filepath.Join(invalidDir, "bad-name", "cluster.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "cluster.yaml"), cluster, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "clusters", "dev"), 0o755))
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: ml}\nstringData: {password: sops-decrypted-password}\n"
	require.NoError(t, os.WriteFile(filepath.Join(repo, "clusters", "dev", "secret.yaml"), sopstest.Encrypt(t, "yaml", []byte(secret), sopstest.KubernetesRules, key.Recipient), 0o644))
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.Identity+"\n"), 0o600))

	r := runCLI(t, repo, []string{"render", ".", "--revision", pinnedRevision, "--sops-age-key-file", keyFile}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "password: <redacted>")
	assert.NotContains(t, r.stdout+r.stderr, "sops-decrypted-password")
	assert.NotContains(t, r.stdout, "ENC[")

	r = runCLI(t, repo, []string{"render", ".", "--revision", pinnedRevision, "--sops-age-key-file", keyFile, "--show-secrets"}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "password: sops-decrypted-password")

	r = runCLI(t, repo, []string{"validate", "."}, nil)
	assert.Equal(t, 1, r.exit)
	assert.Contains(t, r.stderr, "clusters/dev/secret.yaml:8:1: SOPS key missing")
	assert.NotContains(t, r.stdout+r.stderr, "sops-decrypted-password")

	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	r = runCLI(t, repo, []string{"validate", "."}, nil)
	assert.Equal(t, 0, r.exit, r.stderr)

	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", key.Identity)
	r = runCLI(t, repo, []string{"render", ".", "--revision", pinnedRevision, "-o", "json"}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "redacted")
	assert.NotContains(t, r.stdout, "sops-decrypted-password")
}
