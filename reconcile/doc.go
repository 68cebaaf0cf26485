// Package reconcile makes one cluster hold exactly the objects rendered
// from one revision.
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
