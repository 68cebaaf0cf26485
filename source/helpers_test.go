package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

const (
	testUser     = "alice"
	testPassword = "correct-horse-battery-staple"
)

// remote is a loopback Git server with basic auth and one repository.
type remote struct {
	*gitserver.Server
	url string
}

func newRemote(t testing.TB, opts gitserver.Options) remote {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = testUser, testPassword
	}
	s := gitserver.Start(t, opts)
	return remote{Server: s, url: s.NewRepo(t, "config")}
}

func (r remote) commit(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	return r.Commit(t, r.url, files, msg)
}

// spec is a Spec for the remote with the right password in a file and a
// fresh cache.
func (r remote) spec(t testing.TB) Spec {
	t.Helper()
	return Spec{
		URL:      r.url,
		Auth:     Auth{Username: testUser, PasswordFile: secretFile(t, testPassword)},
		CacheDir: t.TempDir(),
	}
}

func secretFile(t testing.TB, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte(secret+"\n"), 0o600))
	return path
}

func mustNew(t testing.TB, spec Spec) *Source {
	t.Helper()
	s, err := New(spec)
	require.NoError(t, err)
	return s
}

func mustPoll(t testing.TB, s *Source) Revision {
	t.Helper()
	rev, err := s.Poll(context.Background())
	require.NoError(t, err)
	return rev
}

func readFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	require.NoError(t, err)
	return string(b)
}
