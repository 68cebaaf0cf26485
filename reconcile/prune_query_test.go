package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPruneQueryIsWhatApplyPrunes asks the prune query, and DiffCluster,
// after two files are removed from the config repo: one whose objects
// are pruned and one whose object is annotated trellis.dev/prune:
// disabled. The apply that follows deletes exactly what they said and
// leaves what they said it leaves. Nothing is written by asking.
func TestPruneQueryIsWhatApplyPrunes(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	repo := repoFrom(t, "repo", base)
	opts := Options{SourceID: base}
	first := renderRepo(t, repo, "r1")
	applyOK(t, c, first, opts)
	before := inventoryOf(t, c, base, "test")

	require.NoError(t, os.Remove(filepath.Join(repo, "endpoint.yaml")))
	require.NoError(t, os.Remove(filepath.Join(repo, "clusters", "test", "keep.yaml")))
	second := renderRepo(t, repo, "r2")
	ps, err := Prunes(context.Background(), c, second, opts)
	require.NoError(t, err)
	require.Len(t, ps.Deletes, 1)
	assert.Equal(t, "iris", ps.Deletes[0].Name)
	assert.Equal(t, []string{base + "-b/configmap/keep skipped: prune disabled"}, changeStrings(ps.Skipped))
	assert.Empty(t, ps.Refusal)
	get(t, c, objectNamed(first, "InferenceService", "iris")) // asking deletes nothing
	assert.ElementsMatch(t, before, inventoryOf(t, c, base, "test"), "asking writes no inventory")

	diffs, _, err := DiffCluster(context.Background(), c, second, opts)
	require.NoError(t, err)
	var pruned []ObjectRef
	for _, d := range diffs {
		if d.Action == Pruned {
			pruned = append(pruned, d.Ref)
			assert.Contains(t, d.Unified, "--- live/"+d.Ref.String())
		}
	}
	assert.Equal(t, ps.Deletes, pruned, "diff shows the query's deletions")

	cs := applyOK(t, c, second, opts)
	var applied []ObjectRef
	for _, ch := range cs.Changes {
		if ch.Action == Pruned {
			applied = append(applied, ch.Object)
		}
	}
	assert.Equal(t, ps.Deletes, applied, "apply prunes what the query said")
	assert.Contains(t, changesExcept(cs, Unchanged), base+"-b/configmap/keep skipped: prune disabled")
}

// TestPruneQueryGuard answers the prune guard's refusal, as the apply that
// follows fails with it.
func TestPruneQueryGuard(t *testing.T) {
	ns := cp.Namespace(t)
	c := newClient(t)
	applyOK(t, c, testCluster("guard", configMap(ns, "a", nil), configMap(ns, "b", nil)), Options{SourceID: ns})
	empty := testCluster("guard")
	ps, err := Prunes(context.Background(), c, empty, Options{SourceID: ns})
	require.NoError(t, err)
	assert.Len(t, ps.Deletes, 2)
	require.NotEmpty(t, ps.Refusal)
	cs, err := Apply(context.Background(), c, empty, Options{SourceID: ns})
	require.ErrorIs(t, err, ErrPruneRefused)
	assert.Equal(t, "cluster guard: "+ps.Refusal, cs.Error)

	ps, err = Prunes(context.Background(), c, empty, Options{SourceID: ns, AllowMassPrune: true})
	require.NoError(t, err)
	assert.Empty(t, ps.Refusal, "allowed")

	ps, err = Prunes(context.Background(), c, testCluster("never-applied"), Options{SourceID: ns})
	require.NoError(t, err)
	assert.Empty(t, ps.Deletes, "no inventory, nothing to prune")
}

// changeStrings prints changes.
func changeStrings(changes []Change) []string {
	out := []string{}
	for _, c := range changes {
		out = append(out, c.String())
	}
	return out
}
