package pullrequest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/githubapi"
)

// checkEvent is one check a watcher ran.
type checkEvent struct {
	n   int
	res *Result
	err error
}

// head is the head the check checked.
func (e checkEvent) head() string {
	if e.res == nil {
		return ""
	}
	return e.res.PullRequest.Head.SHA
}

// quietLog discards what the code under test logs.
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startWatcher runs a watcher of f's repository until the test ends; the
// checks it runs come on the channel.
func startWatcher(t *testing.T, f *fixture, o WatchOptions) (*Watcher, <-chan checkEvent) {
	t.Helper()
	events := make(chan checkEvent, 10000)
	o.GitHub, o.Log = f.gh, quietLog()
	if o.Check.WorkDir == "" {
		o.Check.WorkDir = t.TempDir()
	}
	o.Checked = func(_ context.Context, n int, res *Result, err error) {
		select {
		case events <- checkEvent{n, res, err}:
		default:
		}
	}
	w := NewWatcher(o)
	runInBackground(t, w.Run)
	return w, events
}

// nextCheck waits for the watcher's next check.
func nextCheck(t *testing.T, events <-chan checkEvent) checkEvent {
	t.Helper()
	return next(t, events, "check")
}

// nextSuccessfulCheck waits for the watcher's next check that completed.
func nextSuccessfulCheck(t *testing.T, events <-chan checkEvent) checkEvent {
	t.Helper()
	for {
		if ev := nextCheck(t, events); ev.err == nil {
			return ev
		}
	}
}

// listRequests counts the listings of the open pull requests.
func (f *fixture) listRequests() int {
	return f.count(http.MethodGet, "/repos/"+testRepo+"/pulls")
}

// waitPolls waits until the watcher listed the pull requests k more
// times.
func (f *fixture) waitPolls(k int) {
	f.t.Helper()
	want := f.listRequests() + k
	require.Eventually(f.t, func() bool { return f.listRequests() >= want }, time.Minute, time.Millisecond)
}

// A watcher checks an open pull request when it starts, again when
// Notify says its head moved (the same comment, updated), and not when
// the head did not move. The poll is an hour away: Notify alone starts
// the checks.
func TestWatcherChecksEachNewHeadOnce(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	w, events := startWatcher(t, f, WatchOptions{PollInterval: time.Hour})

	ev := nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, 7, ev.n)
	assert.Equal(t, pr.Head.SHA, ev.head())
	assert.Equal(t, "created", ev.res.Comment.Action)
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(pr.Head.SHA))

	head := f.push(7, with(map[string]string{"endpoint.yaml": endpointFile(4)}))
	w.Notify(7)
	ev = nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, head, ev.head())
	assert.Equal(t, "updated", ev.res.Comment.Action)
	comments := f.api.Comments(testRepo, 7)
	require.Len(t, comments, 1, "one sticky comment, updated in place")
	assert.Contains(t, comments[0].Body, "+    maxReplicas: 4\n")
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(head))

	// The same head again is not checked: the next check is pull
	// request 8's, notified after.
	w.Notify(7)
	w.Notify(7)
	f.openPR(8, with(map[string]string{"endpoint.yaml": endpointFile(3)}))
	w.Notify(8)
	ev = nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, 8, ev.n, "pull request 7's head was checked already")
	assert.Equal(t, 1, f.count(http.MethodPost, commentsPath))
	assert.Len(t, events, 0)
}

// Without webhooks, the poll finds new heads; a head already checked is
// not checked again at every poll; a closed pull request is forgotten,
// so that reopening it checks it again.
func TestWatcherPollsForNewHeads(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	_, events := startWatcher(t, f, WatchOptions{PollInterval: 5 * time.Millisecond})

	ev := nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, pr.Head.SHA, ev.head())
	f.waitPolls(3)
	assert.Len(t, events, 0, "the same head is not checked at every poll")

	pr.Head.SHA = f.push(7, with(map[string]string{"endpoint.yaml": endpointFile(4)}))
	ev = nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, pr.Head.SHA, ev.head())
	assert.Equal(t, "updated", ev.res.Comment.Action)

	closed := pr
	closed.State = "closed"
	f.api.AddPullRequest(testRepo, closed)
	f.waitPolls(2)
	assert.Len(t, events, 0)
	f.api.AddPullRequest(testRepo, pr)
	ev = nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, pr.Head.SHA, ev.head(), "reopened, checked again")
	assert.Len(t, f.api.Comments(testRepo, 7), 1)
}

