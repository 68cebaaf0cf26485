package reconcile

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/cli-utils/pkg/inventory"

	"trellis.dev/trellis/render"
)

// The policy of apply and prune: pure functions of annotations and counts,
// so that each rule is one table test (as cli-utils' inventory/policy.go).

// Reasons of skipped changes.
const (
	ReasonPruneDisabled = "prune disabled"
	ReasonDrift         = "drift"
)

// Bounds of the prune guard (SPEC.md, "Prune safety").
const (
	// massPruneMinObjects is the number of pruned objects above which
	// pruning more than half of an inventory is refused.
	massPruneMinObjects = 10
)

// ErrPruneRefused is wrapped by the error of an apply whose prune the
// guard refused: nothing was deleted, and the next revision decides.
var ErrPruneRefused = errors.New("prune refused")

// PrunePlan is what the prune guard looks at.
type PrunePlan struct {
	// Inventory is the number of objects in the inventory before this
	// apply, runs left out (runs are history, collected separately).
	Inventory int
	// Prune is the number of objects this apply would delete.
	Prune int
	// Rendered is the number of objects rendered for the cluster.
	Rendered int
	// Allow is --allow-mass-prune.
	Allow bool
}

// CheckPrune is the prune guard: it refuses to prune every object of a
// non-empty inventory, or more than half of it when that is more than 10
// objects, or anything at all when the render is empty, unless the plan
// allows mass pruning. The error wraps ErrPruneRefused.
func CheckPrune(p PrunePlan) error {
	switch {
	case p.Prune == 0 || p.Allow:
		return nil
	case p.Rendered == 0:
		return fmt.Errorf("%w: the render is empty and would prune all %d objects of the inventory (use --allow-mass-prune if you mean it)", ErrPruneRefused, p.Prune)
	case p.Prune >= p.Inventory:
		return fmt.Errorf("%w: it would prune every object of the inventory (%d) (use --allow-mass-prune if you mean it)", ErrPruneRefused, p.Prune)
	case 2*p.Prune > p.Inventory && p.Prune > massPruneMinObjects:
		return fmt.Errorf("%w: it would prune %d of the %d objects of the inventory, more than half (use --allow-mass-prune if you mean it)", ErrPruneRefused, p.Prune, p.Inventory)
	}
	return nil
}

// IsRun reports whether obj is a run object (a Workflow run or a hashed
// Katib Experiment): created once, never patched, never pruned with its
// template, collected by keep-runs.
func IsRun(obj *unstructured.Unstructured) bool {
	_, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "metadata", "labels", render.LabelRunOf)
	return ok
}

// pruneDisabled returns why the annotations of live forbid deleting it:
// trellis.dev/prune: disabled, or cli-utils' own prevent-deletion
// annotations. It returns "" when they do not.
func pruneDisabled(live *unstructured.Unstructured) string {
	ann := live.GetAnnotations()
	if ann[render.AnnotationPrune] == "disabled" {
		return ReasonPruneDisabled
	}
	for k, v := range ann {
		if common.NoDeletion(k, v) {
			return fmt.Sprintf("%s (%s: %s)", ReasonPruneDisabled, k, v)
		}
	}
	return ""
}

// Ownership of a live object that the render declares.
type ownershipVerdict int

const (
	ownedByThis   ownershipVerdict = iota // this inventory's: applied
	ownedByNone                           // no inventory's: adopted
	adoptDisabled                         // no inventory's, and annotated not to adopt: skipped
	ownedByOther                          // another inventory's: a failure, never touched
)

// AnnotationAdopt, set to "disabled" on a live object that no inventory
// owns, keeps trellis from adopting it.
const AnnotationAdopt = "trellis.dev/adopt"

// ownership says what apply does with live, an existing object that the
// render of inventory inv declares, and why when it does not apply it: an
// object of another inventory is never touched (a failure naming that
// inventory); one of no inventory is adopted, unless annotated
// trellis.dev/adopt: disabled.
func ownership(inv inventory.Info, live *unstructured.Unstructured) (ownershipVerdict, string) {
	if ok, _ := inventory.CanApply(inv, live, inventory.PolicyMustMatch); ok {
		return ownedByThis, ""
	}
	if owner := live.GetAnnotations()[inventory.OwningInventoryKey]; owner != "" {
		return ownedByOther, "owned by inventory " + owner + "; trellis never touches another inventory's objects"
	}
	if v := live.GetAnnotations()[AnnotationAdopt]; v == "disabled" {
		return adoptDisabled, "exists, owned by no inventory, and is not adopted (" + AnnotationAdopt + ": disabled)"
	}
	return ownedByNone, ""
}

// pruneRefusal returns why live, an object of the old inventory, may
// not be deleted under cli-utils' PolicyMustMatch: another inventory, or
// none, owns it. It returns "" when it may.
func pruneRefusal(inv inventory.Info, live *unstructured.Unstructured) string {
	if ok, _ := inventory.CanPrune(inv, live, inventory.PolicyMustMatch); ok {
		return ""
	}
	return ownershipReason(live)
}

func ownershipReason(live *unstructured.Unstructured) string {
	if owner := live.GetAnnotations()[inventory.OwningInventoryKey]; owner != "" {
		return "owned by inventory " + owner
	}
	return "exists and belongs to no inventory (" + inventory.OwningInventoryKey + " is not set)"
}

// pruneVerdict is what prune does with an object it no longer renders.
type pruneVerdict int

const (
	pruneDelete pruneVerdict = iota
	pruneSkip                // reported as skipped, with a reason
	pruneKeep                // a run: kept, for keep-runs to collect
)

// pruneDecision says what prune does with live, an object of the old
// inventory that is no longer rendered, and why when it is skipped.
func pruneDecision(inv inventory.Info, live *unstructured.Unstructured) (pruneVerdict, string) {
	if r := pruneRefusal(inv, live); r != "" {
		return pruneSkip, r
	}
	if IsRun(live) {
		return pruneKeep, ""
	}
	if r := pruneDisabled(live); r != "" {
		return pruneSkip, r
	}
	return pruneDelete, ""
}
