package source

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

// benchRemote is a repository of 50 small files on the loopback server.
func benchRemote(b *testing.B) remote {
	b.Helper()
	r := newRemote(b, gitserver.Options{})
	files := map[string]string{}
	for i := range 50 {
		files["apps/app"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".yaml"] = strings.Repeat("key: value\n", 20)
	}
	r.commit(b, files, "first")
	return r
}

// BenchmarkPollUnchanged is one Poll of an unchanged remote: a ref listing
// through the loopback HTTP server, no fetch.
func BenchmarkPollUnchanged(b *testing.B) {
	r := benchRemote(b)
	s := mustNew(b, r.spec(b))
	mustPoll(b, s)
	r.ResetCounts()
	for b.Loop() {
		rev, err := s.Poll(context.Background())
		if err != nil || rev.Changed {
			b.Fatalf("poll: changed=%v err=%v", rev.Changed, err)
		}
	}
	reportRequests(b, r)
}

// BenchmarkGitFetchUnchanged is `git fetch` (the CLI) of the same kind of
// remote into a clone, for comparison.
func BenchmarkGitFetchUnchanged(b *testing.B) {
	r := benchRemote(b)
	url := strings.Replace(r.url, "http://", "http://"+testUser+":"+testPassword+"@", 1)
	dir := b.TempDir()
	gitCmd(b, "", "clone", "-q", url, dir)
	r.ResetCounts()
	for b.Loop() {
		gitCmd(b, dir, "fetch", "-q", "origin", "main")
	}
	reportRequests(b, r)
}

// reportRequests reports the server's requests per operation. With
// protocol v2 (git's default), the CLI's ref listing is itself a POST to
// git-upload-pack (ls-refs), so a POST per `git fetch` is not a pack.
func reportRequests(b *testing.B, r remote) {
	b.ReportMetric(float64(r.Count(gitserver.ListUploadPack))/float64(b.N), "info-refs/op")
	b.ReportMetric(float64(r.Count(gitserver.UploadPack))/float64(b.N), "upload-pack-posts/op")
}

func gitCmd(b *testing.B, dir string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "git %s: %s", strings.Join(args, " "), out)
}
