// Package daemon is `trellis serve`: it polls a Git source and keeps every
// cluster at the revision Git says, through network faults, restarts and
// bad commits.
//
// # The loop
//
// Every interval, or at once when a verified webhook asks, the source is
// polled. A new revision is loaded, validated and rendered once, whole: an
// invalid revision is reported (path:line:col, in the log and the
// trellis_render_errors_total metric) and the previous revision stays in
// force until a later commit fixes it.
//
// # Clusters
//
// Each cluster has a worker of its own. It applies the newest rendered
// revision as soon as there is one, and again every interval to correct
// drift. A failed apply is retried with exponential backoff (capped at the
// interval); one failing cluster never delays another. At most
// MaxConcurrentClusters applies run at once.
//
// # Shards
//
// With Config.Shards set, the clusters are split into that many shards by
// ShardOf, a hash of the cluster's name, and the daemon reconciles only
// the clusters of the shards it was given with Acquire. Release stops a
// shard's workers and returns once they returned, so that a caller
// holding the shard through a Lease (`serve --shards`) gives the Lease up
// only when nothing of the shard is applied any more. Polling and
// rendering are the same whatever the shards held.
//
// # Suspension and shutdown
//
// A cluster is suspended in the cluster itself, on its inventory
// (reconcile.Suspend): Apply then applies nothing (reconcile.ErrSuspended),
// which the worker counts as suspended, not as a failure, so every
// replica, and a restarted one, sees it. On shutdown, workers finish the apply in hand: apply writes
// its pending inventory before it touches any object, so even a process
// killed mid-apply forgets nothing.
package daemon
