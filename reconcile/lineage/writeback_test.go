package lineage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/gitserver"
)

// fastBackoff keeps tests quick while still backing off.
var fastBackoff = Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 200}

func newTestWriter(srv *gitserver.Server, url, state string) *Writer {
	return &Writer{RepoURL: url, Auth: srv.Auth(), StateDir: state, Backoff: fastBackoff,
		AuthorName: "trellis-test", AuthorEmail: "trellis@example.com"}
}

// TestLineageWriterTwoRecords pushes two records: the branch is created as
// an orphan and holds two commits, each with valid JSON and a log.
func TestLineageWriterTwoRecords(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	srv.Commit(t, url, map[string]string{"README.md": "config\n"}, "init")
	w := newTestWriter(srv, url, t.TempDir())
	for i := range 2 {
		require.NoError(t, w.Enqueue(testRecord(i, "staging"), []byte(fmt.Sprintf("level=INFO msg=run%d\n", i))))
	}
	n, err := w.Pending()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, w.Flush(context.Background()))
	n, err = w.Pending()
	require.NoError(t, err)
	assert.Zero(t, n, "pushed records leave the disk")

	repo, tip := branchRepo(t, srv, url, DefaultBranch)
	var commits []*object.Commit
	require.NoError(t, object.NewCommitPreorderIter(tip, nil, nil).ForEach(func(c *object.Commit) error {
		commits = append(commits, c)
		return nil
	}))
	require.Len(t, commits, 2, "one commit per record, on an orphan branch")
	assert.Equal(t, "trellis: staging "+ShortRevision(testRecord(1, "staging").Source.Revision)+" succeeded\n", commits[0].Message)
	assert.Equal(t, "trellis-test", commits[0].Author.Name)
	for i, c := range []*object.Commit{commits[1], commits[0]} {
		rec := testRecord(i, "staging")
		f, err := c.File(rec.Dir() + "/run.json")
		require.NoError(t, err)
		text, err := f.Contents()
		require.NoError(t, err)
		var got Record
		require.NoError(t, json.Unmarshal([]byte(text), &got))
		assert.Equal(t, rec.RunID, got.RunID)
		log, err := c.File(rec.Dir() + "/run.log")
		require.NoError(t, err)
		logText, err := log.Contents()
		require.NoError(t, err)
		assert.NotEmpty(t, logText)
	}
	_, err = repo.Reference(plumbing.NewRemoteReferenceName("origin", "main"), true)
	assert.Error(t, err, "only the lineage branch was cloned")
	assert.NoError(t, w.Flush(context.Background()), "nothing pending: a no-op")
}

