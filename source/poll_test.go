package source

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

func TestPollFetchesOnceThenOnlyListsRefs(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	first := r.commit(t, map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"}, "first")
	s := mustNew(t, r.spec(t))

	r.ResetCounts()
	rev := mustPoll(t, s)
	assert.True(t, rev.Changed, "the first poll")
	assert.Equal(t, first, rev.Commit)
	assert.Equal(t, "refs/heads/main", rev.Ref)
	assert.Equal(t, gitserver.Author.Name, rev.Author)
	assert.Equal(t, gitserver.Author.Email, rev.Email)
	assert.Equal(t, "first", strings.TrimSpace(rev.Message))
	assert.False(t, rev.Time.IsZero())
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "a.yaml"))
	assert.Equal(t, 1, r.Count(gitserver.UploadPack), "one fetch")

	r.ResetCounts()
	again := mustPoll(t, s)
	assert.False(t, again.Changed)
	assert.Equal(t, rev.Dir, again.Dir)
	assert.Equal(t, map[string]int{gitserver.ListUploadPack: 1}, r.Counts(),
		"an unchanged remote costs one ref listing and no fetch")

	second := r.Push(t, r.url, gitserver.Change{
		Files: map[string]string{"a.yaml": "a: 2\n"}, Delete: []string{"b.yaml"}, Message: "second",
	})
	r.ResetCounts()
	next := mustPoll(t, s)
	assert.True(t, next.Changed)
	assert.Equal(t, second, next.Commit)
	assert.NotEqual(t, rev.Dir, next.Dir)
	assert.Equal(t, "a: 2\n", readFile(t, next.Dir, "a.yaml"))
	assert.NoFileExists(t, filepath.Join(next.Dir, "b.yaml"))
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "a.yaml"), "the previous checkout stays for its readers")
	assert.Equal(t, 1, r.Count(gitserver.UploadPack))

	r.commit(t, map[string]string{"a.yaml": "a: 3\n"}, "third")
	third := mustPoll(t, s)
	assert.Equal(t, "a: 3\n", readFile(t, third.Dir, "a.yaml"))
	assert.NoDirExists(t, rev.Dir, "only the last two checkouts are kept")
	assert.DirExists(t, next.Dir)
}

func TestPollPathInsideTheRepo(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{
		"apps/prod/app.yaml": "env: prod\n",
		"apps/base/app.yaml": "env: base\n",
		"README.md":          "hi\n",
	}, "first")
	spec := r.spec(t)
	spec.Path = "apps/prod"
	rev := mustPoll(t, mustNew(t, spec))
	assert.Equal(t, "apps/prod", filepath.ToSlash(rev.Dir[len(rev.Dir)-len("apps/prod"):]))
	assert.Equal(t, "env: prod\n", readFile(t, rev.Dir, "app.yaml"))
	assert.Equal(t, "env: base\n", readFile(t, rev.Dir, "../base/app.yaml"), "the whole tree is checked out")

	spec.Path = "apps/missing"
	_, err := mustNew(t, spec).Poll(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "path apps/missing not found")
	assert.True(t, strings.HasPrefix(err.Error(), r.url), err.Error())

	spec.Path = "../outside"
	_, err = New(spec)
	require.ErrorContains(t, err, "not inside the repository")
}

func TestPollAfterRestartNeedsNoFetch(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	sha := r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	spec := r.spec(t)
	before := mustPoll(t, mustNew(t, spec))

	r.ResetCounts()
	after := mustPoll(t, mustNew(t, spec)) // a new process, the same cache
	assert.True(t, after.Changed, "the first poll of a Source")
	assert.Equal(t, sha, after.Commit)
	assert.Equal(t, before.Dir, after.Dir)
	assert.Equal(t, map[string]int{gitserver.ListUploadPack: 1}, r.Counts())
}

func TestPollHalfCheckoutIsNotTrusted(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	spec := r.spec(t)
	rev := mustPoll(t, mustNew(t, spec))

	// A crash mid-checkout leaves a temporary directory, never checkouts/<commit>.
	require.NoError(t, os.RemoveAll(rev.Dir))
	tmp := filepath.Join(filepath.Dir(rev.Dir), tmpPrefix+"123")
	require.NoError(t, os.MkdirAll(tmp, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "a.yaml"), []byte("half"), 0o644))

	again := mustPoll(t, mustNew(t, spec))
	assert.Equal(t, "a: 1\n", readFile(t, again.Dir, "a.yaml"))
	assert.NoDirExists(t, tmp, "leftovers are removed")
}

