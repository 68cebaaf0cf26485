package daemon

import (
	"context"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/lineage"
)

// TestDaemonWritesLineage: after the daemon applies two revisions, the
// lineage branch of the config repo holds a record of each.
func TestDaemonWritesLineage(t *testing.T) {
	auth := &githttp.BasicAuth{Username: "u", Password: "p"}
	h := newHarnessWith(t, time.Hour, func(h *harness, cfg *Config) {
		cfg.SourceURL = h.url
		cfg.Lineage = &lineage.Writer{RepoURL: h.url, Auth: auth, StateDir: t.TempDir(), AuthorName: "trellis", AuthorEmail: "trellis@example.com"}
	})
	first := h.next()
	require.False(t, first.Failed(), first.Error)
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.d.Trigger()
	cs := h.waitRevision(second)
	require.False(t, cs.Failed(), cs.Error)

	var recs []lineage.Record
	require.Eventually(t, func() bool {
		store, err := lineage.Open(context.Background(), h.url, "", auth)
		if err != nil {
			return false
		}
		recs, err = store.Records()
		return err == nil && len(recs) >= 2
	}, time.Minute, 50*time.Millisecond)
	store, err := lineage.Open(context.Background(), h.url, "", auth)
	require.NoError(t, err)
	revs := map[string]bool{}
	for _, r := range recs {
		assert.Equal(t, "dev", r.Cluster)
		assert.NotEmpty(t, r.Objects)
		log, err := store.Log(r.RunID)
		require.NoError(t, err)
		assert.Contains(t, string(log), "applied", "the run's teed log")
		revs[r.Source.Revision] = true
	}
	assert.True(t, revs[first.Revision] && revs[second], "a record of each revision: %v", revs)

}
