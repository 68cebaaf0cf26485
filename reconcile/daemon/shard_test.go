package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// TestShardOfStable: a cluster's shard depends on its name alone, and
// every shard is in range.
func TestShardOfStable(t *testing.T) {
	assert.Equal(t, 0, ShardOf("anything", 0))
	assert.Equal(t, 0, ShardOf("anything", 1))
	seen := map[int]int{}
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("cluster-%d", i)
		s := ShardOf(name, 4)
		require.Equal(t, s, ShardOf(name, 4))
		require.True(t, s >= 0 && s < 4)
		seen[s]++
	}
	assert.Len(t, seen, 4, "100 names fall in every one of 4 shards")
	// Pinned: replicas of two builds must agree.
	assert.Equal(t, 0, ShardOf("dev", 2))
	assert.Equal(t, 1, ShardOf("other", 2))
}

// TestDaemonShards: with Shards set, the daemon reconciles no cluster
// until it acquires a shard, then the clusters of the shards it holds
// only; a shard released has its workers stopped when Release returns,
// and acquired again it is applied again at once.
func TestDaemonShards(t *testing.T) {
	h := newHarnessWith(t, time.Hour, func(h *harness, c *Config) { c.Shards = 2 })
	other := fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: other}\nspec: {namespaces: {%s-o: {}}}\n", h.ns)
	rev := h.git.Commit(t, h.url, map[string]string{"other.yaml": other}, "a second cluster")
	h.d.Trigger()
	require.Eventually(t, func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		return h.d.current != nil && h.d.snap.Revision == rev
	}, time.Minute, 10*time.Millisecond)
	assert.Empty(t, h.d.Clusters(), "no shard held: no cluster reconciled")
	assert.Empty(t, h.d.Owned())

	h.d.Acquire(ShardOf("dev", 2))
	cs := h.next()
	assert.Equal(t, "dev", cs.Cluster)
	assert.Equal(t, rev, cs.Revision)
	h.d.Acquire(ShardOf("other", 2))
	cs = h.next()
	assert.Equal(t, "other", cs.Cluster)
	require.False(t, cs.Failed(), cs.Error)
	assert.Equal(t, []int{0, 1}, h.d.Owned())

	h.d.Release(ShardOf("dev", 2))
	clusters := h.d.Clusters()
	require.Len(t, clusters, 1)
	assert.Equal(t, "other", clusters[0].Cluster.Name)
	assert.Equal(t, []int{1}, h.d.Owned())

	// A new revision reaches the clusters of the shards held only.
	rev2 := h.git.Commit(t, h.url, map[string]string{"README.md": "x\n"}, "docs")
	h.d.Trigger()
	cs = h.next()
	assert.Equal(t, "other", cs.Cluster)
	assert.Equal(t, rev2, cs.Revision)

	h.d.Acquire(ShardOf("dev", 2))
	cs = h.next()
	assert.Equal(t, "dev", cs.Cluster)
	assert.Equal(t, rev2, cs.Revision)
	select {
	case cs := <-h.applied:
		t.Fatalf("unexpected apply of %s", cs.Cluster)
	default:
	}
	h.d.Release(0)
	h.d.Release(1)
	assert.Empty(t, h.d.Clusters())
}

// TestDaemonReleaseWaitsForApply: Release of a shard whose cluster is
// being applied (its connection hangs) stops the apply through its
// context and returns only once the worker returned.
func TestDaemonReleaseWaitsForApply(t *testing.T) {
	entered, left := make(chan struct{}), make(chan struct{})
	h := newHarnessWith(t, time.Hour, func(h *harness, c *Config) {
		c.Shards = 2
		c.Connect = func(ctx context.Context, _ render.Cluster) (*reconcile.Client, error) {
			close(entered)
			<-ctx.Done()
			close(left)
			return nil, ctx.Err()
		}
	})
	require.Eventually(t, h.d.Ready, time.Minute, 10*time.Millisecond)
	h.d.Acquire(ShardOf("dev", 2))
	select {
	case <-entered:
	case <-time.After(time.Minute): // a guard
		t.Fatal("the apply never began")
	}
	h.d.Release(ShardOf("dev", 2))
	select {
	case <-left:
	default:
		t.Fatal("Release returned while the apply was in hand")
	}
	assert.Empty(t, h.d.Clusters())
}
