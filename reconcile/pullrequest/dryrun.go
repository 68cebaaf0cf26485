package pullrequest

import (
	"context"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// dryRun asks each cluster, through dial, what applying the head would
// do: a server-side dry-run of its objects, and the prune query of the
// inventory of sourceID (reconcile.DiffCluster), whose answer replaces
// the removals the plan guessed from the base render. One cluster's
// failure is its own. A cluster the head no longer declares is not
// applied at all (trellis leaves its objects alone): nothing is asked.
func dryRun(ctx context.Context, dial Dialer, sourceID string, head *render.Result, clusters []ClusterResult) {
	for i := range clusters {
		cr := &clusters[i]
		cluster := findCluster(head, cr.Cluster)
		if cluster == nil {
			cr.LiveError = "the head no longer declares this cluster: trellis stops applying it and leaves its objects alone"
			continue
		}
		client, err := dial(ctx, *cluster, len(head.Clusters) == 1)
		if err != nil {
			cr.LiveError = err.Error()
			continue
		}
		cr.LiveRan = true
		diffs, ps, err := reconcile.DiffCluster(ctx, client, *cluster, reconcile.Options{SourceID: sourceID})
		cr.Live = diffs
		if err != nil {
			cr.LiveError = err.Error()
			continue
		}
		usePruneAnswer(&cr.ClusterPlan, ps, diffs)
	}
}

// usePruneAnswer replaces the removals of an offline plan (base objects
// the head lacks) with the prune query's answer: the objects an apply of
// the head deletes, and the prune guard's verdict on them.
func usePruneAnswer(plan *reconcile.ClusterPlan, ps *reconcile.PruneSet, diffs []reconcile.ObjectDiff) {
	unified := map[reconcile.ObjectRef]string{}
	for _, d := range diffs {
		if d.Action == reconcile.Pruned {
			unified[d.Ref] = d.Unified
		}
	}
	changes := plan.Changes[:0:0]
	for _, ch := range plan.Changes {
		if ch.Action != reconcile.Pruned {
			changes = append(changes, ch)
		}
	}
	for _, ref := range ps.Deletes {
		changes = append(changes, reconcile.PlannedChange{Ref: ref, Action: reconcile.Pruned, Unified: unified[ref]})
	}
	plan.Changes = changes
	plan.PruneRefusal = ps.Refusal
	plan.PrunedFrom = ps.Inventory
}
