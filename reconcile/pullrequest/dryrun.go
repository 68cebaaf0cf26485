package pullrequest

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// dryRun asks each cluster, through dial, what applying the head would
// do: a server-side dry-run of its objects and the live state of the
// objects it would prune. One cluster's failure is its own.
func dryRun(ctx context.Context, dial Dialer, base, head *render.Result, clusters []ClusterResult) {
	for i := range clusters {
		cr := &clusters[i]
		cluster := findCluster(head, cr.Cluster)
		objs := []*unstructured.Unstructured{}
		if cluster == nil {
			cluster = findCluster(base, cr.Cluster)
		} else {
			objs = cluster.Objects
		}
		client, err := dial(*cluster, len(clusters) == 1)
		if err != nil {
			cr.LiveError = err.Error()
			continue
		}
		cr.LiveRan = true
		if cr.Live, err = liveDiff(ctx, client, objs, cr.Changes); err != nil {
			cr.LiveError = err.Error()
		}
	}
}

// liveDiff dry-runs objs and reads the live state of the objects the plan
// prunes.
func liveDiff(ctx context.Context, c *reconcile.Client, objs []*unstructured.Unstructured, changes []reconcile.PlannedChange) ([]reconcile.ObjectDiff, error) {
	diffs, err := reconcile.Diff(ctx, c, objs)
	if err != nil {
		return nil, err
	}
	var prune []reconcile.ObjectRef
	for _, ch := range changes {
		if ch.Action == reconcile.Pruned {
			prune = append(prune, ch.Ref)
		}
	}
	pruned, err := reconcile.DiffPrune(ctx, c, prune)
	if err != nil {
		return diffs, err
	}
	return append(diffs, pruned...), nil
}
