package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Status and suspension live in the cluster, on the inventory ConfigMap of
// each (source, cluster), so that they survive restarts and every replica
// of trellis serve, and any laptop, reads the same:
//
//   - trellis.dev/status: what the last apply recorded (its revision, when,
//     its result, its counts, how many objects had drifted), as JSON,
//     written after every apply that reached the inventory, by field
//     manager trellis-status;
//   - trellis.dev/suspended: when the inventory was suspended; while set,
//     Apply applies nothing (ErrSuspended). Written and removed by trellis
//     suspend and resume, with a JSON merge patch, field manager
//     trellis-suspend, so that an apply's own server-side apply of the
//     inventory never removes it.

// Annotations of an inventory ConfigMap.
const (
	AnnotationStatus    = "trellis.dev/status"
	AnnotationSuspended = "trellis.dev/suspended"
)

// Field managers of the status and of suspension.
const (
	statusManager  = "trellis-status"
	suspendManager = "trellis-suspend"
)

// ErrSuspended is wrapped by the error of an Apply of a suspended
// inventory: nothing was applied.
var ErrSuspended = errors.New("suspended")

// Results of an apply, as the status records them.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)

// AppliedStatus is what an apply records on its inventory.
type AppliedStatus struct {
	Revision string    `json:"revision"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Result is ResultSucceeded or ResultFailed.
	Result string `json:"result"`
	// Counts are the objects by action.
	Counts map[Action]int `json:"counts,omitempty"`
	// Drifted is the number of objects the apply found changed by hand
	// (configured: drift) and restored.
	Drifted int    `json:"drifted"`
	Error   string `json:"error,omitempty"`
}

// statusOf is what cs records.
func statusOf(cs *ChangeSet) AppliedStatus {
	st := AppliedStatus{Revision: cs.Revision, Started: cs.Started, Finished: cs.Finished, Result: ResultSucceeded, Error: cs.Error}
	if cs.Failed() {
		st.Result = ResultFailed
	}
	for _, a := range Actions {
		if n := cs.Count(a); n > 0 {
			if st.Counts == nil {
				st.Counts = map[Action]int{}
			}
			st.Counts[a] = n
		}
	}
	for _, c := range cs.Changes {
		if c.Reason == ReasonDrift {
			st.Drifted++
		}
	}
	return st
}

// sameOutcome reports whether a and b say the same but for their times:
// an apply that did what the last one did at the same revision (a drift
// check that found nothing) is not written again, so that the daemon's
// interval does not rewrite the inventory.
func sameOutcome(a, b AppliedStatus) bool {
	a.Started, a.Finished, b.Started, b.Finished = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// recordStatus writes the status of cs on the inventory, creating it if
// needed with the inventory's labels (an inventory of no objects), unless
// the inventory as read holds the same outcome already.
func (s *store) recordStatus(ctx context.Context, cs *ChangeSet) error {
	st := statusOf(cs)
	var last AppliedStatus
	if raw := s.annotations[AnnotationStatus]; raw != "" && json.Unmarshal([]byte(raw), &last) == nil && sameOutcome(last, st) {
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	cm := s.template.DeepCopy()
	ann := cm.GetAnnotations()
	ann[AnnotationStatus] = string(b)
	cm.SetAnnotations(ann)
	data, err := json.Marshal(cm.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = s.c.Dynamic.Resource(configMapGVR).Namespace(InventoryNamespace).Patch(ctx, cm.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: statusManager, Force: &force})
	if err != nil {
		return fmt.Errorf("%s: record status: %w", s.ref(), err)
	}
	return nil
}

// suspendedSince returns when the inventory as last read was suspended,
// or "" when it is not.
func (s *store) suspendedSince() string {
	return s.annotations[AnnotationSuspended]
}

// InventoryStatus is one inventory of a cluster, as read from it.
type InventoryStatus struct {
	// Cluster and Source name the inventory, as trellis wrote them.
	Cluster string `json:"cluster"`
	Source  string `json:"source"`
	// Inventory is its id, ConfigMap its name in InventoryNamespace.
	Inventory string `json:"inventory"`
	ConfigMap string `json:"configMap"`
	// Objects is the number of objects it holds.
	Objects int `json:"objects"`
	// SuspendedSince is when it was suspended; "" when it is not.
	SuspendedSince string `json:"suspendedSince,omitempty"`
	// Last is what its last apply recorded; nil before any.
	Last *AppliedStatus `json:"last,omitempty"`
}

// Suspended reports whether the inventory is suspended.
func (st InventoryStatus) Suspended() bool { return st.SuspendedSince != "" }

// Inventories reads the trellis inventories on the cluster behind c: of
// cluster (every cluster when ""), of source (every source when ""),
// sorted by cluster and source. A cluster trellis never applied has none.
func Inventories(ctx context.Context, c *Client, cluster, source string) ([]InventoryStatus, error) {
	list, err := c.Dynamic.Resource(configMapGVR).Namespace(InventoryNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: common.InventoryLabel + ",app.kubernetes.io/managed-by=" + FieldManager,
	})
	if err != nil {
		return nil, fmt.Errorf("list inventories in %s: %w", InventoryNamespace, err)
	}
	var out []InventoryStatus
	for i := range list.Items {
		st, ok := inventoryStatus(&list.Items[i])
		if !ok || (cluster != "" && st.Cluster != cluster) || (source != "" && st.Source != source) {
			continue
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Source < out[j].Source
	})
	return out, nil
}

// inventoryStatus reads one inventory ConfigMap; ok is false for one
// trellis did not write.
func inventoryStatus(cm *unstructured.Unstructured) (InventoryStatus, bool) {
	ann := cm.GetAnnotations()
	name := ann[AnnotationInventory]
	i := strings.LastIndex(name, "/")
	if i < 0 {
		return InventoryStatus{}, false
	}
	st := InventoryStatus{
		Source: name[:i], Cluster: name[i+1:], Inventory: cm.GetLabels()[common.InventoryLabel], ConfigMap: cm.GetName(),
		SuspendedSince: ann[AnnotationSuspended],
	}
	if objs, err := inventory.WrapInventoryObj(cm).Load(); err == nil {
		st.Objects = len(objs)
	}
	if raw := ann[AnnotationStatus]; raw != "" {
		var last AppliedStatus
		if json.Unmarshal([]byte(raw), &last) == nil {
			st.Last = &last
		}
	}
	return st, true
}

// SuspendChange is what Suspend or Resume did to one inventory.
type SuspendChange struct {
	InventoryStatus
	// Changed is false when it already was as asked.
	Changed bool `json:"changed"`
}

// Suspend suspends the inventories of cluster on the cluster behind c:
// every one of its sources, or only source when set (that inventory is
// created, empty, when it does not exist yet, so that a cluster can be
// suspended before its first apply). now is recorded as when. Without
// source, a cluster with no inventory is an error: there is nothing to
// suspend, and suspending another source's future inventory needs its id.
func Suspend(ctx context.Context, c *Client, cluster, source string, now time.Time) ([]SuspendChange, error) {
	if source != "" {
		s := newStore(c, source, cluster)
		if _, err := s.load(ctx); err != nil {
			return nil, err
		}
		if !s.found {
			if err := s.save(ctx, object.ObjMetadataSet{}); err != nil {
				return nil, err
			}
		}
	}
	return setSuspended(ctx, c, cluster, source, now.UTC().Format(time.RFC3339))
}

// Resume resumes the inventories of cluster (of source only, when set),
// and says of each whether it was suspended.
func Resume(ctx context.Context, c *Client, cluster, source string) ([]SuspendChange, error) {
	return setSuspended(ctx, c, cluster, source, "")
}

// setSuspended sets (since, RFC 3339) or removes ("") the suspension of
// the inventories of cluster and source.
func setSuspended(ctx context.Context, c *Client, cluster, source, since string) ([]SuspendChange, error) {
	invs, err := Inventories(ctx, c, cluster, source)
	if err != nil {
		return nil, err
	}
	if len(invs) == 0 {
		what := "cluster " + cluster
		if source != "" {
			what += " from source " + source
		}
		return nil, fmt.Errorf("no inventory of %s in %s: trellis never applied it to this cluster", what, InventoryNamespace)
	}
	var value any // JSON null removes the annotation
	if since != "" {
		value = since
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationSuspended: value}}})
	if err != nil {
		return nil, err
	}
	out := make([]SuspendChange, 0, len(invs))
	for _, inv := range invs {
		ch := SuspendChange{InventoryStatus: inv, Changed: inv.Suspended() != (since != "")}
		if ch.Changed {
			_, err := c.Dynamic.Resource(configMapGVR).Namespace(InventoryNamespace).Patch(ctx, inv.ConfigMap, types.MergePatchType, patch,
				metav1.PatchOptions{FieldManager: suspendManager})
			if err != nil {
				return out, fmt.Errorf("ConfigMap/%s/%s: %w", InventoryNamespace, inv.ConfigMap, err)
			}
			if since != "" {
				ch.SuspendedSince = since
			}
		}
		out = append(out, ch)
	}
	return out, nil
}
