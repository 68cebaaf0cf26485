package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestStatusRecordedOnInventory reads back what applies record on their
// inventory: the revision, the result, the counts, and the objects that
// had drifted.
func TestStatusRecordedOnInventory(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	ctx := context.Background()
	cm := configMap(ns, "settings", map[string]any{"k": "v"})
	cluster := testCluster("status", cm, configMap(ns, "other", nil))
	applyOK(t, c, cluster, Options{SourceID: ns, Revision: "r1"})

	invs, err := Inventories(ctx, c, "status", ns)
	require.NoError(t, err)
	require.Len(t, invs, 1)
	st := invs[0]
	assert.Equal(t, "status", st.Cluster)
	assert.Equal(t, ns, st.Source)
	assert.Equal(t, InventoryID(ns, "status"), st.Inventory)
	assert.Equal(t, 2, st.Objects)
	assert.False(t, st.Suspended())
	require.NotNil(t, st.Last)
	assert.Equal(t, "r1", st.Last.Revision)
	assert.Equal(t, ResultSucceeded, st.Last.Result)
	assert.Equal(t, map[Action]int{Created: 2}, st.Last.Counts)
	assert.False(t, st.Last.Finished.Before(st.Last.Started))

	live := get(t, c, cm)
	require.NoError(t, unstructured.SetNestedField(live.Object, "by hand", "data", "k"))
	ri, _, err := c.Resource(cm.GroupVersionKind(), ns)
	require.NoError(t, err)
	_, err = ri.Update(ctx, live, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)
	applyOK(t, c, cluster, Options{SourceID: ns, Revision: "r2"})
	invs, err = Inventories(ctx, c, "status", ns)
	require.NoError(t, err)
	assert.Equal(t, "r2", invs[0].Last.Revision)
	assert.Equal(t, 1, invs[0].Last.Drifted)
	assert.Equal(t, map[Action]int{Configured: 1, Unchanged: 1}, invs[0].Last.Counts)

	all, err := Inventories(ctx, c, "", "")
	require.NoError(t, err)
	assert.Contains(t, all, invs[0], "every inventory of the cluster, of any source")
}

// TestSuspendInCluster suspends an inventory: applies of it apply nothing
// (ErrSuspended) until it is resumed; Resume says what it resumed, and
// resuming what is not suspended changes nothing.
func TestSuspendInCluster(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	ctx := context.Background()
	applyOK(t, c, testCluster("paused", configMap(ns, "settings", map[string]any{"k": "1"})), Options{SourceID: ns, Revision: "r1"})

	_, err := Suspend(ctx, c, "nope", "", time.Now())
	require.EqualError(t, err, "no inventory of cluster nope in trellis-system: trellis never applied it to this cluster")

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	changes, err := Suspend(ctx, c, "paused", ns, now)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.True(t, changes[0].Changed)
	assert.Equal(t, "2026-01-02T03:04:05Z", changes[0].SuspendedSince)
	changes, err = Suspend(ctx, c, "paused", ns, now.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, changes[0].Changed, "already suspended")
	assert.Equal(t, "2026-01-02T03:04:05Z", changes[0].SuspendedSince, "since the first time")

	next := testCluster("paused", configMap(ns, "settings", map[string]any{"k": "2"}))
	cs, err := Apply(ctx, c, next, Options{SourceID: ns, Revision: "r2"})
	require.ErrorIs(t, err, ErrSuspended)
	assert.Empty(t, cs.Changes)
	data, _, _ := unstructured.NestedStringMap(get(t, c, configMap(ns, "settings", nil)).Object, "data")
	assert.Equal(t, "1", data["k"], "nothing applied while suspended")
	invs, err := Inventories(ctx, c, "paused", ns)
	require.NoError(t, err)
	assert.Equal(t, "r1", invs[0].Last.Revision, "a suspended apply records nothing")
	assert.True(t, invs[0].Suspended())

	changes, err = Resume(ctx, c, "paused", ns)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.True(t, changes[0].Changed)
	assert.Equal(t, "2026-01-02T03:04:05Z", changes[0].SuspendedSince, "what it resumed")
	changes, err = Resume(ctx, c, "paused", ns)
	require.NoError(t, err)
	assert.False(t, changes[0].Changed, "was not suspended")
	cs = applyOK(t, c, next, Options{SourceID: ns, Revision: "r2"})
	assert.Equal(t, "1 configured", cs.Summary())
}

// TestSuspendBeforeFirstApply suspends a source's inventory of a cluster
// never applied: the inventory is created, suspended, and the first apply
// applies nothing.
func TestSuspendBeforeFirstApply(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	ctx := context.Background()
	changes, err := Suspend(ctx, c, "fresh", ns, time.Now())
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.True(t, changes[0].Changed)
	_, err = Apply(ctx, c, testCluster("fresh", configMap(ns, "settings", nil)), Options{SourceID: ns})
	require.ErrorIs(t, err, ErrSuspended)
	assert.Empty(t, inventoryOf(t, c, ns, "fresh"))
}