// TestLineageWriterServerDown: a push to a stopped server keeps the record
// on disk; a new Writer over the same state directory pushes it later.
func TestLineageWriterServerDown(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config")
	state := t.TempDir()
	srv.Stop()
	w := newTestWriter(srv, url, state)
	w.Backoff = Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 3}
	require.NoError(t, w.Enqueue(testRecord(0, "prod"), []byte("level=INFO msg=applied\n")))
	err := w.Flush(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 records stay pending")
	_, err = os.Stat(filepath.Join(state, "pending", testRecord(0, "prod").RunID, "run.json"))
	require.NoError(t, err, "the record waits on disk")

	srv.Start()
	restarted := newTestWriter(srv, url, state)
	require.NoError(t, restarted.Flush(context.Background()))
	_, tip := branchRepo(t, srv, url, DefaultBranch)
	_, err = tip.File(testRecord(0, "prod").Dir() + "/run.json")
	require.NoError(t, err)
	n, err := restarted.Pending()
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestLineageWriterCanceled: a canceled context stops the retries and
// keeps the records.
func TestLineageWriterCanceled(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config")
	srv.Stop()
	w := newTestWriter(srv, url, t.TempDir())
	w.Backoff = Backoff{Initial: time.Hour, Max: time.Hour, Attempts: 5}
	require.NoError(t, w.Enqueue(testRecord(0, "prod"), nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Flush(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	n, err := w.Pending()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestLineageWriterAlreadyPushed: a record whose push succeeded but whose
// pending copy survived (a crash before the removal) is not pushed twice.
func TestLineageWriterAlreadyPushed(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config")
	state := t.TempDir()
	w := newTestWriter(srv, url, state)
	rec := testRecord(0, "prod")
	require.NoError(t, w.Enqueue(rec, []byte("x\n")))
	saved := filepath.Join(t.TempDir(), "saved")
	require.NoError(t, os.CopyFS(saved, os.DirFS(filepath.Join(state, "pending", rec.RunID))))
	require.NoError(t, w.Flush(context.Background()))
	require.NoError(t, os.CopyFS(filepath.Join(state, "pending", rec.RunID), os.DirFS(saved)))
	require.NoError(t, w.Flush(context.Background()))
	_, tip := branchRepo(t, srv, url, DefaultBranch)
	assert.Empty(t, tip.ParentHashes, "still one commit")
}

// TestLineageWriterRace: twenty records pushed one by one while another
// process keeps pushing unrelated commits to the lineage branch. Every
// record lands, the history is linear, and every tip the other process saw
// is an ancestor of the final tip: nobody force-pushed.
func TestLineageWriterRace(t *testing.T) {
	if raceDetector {
		// A liveness test against a git CLI that pushes flat out: under the
		// race detector the writer runs several times slower and can lose
		// every round. `make test` runs it without -race.
		t.Skip("run without -race (make test-race runs it so)")
	}
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config")
	racer := newRacer(t, url)
	w := newTestWriter(srv, url, t.TempDir())
	w.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	// Besides the free-running racer, a second one pushes between the
	// writer's fetch and its push on every other attempt, so that the
	// writer's first push of each record is rejected for sure.
	cutIn := newRacer(t, url)
	attempts := 0
	w.beforePush = func() {
		if attempts++; attempts%2 == 1 {
			require.NoError(t, cutIn.push(attempts))
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); racer.run(ctx) }()
	racer.waitPushes(t, 1)
	for i := range 20 {
		require.NoError(t, w.Enqueue(testRecord(i, "staging"), []byte(fmt.Sprintf("run %d\n", i))))
		require.NoError(t, w.Flush(context.Background()), "record %d", i)
	}
	racer.waitPushes(t, racer.pushes()+1) // the racer pushes after the last record too
	stop()
	wg.Wait()
	require.NoError(t, racer.err)

	repo, tip := branchRepo(t, srv, url, DefaultBranch)
	chain := map[plumbing.Hash]bool{}
	for c := tip; ; {
		require.LessOrEqual(t, len(c.ParentHashes), 1, "linear history: %s is a merge", c.Hash)
		chain[c.Hash] = true
		if len(c.ParentHashes) == 0 {
			break
		}
		var err error
		c, err = repo.CommitObject(c.ParentHashes[0])
		require.NoError(t, err)
	}
	assert.GreaterOrEqual(t, attempts, 40, "every record was rejected once, then pushed")
	for _, h := range append(racer.tips, cutIn.tips...) {
		assert.True(t, chain[plumbing.NewHash(h)], "racer's tip %s is an ancestor of the final tip", h)
	}
	for i := range 20 {
		_, err := tip.File(testRecord(i, "staging").Dir() + "/run.json")
		assert.NoError(t, err, "record %d on the branch", i)
	}
	t.Logf("writer: %d attempts; racers pushed %d commits, %d rejected", attempts, len(racer.tips)+len(cutIn.tips), racer.rejected+cutIn.rejected)
}

// racer pushes unrelated commits to the lineage branch with the git CLI,
// from its own clone, and remembers each tip it pushed.
type racer struct {
	dir, url string
	mu       sync.Mutex
	tips     []string
	rejected int
	cond     *sync.Cond
	err      error
}

func newRacer(t *testing.T, url string) *racer {
	r := &racer{dir: t.TempDir(), url: url}
	r.cond = sync.NewCond(&r.mu)
	_, err := gitCmd(r.dir, "init", "--quiet", "--initial-branch=lineage", ".")
	require.NoError(t, err)
	_, err = gitCmd(r.dir, "remote", "add", "origin", url)
	require.NoError(t, err)
	return r
}

// run pushes until ctx ends.
func (r *racer) run(ctx context.Context) {
	defer func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() }()
	for n := 0; ctx.Err() == nil; n++ {
		if err := r.push(n); err != nil {
			r.fail(err)
			return
		}
	}
}

// push commits on top of the remote branch (when there is one) and pushes;
// a rejected push (another writer got there first) is counted.
func (r *racer) push(n int) error {
	if _, err := gitCmd(r.dir, "fetch", "--quiet", "origin", DefaultBranch); err == nil {
		if _, err := gitCmd(r.dir, "reset", "--quiet", "--hard", "FETCH_HEAD"); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, "racer.txt"), []byte(r.dir+fmt.Sprint(n)), 0o644); err != nil {
		return err
	}
	if _, err := gitCmd(r.dir, "add", "racer.txt"); err != nil {
		return err
	}
	if _, err := gitCmd(r.dir, "commit", "--quiet", "--allow-empty", "-m", fmt.Sprintf("racer %d", n)); err != nil {
		return err
	}
	if _, err := gitCmd(r.dir, "push", "--quiet", "origin", "HEAD:refs/heads/"+DefaultBranch); err != nil {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		return nil
	}
	head, err := gitCmd(r.dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.tips = append(r.tips, head)
	r.cond.Broadcast()
	r.mu.Unlock()
	return nil
}

func (r *racer) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *racer) pushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tips)
}

// waitPushes waits until the racer pushed n commits (or stopped).
func (r *racer) waitPushes(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.tips) < n && r.err == nil {
		r.cond.Wait()
	}
	require.NoError(t, r.err)
}

