package reconcile

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/render"
)

// PlannedChange is what merging a change of the config repo would do to
// one object, as seen from Git alone.
type PlannedChange struct {
	Ref ObjectRef `json:"object"`
	// Action is Created, Configured or Pruned.
	Action Action `json:"action"`
	// Unified is the unified diff from the base's object to the head's,
	// with headers "--- base/<ref>" and "+++ head/<ref>", Secret values
	// redacted.
	Unified string `json:"unified"`
}

// ClusterPlan is what a change of the config repo would do to one
// cluster: the objects it adds, changes and removes, and the prune guard's
// verdict on the removals. It is computed offline, from two renders.
type ClusterPlan struct {
	Cluster string `json:"cluster"`
	// Changes are the head's new and changed objects in apply order, then
	// the base's removed objects in apply order. Removed runs are left
	// out: runs are history, never pruned with their templates.
	Changes []PlannedChange `json:"changes,omitempty"`
	// Unchanged is the number of objects the same in base and head, once
	// the revision trellis stamps on them is left out.
	Unchanged int `json:"unchanged"`
	// PruneRefusal is the prune guard's refusal of the removals, or "".
	PruneRefusal string `json:"pruneRefusal,omitempty"`
	// PrunedFrom is the inventory whose prune query (Prunes) answered the
	// removals, after a live dry run; "" when they are the base objects
	// the head lacks, as seen from Git alone.
	PrunedFrom string `json:"prunedFrom,omitempty"`
	// Live are the answers of an optional server-side dry run of the
	// head against the cluster (see DiffCluster); the plan itself
	// never reaches a cluster.
	Live []ObjectDiff `json:"live,omitempty"`
}

// Count returns how many changes have action a.
func (p *ClusterPlan) Count(a Action) int {
	n := 0
	for _, c := range p.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Plan headers: the base side and the head side of each unified diff.
const (
	planFromPrefix = "base/"
	planToPrefix   = "head/"
)

// PlanCluster compares the objects the base and the head of a change
// render for one cluster, matched by render.ObjectID. Either may be nil:
// a cluster only in head is all added, one only in base all removed.
// Objects that differ only in the revision trellis stamps on them are
// unchanged. The prune guard (CheckPrune) judges the removals as an apply
// of head over an inventory of base would: Inventory is base's objects
// and Prune its removed objects, runs left out of both; Rendered is
// head's objects.
func PlanCluster(base, head *render.Cluster) ClusterPlan {
	var plan ClusterPlan
	var baseObjs, headObjs []*unstructured.Unstructured
	if base != nil {
		plan.Cluster, baseObjs = base.Name, base.Objects
	}
	if head != nil {
		plan.Cluster, headObjs = head.Name, head.Objects
	}
	baseByID := make(map[string]*unstructured.Unstructured, len(baseObjs))
	for _, o := range baseObjs {
		baseByID[render.ObjectID(o)] = o
	}
	inHead := make(map[string]bool, len(headObjs))
	for _, o := range headObjs {
		id := render.ObjectID(o)
		inHead[id] = true
		d := compareObjects(RefOf(o), baseByID[id], o, "")
		if d.Action == Unchanged {
			plan.Unchanged++
			continue
		}
		plan.Changes = append(plan.Changes, PlannedChange{Ref: d.Ref, Action: d.Action, Unified: relabelUnified(d.Unified)})
	}
	inventory, prune := 0, 0
	for _, o := range baseObjs {
		if IsRun(o) {
			continue
		}
		inventory++
		if inHead[render.ObjectID(o)] {
			continue
		}
		prune++
		d := compareObjects(RefOf(o), o, nil, "")
		plan.Changes = append(plan.Changes, PlannedChange{Ref: d.Ref, Action: Pruned, Unified: relabelUnified(d.Unified)})
	}
	if err := CheckPrune(PrunePlan{Inventory: inventory, Prune: prune, Rendered: len(headObjs)}); err != nil {
		plan.PruneRefusal = err.Error()
	}
	return plan
}

// relabelUnified turns the "live/" and "git/" headers of a unified diff
// from compareObjects into the plan's "base/" and "head/".
func relabelUnified(unified string) string {
	from, rest, ok := strings.Cut(unified, "\n")
	if !ok {
		return unified
	}
	to, body, _ := strings.Cut(rest, "\n")
	from = strings.Replace(from, "--- live/", "--- "+planFromPrefix, 1)
	to = strings.Replace(to, "+++ git/", "+++ "+planToPrefix, 1)
	return from + "\n" + to + "\n" + body
}
