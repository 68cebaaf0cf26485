package reconcile

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"

	"trellis.dev/trellis/render"
)

// Prune: the objects of the old inventory that the render no longer has
// are deleted, unless
//   - the apply had a failure: then nothing is pruned, and the inventory
//     keeps every old object for the next apply;
//   - the object is a run (label trellis.dev/run-of): runs are history,
//     kept in the inventory and collected by keep-runs (runs.go);
//   - the live object belongs to another inventory, or to none (skipped);
//   - it is annotated trellis.dev/prune: disabled (skipped, and left out
//     of the inventory from then on);
//   - the prune guard (CheckPrune) refuses the whole prune.
//
// Deletion goes namespaced objects first, then cluster-scoped ones, then
// Namespaces, then CRDs, so that no test or cluster relies on the
// namespace controller's cascading deletion. Each delete is preconditioned
// on the UID that was read, so an object re-created meanwhile survives.

// Deletion order groups.
const (
	pruneNamespaced = iota
	pruneClusterScoped
	pruneNamespaces
	pruneCRDs
)

// pruneTarget is an object of the old inventory that the render no
// longer has.
type pruneTarget struct {
	id      object.ObjMetadata
	ref     ObjectRef
	mapping *meta.RESTMapping
	live    *unstructured.Unstructured // nil when it no longer exists
	err     error
	group   int
}

// PruneSet is the answer to "what would an apply of this render prune?",
// computed without writing anything: the objects of the inventory that the
// render no longer has, judged by the ownership policy, the prune
// annotations and the prune guard (CheckPrune). Apply deletes exactly
// Deletes, unless an object fails to apply (then it prunes nothing); diff
// shows them as deletions, and the pull-request plan lists them.
type PruneSet struct {
	// Inventory is the inventory id asked.
	Inventory string `json:"inventory"`
	// Deletes are the objects the apply deletes, in deletion order:
	// namespaced objects, cluster-scoped ones, Namespaces, then CRDs.
	Deletes []ObjectRef `json:"deletes,omitempty"`
	// Skipped are the objects it leaves, with why: another inventory owns
	// them, or none does, or their prune is disabled.
	Skipped []Change `json:"skipped,omitempty"`
	// Failed are the objects whose live state could not be read.
	Failed []Change `json:"failed,omitempty"`
	// Refusal is the prune guard's refusal, which fails the apply and
	// deletes nothing; "" when the prune is allowed.
	Refusal string `json:"refusal,omitempty"`
	// SuspendedSince is set when the inventory is suspended (status.go):
	// an apply then applies and prunes nothing at all.
	SuspendedSince string `json:"suspendedSince,omitempty"`

	deletes, skips, runs []*pruneTarget
	gone                 object.ObjMetadataSet // entries whose objects are gone
	refused              error
}

// Prunes answers, for the inventory of (opts.SourceID, cluster) on the
// cluster behind c, what an apply of cluster's objects would prune, and
// writes nothing. It is the query apply itself asks (see applier.prune),
// so that diff and the pull-request plan show what apply does. The error
// is for an inventory that cannot be read.
func Prunes(ctx context.Context, c *Client, cluster render.Cluster, opts Options) (*PruneSet, error) {
	opts = opts.withDefaults()
	inv := newStore(c, opts.SourceID, cluster.Name)
	old, err := inv.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cluster.Name, err)
	}
	var rendered object.ObjMetadataSet
	runs := 0
	for _, o := range cluster.Objects {
		rendered = append(rendered, idOf(o))
		if IsRun(o) && old.Contains(idOf(o)) {
			runs++
		}
	}
	ps := queryPrune(ctx, c, inv.info, old, rendered, runs, opts)
	ps.SuspendedSince = inv.suspendedSince()
	return ps, nil
}

// queryPrune is the prune query: rendered are the entries of the render
// (renderedRuns of them runs already in old).
func queryPrune(ctx context.Context, c *Client, inv inventory.Info, old, rendered object.ObjMetadataSet, renderedRuns int, opts Options) *PruneSet {
	ps := &PruneSet{Inventory: inv.ID()}
	inRender := rendered.ToMap()
	var targets []*pruneTarget
	for _, id := range old {
		if _, ok := inRender[id]; !ok {
			targets = append(targets, &pruneTarget{id: id})
		}
	}
	parallel(len(targets), opts.Concurrency, func(i int) { readTarget(ctx, c, targets[i]) })
	sort.Slice(targets, func(i, j int) bool {
		if targets[i].group != targets[j].group {
			return targets[i].group < targets[j].group
		}
		return targets[i].ref.String() < targets[j].ref.String()
	})
	for _, t := range targets {
		switch {
		case t.err != nil:
			ps.Failed = append(ps.Failed, Change{Object: t.ref, Action: Failed, Reason: t.err.Error()})
		case t.live == nil:
			ps.gone = append(ps.gone, t.id)
		default:
			verdict, reason := pruneDecision(inv, t.live)
			switch verdict {
			case pruneKeep:
				ps.runs = append(ps.runs, t)
			case pruneSkip:
				ps.skips = append(ps.skips, t)
				ps.Skipped = append(ps.Skipped, Change{Object: t.ref, Action: Skipped, Reason: reason})
			case pruneDelete:
				ps.deletes = append(ps.deletes, t)
				ps.Deletes = append(ps.Deletes, t.ref)
			}
		}
	}
	plan := PrunePlan{Inventory: len(old) - len(ps.runs) - renderedRuns, Prune: len(ps.deletes), Rendered: len(rendered), Allow: opts.AllowMassPrune}
	if err := CheckPrune(plan); err != nil {
		ps.refused, ps.Refusal = err, err.Error()
	}
	return ps
}