// branchFiles returns the content of every file of every commit of the
// branch.
func branchFiles(t *testing.T, srv *gitserver.Server, url, branch string) []string {
	t.Helper()
	_, tip := branchRepo(t, srv, url, branch)
	var out []string
	require.NoError(t, object.NewCommitPreorderIter(tip, nil, nil).ForEach(func(c *object.Commit) error {
		out = append(out, c.Message)
		files, err := c.Files()
		if err != nil {
			return err
		}
		return files.ForEach(func(f *object.File) error {
			r, err := f.Reader()
			if err != nil {
				return err
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			out = append(out, f.Name+"\n"+string(b))
			return err
		})
	}))
	return out
}

// testWriter writes to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLineageWriterHold: a held record is not pushed until Enqueue replaces
// it, and is then pushed once, as finished; a record held by a process
// that stopped is pushed, as held, by the next Writer of the state
// directory.
func TestLineageWriterHold(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	srv.Commit(t, url, map[string]string{"README.md": "config\n"}, "init")
	state := t.TempDir()
	w := newTestWriter(srv, url, state)

	following := testRecord(0, "staging")
	require.NoError(t, w.Hold(following, []byte("level=INFO msg=applied\n")))
	require.NoError(t, w.Flush(context.Background()))
	n, err := w.Pending()
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a held record stays on disk and is not pushed")

	done := following
	done.Followed = []Followed{{Kind: KindWorkflow, Namespace: "ml", Name: "train-1", Phase: "Succeeded"}}
	require.NoError(t, w.Enqueue(done, []byte("level=INFO msg=applied\nlevel=INFO msg=followed\n")))
	require.NoError(t, w.Flush(context.Background()))

	store, err := Open(context.Background(), url, "", srv.Auth())
	require.NoError(t, err)
	recs, err := store.Records()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "Succeeded", recs[0].Followed[0].Phase, "the finished record replaced the held one")
	log, err := store.Log(done.RunID)
	require.NoError(t, err)
	assert.Contains(t, string(log), "msg=followed")

	stopped := testRecord(1, "staging")
	require.NoError(t, w.Hold(stopped, []byte("level=INFO msg=applied\n")))
	restarted := newTestWriter(srv, url, state) // the process stopped while following
	require.NoError(t, restarted.Flush(context.Background()))
	store, err = Open(context.Background(), url, "", srv.Auth())
	require.NoError(t, err)
	recs, err = store.Records()
	require.NoError(t, err)
	assert.Len(t, recs, 2, "the held record of a stopped process is pushed after the restart")
}
