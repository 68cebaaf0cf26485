// Package elect decides which replica of trellis serve reconciles what,
// through Kubernetes Leases and client-go's leader election: one Lease for
// the whole daemon (RunLeading, serve --leader-elect), or one per shard of
// the clusters (Sharder, serve --shards). In both, a Lease is given up
// only after the work it covers has stopped, so that two replicas never
// apply the same cluster at once.
package elect
