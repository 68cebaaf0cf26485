// Package clusterrun orchestrates the run of one cluster at one revision:
// connect, apply, wait for readiness, follow the runs the apply started,
// with one set of defaults (defaults.go) for every caller. `trellis
// apply`, the daemon and the pull-request check's live dry run all reach
// clusters through NewClient and follow runs through Follow; the CLI and
// the daemon apply through Cluster and differ only in what triggers a run
// (a command, a poll) and how its lines are printed (a Printer).
package clusterrun
