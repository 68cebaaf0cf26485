// Package reconcile is the apply engine: it makes one cluster hold exactly
// the objects rendered from one revision (model pinning, server-side
// apply, inventory and pruning, drift, diff, plan, readiness waits). The
// stages around it are its sibling packages: mlkind interprets ML status,
// redact hides secrets, clusterrun orchestrates a cluster's run, lineage
// records it, daemon and pullrequest drive it.
//
// # Apply
//
// Objects are applied with server-side apply, field manager "trellis",
// CRDs and Namespaces first. Requests are sent directly with client-go, many
// at a time: cli-utils' Applier runs kubectl's apply code once per object,
// which is kubectl's speed, while trellis keeps cli-utils for what it does
// well: the inventory, the ownership policy, and kstatus.
//
// # Results
//
// Every verb returns data: a ChangeSet with one Change per object
// (created, configured, unchanged, pruned, failed, skipped) that the CLI
// prints, the PR comment summarises and the lineage record stores.
package reconcile