// A check that fails is logged and tried again at the next poll.
func TestWatcherRetriesAFailedCheckAtTheNextPoll(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	missing := pr
	missing.Head.SHA = strings.Repeat("ab", 20)
	f.api.AddPullRequest(testRepo, missing)
	_, events := startWatcher(t, f, WatchOptions{PollInterval: 5 * time.Millisecond})

	ev := nextCheck(t, events)
	require.Error(t, ev.err)
	assert.Contains(t, ev.err.Error(), "commit not fetched")
	assert.Equal(t, map[string]string{ContextValidate: StateError, ContextPlan: StateError}, f.states(missing.Head.SHA))

	f.api.AddPullRequest(testRepo, pr)
	ev = nextSuccessfulCheck(t, events)
	assert.Equal(t, pr.Head.SHA, ev.head())
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(pr.Head.SHA))
}

// The watcher dials the clusters of a pull request from the repository,
// never those of a pull request from a fork.
func TestWatcherNeverDialsForAFork(t *testing.T) {
	var dialed atomic.Int32
	dial := func(context.Context, render.Cluster, bool) (*reconcile.Client, error) {
		dialed.Add(1)
		return nil, errors.New("no cluster in this test")
	}
	f := newFixture(t)
	f.git.Commit("fork", with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	fork := f.git.PullRequest(testRepo, 7, "fork")
	fork.Head.Repo, fork.Head.CloneURL = "someone/platform", "https://github.com/someone/platform.git"
	f.api.AddPullRequest(testRepo, fork)
	w, events := startWatcher(t, f, WatchOptions{PollInterval: time.Hour, Check: Options{Dial: dial}})

	ev := nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, 7, ev.n)
	assert.True(t, ev.res.Fork)
	assert.Zero(t, dialed.Load(), "no cluster client for a fork")
	assert.Contains(t, ev.res.Body, "not run (fork)")

	f.openPR(8, with(map[string]string{"endpoint.yaml": endpointFile(3)}))
	w.Notify(8)
	ev = nextCheck(t, events)
	require.NoError(t, ev.err)
	assert.Equal(t, 8, ev.n)
	assert.False(t, ev.res.Fork)
	assert.Equal(t, int32(1), dialed.Load(), "the repository's own pull request is dry-run")
	assert.Equal(t, "no cluster in this test", ev.res.Clusters[0].LiveError)
}

// GitHub's rate limit holds the watcher's goroutine, never a caller of
// Notify.
func TestWatcherRateLimitDoesNotBlockNotify(t *testing.T) {
	f := newFixture(t)
	f.openPR(7, with(nil))
	f.api.SecondaryRateLimit(1, http.MethodGet, "/repos/"+testRepo+"/pulls", http.StatusTooManyRequests, "600")
	w, _ := startWatcher(t, f, WatchOptions{PollInterval: time.Hour})
	require.Eventually(t, func() bool { return rateLimited(f.api) }, time.Minute, time.Millisecond)

	returned := make(chan struct{})
	go func() {
		for i := range 100 {
			w.Notify(7 + i%3)
		}
		close(returned)
	}()
	require.Eventually(t, func() bool {
		select {
		case <-returned:
			return true
		default:
			return false
		}
	}, time.Minute, time.Millisecond, "Notify waited for the rate limit")
}

// rateLimited reports whether the API answered a request with 429.
func rateLimited(api *githubapi.Server) bool {
	for _, r := range api.Requests() {
		if r.Status == http.StatusTooManyRequests {
			return true
		}
	}
	return false
}

func TestWatcherNeedsGitHub(t *testing.T) {
	err := NewWatcher(WatchOptions{}).Run(context.Background())
	require.EqualError(t, err, "pull request watcher: no GitHub client")
}