// Diffs shows the prune as a diff does: a Pruned ObjectDiff from each
// live object to nothing, then the objects left (Skipped, with why in
// Note) and those that could not be read (Failed).
func (ps *PruneSet) Diffs() []ObjectDiff {
	var out []ObjectDiff
	for _, t := range ps.deletes {
		out = append(out, compareObjects(t.ref, t.live, nil, ""))
	}
	for _, c := range ps.Skipped {
		out = append(out, ObjectDiff{Ref: c.Object, Action: Skipped, Note: "not pruned: " + c.Reason})
	}
	for _, c := range ps.Failed {
		out = append(out, ObjectDiff{Ref: c.Object, Action: Failed, Err: c.Reason})
	}
	return out
}

// prune deletes what the prune query (queryPrune) says, unless blocked (a
// failed apply), which prunes nothing. It returns the entries to drop from
// the inventory, and the old runs it kept for collectRuns. A refusal of
// the prune guard is returned as an error wrapping ErrPruneRefused, and
// deletes nothing.
func (a *applier) prune(ctx context.Context, old object.ObjMetadataSet, items []*item, blocked bool) (object.ObjMetadataSet, []*pruneTarget, error) {
	if blocked {
		return nil, nil, nil
	}
	ps := queryPrune(ctx, a.c, a.inv.info, old, itemIDs(items, nil), countRuns(items, old), a.opts)
	for _, c := range ps.Failed {
		a.report.one(c)
	}
	dropped := ps.gone
	if ps.refused != nil {
		return dropped, ps.runs, fmt.Errorf("cluster %s: %w", a.spec.Name, ps.refused)
	}
	for i, t := range ps.skips {
		a.report.one(ps.Skipped[i])
		dropped = append(dropped, t.id)
	}
	return append(dropped, a.deleteAll(ctx, ps.deletes)...), ps.runs, nil
}

// countRuns counts the rendered runs that are in the old inventory.
func countRuns(items []*item, old object.ObjMetadataSet) int {
	n := 0
	for _, it := range items {
		if IsRun(it.obj) && old.Contains(idOf(it.obj)) {
			n++
		}
	}
	return n
}

// readTarget finds the mapping and the live object of t.
func readTarget(ctx context.Context, c *Client, t *pruneTarget) {
	t.ref = ObjectRef{Group: t.id.GroupKind.Group, Kind: t.id.GroupKind.Kind, Namespace: t.id.Namespace, Name: t.id.Name}
	t.group = pruneGroupOf(t.id)
	m, err := c.Mapper.RESTMapping(t.id.GroupKind)
	if meta.IsNoMatchError(err) {
		return // its kind is gone, and the object with it
	}
	if err != nil {
		t.err = fmt.Errorf("read before prune: %w", err)
		return
	}
	t.mapping, t.ref.Version = m, m.Resource.Version
	live, err := resourceFor(c.Dynamic, m, t.id.Namespace).Get(ctx, t.id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.err = fmt.Errorf("read before prune: %w", err)
	default:
		t.live = live
	}
}

func pruneGroupOf(id object.ObjMetadata) int {
	switch {
	case id.GroupKind.Kind == "CustomResourceDefinition" && id.GroupKind.Group == "apiextensions.k8s.io":
		return pruneCRDs
	case id.GroupKind.Kind == "Namespace" && id.GroupKind.Group == "":
		return pruneNamespaces
	case id.Namespace == "":
		return pruneClusterScoped
	}
	return pruneNamespaced
}

// deleteAll deletes targets group by group, concurrently within a group,
// and returns the entries that are gone.
func (a *applier) deleteAll(ctx context.Context, targets []*pruneTarget) object.ObjMetadataSet {
	var gone object.ObjMetadataSet
	for start := 0; start < len(targets); {
		end := start
		for end < len(targets) && targets[end].group == targets[start].group {
			end++
		}
		batch := targets[start:end]
		results := make([]Change, len(batch))
		a.report.begin(len(batch))
		parallel(len(batch), a.opts.Concurrency, func(i int) {
			results[i] = a.deleteOne(ctx, batch[i].ref, batch[i].mapping, batch[i].live, "")
			a.report.done(i, results[i])
		})
		for i, t := range batch {
			if results[i].Action == Pruned {
				gone = append(gone, t.id)
			}
		}
		start = end
	}
	return gone
}

// deleteOne deletes live, as the identity that would write it, on the
// condition that it is still the object that was read.
func (a *applier) deleteOne(ctx context.Context, ref ObjectRef, m *meta.RESTMapping, live *unstructured.Unstructured, reason string) Change {
	c := Change{Object: ref, Action: Pruned, Reason: reason, Hash: live.GetAnnotations()[AnnotationConfigHash]}
	dyn, err := a.ids.dynamicFor(impersonatedUser(a.spec.Spec, live))
	if err == nil {
		uid := live.GetUID()
		policy := metav1.DeletePropagationBackground
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy}
		if a.opts.DryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		err = resourceFor(dyn, m, live.GetNamespace()).Delete(ctx, live.GetName(), opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		c.Action, c.Reason = Failed, "delete: "+err.Error()
	}
	return c
}
