package lineage

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/gitserver"
)

// TestPendingOnlyReads: Pending counts a broken run without filing it as
// rejected; the next Flush does that.
func TestPendingOnlyReads(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	state := t.TempDir()
	w := newTestWriter(srv, url, state)
	broken := filepath.Join(state, pendingDir, "broken")
	require.NoError(t, os.MkdirAll(broken, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(broken, recordFile), []byte("{"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(broken, logFile), nil, 0o600))

	n, err := w.Pending()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.DirExists(t, broken, "Pending moved nothing")
	assert.NoDirExists(t, filepath.Join(state, badDir))

	require.Error(t, w.Flush(context.Background()), "Flush reports the broken run")
	assert.DirExists(t, filepath.Join(state, badDir, "broken"))
	n, err = w.Pending()
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestPendingConcurrentFlush: records are queued, flushed and counted
// from several goroutines at once (run it with -race): every record ends
// up on the lineage branch, none is filed as rejected, and none stays
// pending.
func TestPendingConcurrentFlush(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"})
	url := srv.NewRepo(t, "config")
	state := t.TempDir()
	w := newTestWriter(srv, url, state)
	const writers, perWriter = 3, 4

	var queued sync.WaitGroup
	var done atomic.Bool
	for i := range writers {
		queued.Add(1)
		go func() {
			defer queued.Done()
			for j := range perWriter {
				rec := testRecord(i*perWriter+j, "staging")
				if j%2 == 0 { // a followed run: held, then finished
					assert.NoError(t, w.Hold(rec, []byte("held\n")))
				}
				assert.NoError(t, w.Enqueue(rec, []byte("finished\n")))
			}
		}()
	}
	var busy sync.WaitGroup
	for range 2 {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for !done.Load() {
				assert.NoError(t, w.Flush(context.Background()))
			}
		}()
	}
	busy.Add(1)
	go func() {
		defer busy.Done()
		for !done.Load() {
			_, err := w.Pending()
			assert.NoError(t, err)
		}
	}()
	queued.Wait()
	done.Store(true)
	busy.Wait()
	require.NoError(t, w.Flush(context.Background()))

	n, err := w.Pending()
	require.NoError(t, err)
	assert.Zero(t, n, "every record was pushed")
	assert.NoDirExists(t, filepath.Join(state, badDir), "no run was filed as rejected")
	store, err := Open(context.Background(), url, "", srv.Auth())
	require.NoError(t, err)
	recs, err := store.Records()
	require.NoError(t, err)
	assert.Len(t, recs, writers*perWriter)
}
