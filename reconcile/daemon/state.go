package daemon

import (
	"sort"
	"time"

	"trellis.dev/trellis/render"
)

// ClusterState is what the daemon knows of one cluster it reconciles, for
// read-only views (the dashboard).
type ClusterState struct {
	// Cluster is the cluster's declaration at the revision it was last
	// offered; its Objects hold the Secrets of that revision, for
	// redaction only.
	Cluster render.Cluster
	// Snapshot is the revision last offered to the cluster's worker.
	Snapshot Snapshot
}

// Rejection is a revision that did not render: nothing of it was applied.
type Rejection struct {
	Revision string
	// Problems are its problems, path:line:col first, with the values of
	// its Secrets hidden.
	Problems []string
	At       time.Time
}

// Clusters returns what the daemon knows of each cluster it reconciles,
// sorted by name.
func (d *Daemon) Clusters() []ClusterState {
	d.mu.Lock()
	workers := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		workers = append(workers, w)
	}
	d.mu.Unlock()
	out := make([]ClusterState, 0, len(workers))
	for _, w := range workers {
		w.mu.Lock()
		if w.cluster != nil {
			out = append(out, ClusterState{Cluster: *w.cluster, Snapshot: w.snap})
		}
		w.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster.Name < out[j].Cluster.Name })
	return out
}

// Rejected returns the last revision that did not render, or nil when the
// last revision polled rendered.
func (d *Daemon) Rejected() *Rejection {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rejected == nil {
		return nil
	}
	r := *d.rejected
	return &r
}
