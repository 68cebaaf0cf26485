package clusterrun

import (
	"context"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// Follow follows targets (see lineage.Follow) with the defaults of a run:
// every FollowInterval, and for FollowTimeout unless opts says otherwise.
func Follow(ctx context.Context, c *reconcile.Client, targets []reconcile.ObjectRef, opts lineage.FollowOptions) []lineage.Followed {
	if opts.Interval <= 0 {
		opts.Interval = FollowInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = FollowTimeout
	}
	return lineage.Follow(ctx, c, targets, opts)
}
