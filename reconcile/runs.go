package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"

	"trellis.dev/trellis/render"
)

// Runs: a run object (label trellis.dev/run-of: a Workflow run of a
// pipeline, a hashed Katib Experiment) is history. It is created once: when
// an object of its name exists it is unchanged, never patched (drift.go).
// It is never pruned with its template: when the render no longer has it,
// it stays in the inventory (prune.go). After each apply without failures,
// the runs of each run-of value are sorted newest first, by
// creationTimestamp, and those of this inventory beyond the newest N are
// deleted, N being the trellis.dev/keep-runs annotation of the newest
// (default 5).

// DefaultKeepRuns is the number of runs kept per run-of value when the
// keep-runs annotation is missing or invalid.
const DefaultKeepRuns = 5

// runGroup is the runs of one run-of value in one resource and namespace.
type runGroup struct {
	mapping *meta.RESTMapping
	runs    []*unstructured.Unstructured
}

// collectRuns deletes the runs beyond keep-runs and returns their
// inventory entries. blocked (a failed apply or a refused prune) deletes
// nothing. runs are the runs of the old inventory that prune kept.
func (a *applier) collectRuns(ctx context.Context, old object.ObjMetadataSet, items []*item, runs []*pruneTarget, blocked bool) object.ObjMetadataSet {
	if blocked {
		return nil
	}
	mine := old.Union(itemIDs(items, succeeded)).ToMap()
	lists := map[liveKey]*meta.RESTMapping{}
	for _, it := range items {
		if IsRun(it.obj) && it.mapping != nil && succeeded(it) {
			lists[liveKey{gvr: it.mapping.Resource, ns: it.obj.GetNamespace()}] = it.mapping
		}
	}
	for _, t := range runs {
		lists[liveKey{gvr: t.mapping.Resource, ns: t.id.Namespace}] = t.mapping
	}
	var doomed []*unstructured.Unstructured
	var mappings []*meta.RESTMapping
	var reasons []string
	for _, g := range a.runGroups(ctx, lists, mine) {
		keep := keepRuns(g.runs[0])
		for _, r := range g.runs[min(keep, len(g.runs)):] {
			if pruneDisabled(r) == "" {
				doomed, mappings = append(doomed, r), append(mappings, g.mapping)
				reasons = append(reasons, fmt.Sprintf("older than the last %d runs", keep))
			}
		}
	}
	results := make([]Change, len(doomed))
	a.report.begin(len(doomed))
	parallel(len(doomed), a.opts.Concurrency, func(i int) {
		results[i] = a.deleteOne(ctx, RefOf(doomed[i]), mappings[i], doomed[i], reasons[i])
		a.report.done(i, results[i])
	})
	var gone object.ObjMetadataSet
	for i, r := range doomed {
		if results[i].Action == Pruned {
			gone = append(gone, idOf(r))
		}
	}
	return gone
}

// runGroups lists the runs in each resource and namespace of lists, keeps
// those of this inventory, and groups them by run-of value, newest first.
// Groups are in a stable order.
func (a *applier) runGroups(ctx context.Context, lists map[liveKey]*meta.RESTMapping, mine map[object.ObjMetadata]struct{}) []*runGroup {
	groups := map[string]*runGroup{}
	for k, m := range lists {
		list, err := resourceFor(a.c.Dynamic, m, k.ns).List(ctx, metav1.ListOptions{LabelSelector: render.LabelRunOf})
		if err != nil {
			continue // collected on the next apply
		}
		for i := range list.Items {
			r := &list.Items[i]
			if _, ok := mine[idOf(r)]; !ok || pruneRefusal(a.inv.info, r) != "" {
				continue
			}
			key := k.gvr.String() + "|" + k.ns + "|" + r.GetLabels()[render.LabelRunOf]
			if groups[key] == nil {
				groups[key] = &runGroup{mapping: m}
			}
			groups[key].runs = append(groups[key].runs, r)
		}
	}
	keys := make([]string, 0, len(groups))
	for k, g := range groups {
		keys = append(keys, k)
		sort.Slice(g.runs, func(i, j int) bool { return newer(g.runs[i], g.runs[j]) })
	}
	sort.Strings(keys)
	out := make([]*runGroup, len(keys))
	for i, k := range keys {
		out[i] = groups[k]
	}
	return out
}

// newer orders runs newest first: by creationTimestamp, whose resolution
// is a second, then by resourceVersion, which etcd increases (a tie-break
// only), then by name.
func newer(a, b *unstructured.Unstructured) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return tb.Before(&ta)
	}
	ra, errA := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	rb, errB := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	if errA == nil && errB == nil && ra != rb {
		return ra > rb
	}
	return a.GetName() > b.GetName()
}

// keepRuns returns the keep-runs annotation of run, at least 1.
func keepRuns(run *unstructured.Unstructured) int {
	n, err := strconv.Atoi(run.GetAnnotations()[render.AnnotationKeepRuns])
	if err != nil {
		return DefaultKeepRuns
	}
	return max(n, 1)
}
