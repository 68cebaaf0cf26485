package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

func TestSubdirStaysInsideTheRepository(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "apps", "prod"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "file"), nil, 0o644))
	require.NoError(t, os.Symlink("apps/prod", filepath.Join(root, "inside")))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "escape")))

	tests := map[string]string{
		".":         "",
		"apps/prod": "",
		"inside":    "",
		"escape":    "leads outside the repository",
		"file":      "is not a directory",
		"missing":   "not found",
	}
	for path, wantErr := range tests {
		t.Run(path, func(t *testing.T) {
			dir, err := subdir(root, path)
			if wantErr != "" {
				require.ErrorContains(t, err, wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(root, path), dir)
		})
	}
}

func TestCheckoutKeepsModesAndSymlinks(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"bin/run.sh": "#!/bin/sh\n", "a.yaml": "a: 1\n"}, "first")
	work := t.TempDir()
	run(t, work, "clone", "-q", strings.Replace(r.url, "http://", "http://"+testUser+":"+testPassword+"@", 1), ".")
	require.NoError(t, os.Chmod(filepath.Join(work, "bin", "run.sh"), 0o755))
	require.NoError(t, os.Symlink("a.yaml", filepath.Join(work, "link.yaml")))
	run(t, work, "add", "-A")
	run(t, work, "-c", "user.name=t", "-c", "user.email=t@trellis.dev", "commit", "-q", "-m", "modes")
	run(t, work, "push", "-q", "origin", "main")

	rev := mustPoll(t, mustNew(t, r.spec(t)))
	info, err := os.Stat(filepath.Join(rev.Dir, "bin", "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), info.Mode().Perm())
	target, err := os.Readlink(filepath.Join(rev.Dir, "link.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "a.yaml", target)
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "link.yaml"))
}
