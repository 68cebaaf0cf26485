package lineage

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// Phases trellis gives a followed object besides those its controller
// reports (see mlkind).
const (
	PhasePending  = mlkind.PhasePending
	PhaseUnknown  = mlkind.PhaseUnknown
	PhaseReady    = mlkind.PhaseReady
	PhaseNotReady = mlkind.PhaseNotReady
)

// Followable reports whether Follow knows how to follow objects of ref's
// kind (mlkind.Followable).
func Followable(ref reconcile.ObjectRef) bool {
	return mlkind.Followable(ref.Group, ref.Kind)
}

// Observe describes obj, as read from the cluster, as a Followed, and
// reports whether it has finished; mlkind.Observe interprets it.
func Observe(obj *unstructured.Unstructured) (Followed, bool) {
	o := mlkind.Observe(obj)
	return Followed{
		Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(),
		RunOf: obj.GetLabels()[render.LabelRunOf],
		Phase: o.Phase, Started: o.Started, Finished: o.Finished, Nodes: o.Nodes, Outputs: o.Outputs,
		URL: o.URL, ModelURI: o.ModelURI, Traffic: o.Traffic, Message: o.Message,
	}, o.Done
}