func TestPollWhileTheRemoteIsDown(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	s := mustNew(t, r.spec(t))
	rev := mustPoll(t, s)

	r.Stop()
	_, err := s.Poll(context.Background())
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), r.url+": "), err.Error())
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "a.yaml"), "the last checkout stays")

	r.Start()
	back := mustPoll(t, s)
	assert.False(t, back.Changed)
	assert.Equal(t, rev.Commit, back.Commit)
}

func TestPollFileURL(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	sha := r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	s := mustNew(t, Spec{URL: "file://" + r.RepoDir("config"), CacheDir: t.TempDir()})
	rev := mustPoll(t, s)
	assert.Equal(t, sha, rev.Commit)
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "a.yaml"))
	assert.False(t, mustPoll(t, s).Changed)

	sha = r.commit(t, map[string]string{"a.yaml": "a: 2\n"}, "second")
	rev = mustPoll(t, s)
	assert.True(t, rev.Changed)
	assert.Equal(t, sha, rev.Commit)
	assert.Equal(t, "a: 2\n", readFile(t, rev.Dir, "a.yaml"))
}

func TestSourcesDoNotShareACheckoutCache(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	other := r.NewRepo(t, "other")
	r.Commit(t, other, map[string]string{"a.yaml": "other\n"}, "first")

	spec := r.spec(t)
	a := mustPoll(t, mustNew(t, spec))
	spec.URL = other
	b := mustPoll(t, mustNew(t, spec))
	assert.NotEqual(t, filepath.Dir(filepath.Dir(a.Dir)), filepath.Dir(filepath.Dir(b.Dir)))
	assert.Equal(t, "a: 1\n", readFile(t, a.Dir, "a.yaml"))
	assert.Equal(t, "other\n", readFile(t, b.Dir, "a.yaml"))
}

func TestPollIsBoundedByTimeout(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	url := "http://" + ln.Addr().String() + "/config.git"
	s := mustNew(t, Spec{URL: url, CacheDir: t.TempDir(), Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err = s.Poll(context.Background())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.True(t, strings.HasPrefix(err.Error(), url+": "), err.Error())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConcurrentPolls(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	sha := r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	s := mustNew(t, r.spec(t))
	var wg sync.WaitGroup
	changed := make(chan bool, 4)
	for range 4 {
		wg.Go(func() {
			rev, err := s.Poll(context.Background())
			assert.NoError(t, err)
			assert.Equal(t, sha, rev.Commit)
			changed <- rev.Changed
		})
	}
	wg.Wait()
	close(changed)
	n := 0
	for c := range changed {
		if c {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one poll saw the change")
}

// TestPollCollectsTheCache: a bare repository grown beyond CacheLimit is
// emptied before the next fetch, which starts it anew; polls go on
// returning the right revisions. Without the limit, old commits stay.
func TestPollCollectsTheCache(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     int64
		keepsOlds bool
	}{{"over the limit", 1, false}, {"default limit", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t, gitserver.Options{})
			first := r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "one")
			spec := r.spec(t)
			spec.CacheLimit = tc.limit
			s := mustNew(t, spec)
			rev, err := s.Poll(context.Background())
			require.NoError(t, err)
			require.Equal(t, first, rev.Commit)
			next := r.commit(t, map[string]string{"a.yaml": "a: 2\n"}, "two")
			rev, err = s.Poll(context.Background())
			require.NoError(t, err)
			require.Equal(t, next, rev.Commit)
			b, err := os.ReadFile(filepath.Join(rev.Dir, "a.yaml"))
			require.NoError(t, err)
			assert.Equal(t, "a: 2\n", string(b))
			_, err = s.repo.CommitObject(plumbing.NewHash(first))
			assert.Equal(t, tc.keepsOlds, err == nil, "the first commit is still cached: %v", err)
		})
	}
}
