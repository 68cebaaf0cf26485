package reconcile

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Action is what an apply did, or would do, to one object.
type Action string

// Actions, as fluxcd/pkg/ssa names them, and adopted: an object that
// existed, owned by no inventory, which the apply took over.
const (
	Created    Action = "created"
	Adopted    Action = "adopted"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Failed     Action = "failed"
	Skipped    Action = "skipped"
)

// Actions lists every action, in the order summaries print them.
var Actions = []Action{Created, Adopted, Configured, Unchanged, Pruned, Failed, Skipped}

// Wrote reports whether the action wrote the object: created, adopted or
// configured.
func (a Action) Wrote() bool {
	return a == Created || a == Adopted || a == Configured
}

// ObjectRef identifies an object.
type ObjectRef struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the reference of obj.
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	gvk := obj.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// String prints the reference as kubectl does: kind.group/name, with the
// namespace in front when there is one.
func (r ObjectRef) String() string {
	kind := strings.ToLower(r.Kind)
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace != "" {
		return r.Namespace + "/" + kind + "/" + r.Name
	}
	return kind + "/" + r.Name
}

// Change is what happened to one object.
type Change struct {
	Object ObjectRef `json:"object"`
	Action Action    `json:"action"`
	// Hash is the content hash of the object as rendered.
	Hash string `json:"hash,omitempty"`
	// Reason says why an object failed or was skipped.
	Reason string `json:"reason,omitempty"`
}

// String prints the change in kubectl's style: "kind.group/name created".
func (c Change) String() string {
	s := c.Object.String() + " " + string(c.Action)
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// ChangeSet is the result of applying one revision to one cluster.
type ChangeSet struct {
	Cluster  string    `json:"cluster"`
	Revision string    `json:"revision"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Changes  []Change  `json:"changes"`
	// Pins are the endpoints pinned to a pipeline run's output (pin.go).
	Pins []ModelPin `json:"pins,omitempty"`
	// Error is set when the apply as a whole failed (an unreachable
	// cluster, a refused prune); failed objects are in Changes.
	Error string `json:"error,omitempty"`
}

// Count returns how many changes have action a.
func (cs *ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Summary is one line: "3 created, 1 configured, 10 unchanged, 1 pruned".
// Actions with no object are left out.
func (cs *ChangeSet) Summary() string {
	var parts []string
	for _, a := range Actions {
		if n := cs.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "no objects"
	}
	return strings.Join(parts, ", ")
}

// Failed reports whether any object failed or the apply failed as a whole.
func (cs *ChangeSet) Failed() bool {
	return cs.Error != "" || cs.Count(Failed) > 0
}
