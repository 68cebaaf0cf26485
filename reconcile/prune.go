package reconcile

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
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

// prune deletes what the old inventory has and items do not. It returns
// the entries to drop from the inventory, and the old runs it kept for
// collectRuns. blocked (a failed apply) prunes nothing. A refusal of the
// prune guard is returned as an error wrapping ErrPruneRefused, and
// deletes nothing.
func (a *applier) prune(ctx context.Context, old object.ObjMetadataSet, items []*item, blocked bool) (object.ObjMetadataSet, []*pruneTarget, error) {
	if blocked {
		return nil, nil, nil
	}
	rendered := itemIDs(items, nil).ToMap()
	var targets []*pruneTarget
	for _, id := range old {
		if _, ok := rendered[id]; !ok {
			targets = append(targets, &pruneTarget{id: id})
		}
	}
	parallel(len(targets), a.opts.Concurrency, func(i int) { a.readTarget(ctx, targets[i]) })
	sort.Slice(targets, func(i, j int) bool {
		if targets[i].group != targets[j].group {
			return targets[i].group < targets[j].group
		}
		return targets[i].ref.String() < targets[j].ref.String()
	})
	var dropped object.ObjMetadataSet
	var deletes, skips, runs []*pruneTarget
	var reasons []string
	for _, t := range targets {
		switch {
		case t.err != nil:
			a.report.one(Change{Object: t.ref, Action: Failed, Reason: t.err.Error()})
		case t.live == nil:
			dropped = append(dropped, t.id)
		default:
			verdict, reason := pruneDecision(a.inv.info, t.live)
			switch verdict {
			case pruneKeep:
				runs = append(runs, t)
			case pruneSkip:
				skips, reasons = append(skips, t), append(reasons, reason)
			case pruneDelete:
				deletes = append(deletes, t)
			}
		}
	}
	plan := PrunePlan{Inventory: len(old) - len(runs) - countRuns(items, old), Prune: len(deletes), Rendered: len(items), Allow: a.opts.AllowMassPrune}
	if err := CheckPrune(plan); err != nil {
		return dropped, runs, fmt.Errorf("cluster %s: %w", a.spec.Name, err)
	}
	for i, t := range skips {
		a.report.one(Change{Object: t.ref, Action: Skipped, Reason: reasons[i]})
		dropped = append(dropped, t.id)
	}
	return append(dropped, a.deleteAll(ctx, deletes)...), runs, nil
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
func (a *applier) readTarget(ctx context.Context, t *pruneTarget) {
	t.ref = ObjectRef{Group: t.id.GroupKind.Group, Kind: t.id.GroupKind.Kind, Namespace: t.id.Namespace, Name: t.id.Name}
	t.group = pruneGroupOf(t.id)
	m, err := a.c.Mapper.RESTMapping(t.id.GroupKind)
	if meta.IsNoMatchError(err) {
		return // its kind is gone, and the object with it
	}
	if err != nil {
		t.err = fmt.Errorf("read before prune: %w", err)
		return
	}
	t.mapping, t.ref.Version = m, m.Resource.Version
	live, err := resourceFor(a.c.Dynamic, m, t.id.Namespace).Get(ctx, t.id.Name, metav1.GetOptions{})
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
