package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/inventory"

	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
)

// diffConcurrency is the number of dry-run applies and lists in flight.
const diffConcurrency = 8

// diffConfigHashAnnotation is the config hash Apply stamps on objects
// (AnnotationConfigHash in drift.go).
const diffConfigHashAnnotation = "trellis.dev/config-hash"

// diffBookkeeping are the annotations Apply writes beside the rendered
// object. The dry run sends them as they are live, so that it does not
// report their removal; the revision and the config hash are also left
// out of what Diff compares and shows: a new revision alone is no change.
var diffBookkeeping = []string{render.AnnotationRevision, diffConfigHashAnnotation, inventory.OwningInventoryKey}

// ObjectDiff is the difference between one object in the cluster and what
// applying Git's version of it would make of it.
type ObjectDiff struct {
	Ref ObjectRef `json:"object"`
	// Action is Created, Configured, Unchanged, Failed, Skipped (an
	// endpoint waiting for its pipeline's first successful run, see
	// pin.go), or Pruned (from DiffCluster: the prune query's answer).
	Action Action `json:"action"`
	// Live is the object in the cluster, Merged what the server made of
	// it in a dry-run apply; both as YAML, without server bookkeeping
	// (managedFields, resourceVersion, uid, status, ...), Secret values
	// redacted. Live is empty for a created object, Merged for a pruned
	// one.
	Live   string `json:"live,omitempty"`
	Merged string `json:"merged,omitempty"`
	// Unified is the unified diff from Live to Merged, with headers
	// "--- live/<ref>" and "+++ git/<ref>"; empty when unchanged or failed.
	Unified string `json:"unified,omitempty"`
	// Err is the apiserver's message when the dry run failed.
	Err string `json:"error,omitempty"`
	// Note says when Merged is Git's object as rendered rather than the
	// server's answer: its namespace or its CRD is created by the same
	// apply, so the server cannot check it yet.
	Note string `json:"note,omitempty"`
}

// Changed reports whether applying would write or delete the object.
func (d ObjectDiff) Changed() bool {
	return d.Action.Wrote() || d.Action == Pruned
}

// Diff computes, for each object, what applying it would change in the
// cluster behind c: a server-side dry-run apply (field manager trellis,
// forced, as Apply does) compared with the live object, read with one
// List per kind and namespace. Dry runs go 8 at a time.
//
// The result has one ObjectDiff per object, in order. A dry run that the
// apiserver refuses is a Failed ObjectDiff, not an error: the error is
// for a cluster that cannot be reached or read at all.
func Diff(ctx context.Context, c *Client, objs []*unstructured.Unstructured) ([]ObjectDiff, error) {
	pinned, waiting, err := pinAll(ctx, c, objs)
	if err != nil {
		return nil, err
	}
	diffs, err := diffObjects(ctx, c, pinned, nil)
	if err != nil {
		return nil, err
	}
	return withWaiting(diffs, waiting), nil
}

// diffObjects diffs objs; with inv, each existing object is also judged
// by the ownership policy of that inventory, as apply judges it.
func diffObjects(ctx context.Context, c *Client, objs []*unstructured.Unstructured, inv inventory.Info) ([]ObjectDiff, error) {
	d := newDiffer(c, objs)
	d.inv = inv
	targets, err := d.resolve(objs)
	if err != nil {
		return nil, err
	}
	lists, err := d.listLive(ctx, targets)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectDiff, len(targets))
	eg := errgroup.Group{}
	eg.SetLimit(diffConcurrency)
	for i, t := range targets {
		eg.Go(func() error {
			out[i] = d.diffOne(ctx, t, lists[t.key])
			return nil
		})
	}
	_ = eg.Wait() // diffOne reports failures in its result
	return out, nil
}

// differ holds what one Diff knows about the objects it compares.
type differ struct {
	c *Client
	// inv, when set, is the inventory whose ownership policy judges the
	// live objects (see ownership).
	inv inventory.Info
	// newNamespaces are the Namespaces among the objects, and newKinds the
	// kinds their CRDs define: objects in them may not be checkable yet.
	newNamespaces map[string]bool
	newKinds      map[schema.GroupKind]bool
}

func newDiffer(c *Client, objs []*unstructured.Unstructured) *differ {
	d := &differ{c: c, newNamespaces: map[string]bool{}, newKinds: map[schema.GroupKind]bool{}}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		switch {
		case gvk.Group == "" && gvk.Kind == "Namespace":
			d.newNamespaces[o.GetName()] = true
		case gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition":
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			d.newKinds[schema.GroupKind{Group: group, Kind: kind}] = true
		}
	}
	return d
}

// diffTarget is one object to diff and where it lives.
type diffTarget struct {
	obj *unstructured.Unstructured
	ref ObjectRef
	ri  dynamic.ResourceInterface // nil when the kind is not served
	// key names the List that reads the live object.
	key    string
	mapErr error
}

// resolve finds the resource of each object. A kind the cluster does not
// serve is the object's failure; a failed discovery is Diff's.
func (d *differ) resolve(objs []*unstructured.Unstructured) ([]diffTarget, error) {
	out := make([]diffTarget, len(objs))
	reset := false
	for i, o := range objs {
		t := diffTarget{obj: o, ref: RefOf(o)}
		gvk := o.GroupVersionKind()
		m, err := d.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) && !reset { // maybe installed after discovery was cached
			reset = true
			d.c.Mapper.Reset()
			m, err = d.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		switch {
		case meta.IsNoMatchError(err):
			t.mapErr = err
		case err != nil: // the cluster, not the object, is the subject
			return nil, fmt.Errorf("discovery: %w", err)
		case m.Scope.Name() == meta.RESTScopeNameNamespace:
			t.ri = d.c.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace())
			t.key = m.Resource.String() + "|" + o.GetNamespace()
		default:
			t.ri = d.c.Dynamic.Resource(m.Resource)
			t.key = m.Resource.String()
		}
		out[i] = t
	}
	return out, nil
}

// diffListing is the live objects of one List, by name, or why the List
// failed.
type diffListing struct {
	items map[string]*unstructured.Unstructured
	err   error
}

// listLive lists each (resource, namespace) of targets once. A List that
// the apiserver refuses fails its objects; one that cannot reach the
// apiserver fails Diff.
func (d *differ) listLive(ctx context.Context, targets []diffTarget) (map[string]*diffListing, error) {
	out := map[string]*diffListing{}
	eg := errgroup.Group{}
	eg.SetLimit(diffConcurrency)
	for _, t := range targets {
		if t.ri == nil || out[t.key] != nil {
			continue
		}
		l := &diffListing{}
		out[t.key] = l
		eg.Go(func() error {
			list, err := t.ri.List(ctx, metav1.ListOptions{})
			if err != nil {
				l.err = err
				if !isAPIError(err) {
					return fmt.Errorf("%s: list: %w", t.ref, err)
				}
				return nil
			}
			items := make(map[string]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				items[list.Items[i].GetName()] = &list.Items[i]
			}
			l.items = items // read after eg.Wait
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// isAPIError reports whether err is an answer of the apiserver, rather
// than a failure to reach it.
func isAPIError(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s)
}

// apiMessage is the apiserver's message in err, or err's text.
func apiMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) && s.Status().Message != "" {
		return s.Status().Message
	}
	return err.Error()
}

// diffOne dry-runs one object and compares the answer with the live one.
func (d *differ) diffOne(ctx context.Context, t diffTarget, l *diffListing) ObjectDiff {
	if t.mapErr != nil {
		gk := t.obj.GroupVersionKind().GroupKind()
		if d.newKinds[gk] {
			return compareObjects(t.ref, nil, t.obj, fmt.Sprintf("not checked by the server: its kind %s is defined by a CRD of this apply", gk))
		}
		return ObjectDiff{Ref: t.ref, Action: Failed, Err: fmt.Sprintf("kind not served by the cluster: %v", t.mapErr)}
	}
	if l.err != nil {
		return ObjectDiff{Ref: t.ref, Action: Failed, Err: "read live object: " + apiMessage(l.err)}
	}
	live := l.items[t.ref.Name]
	adopt := false
	if live != nil && d.inv != nil {
		switch verdict, reason := ownership(d.inv, live); verdict {
		case ownedByOther:
			return ObjectDiff{Ref: t.ref, Action: Failed, Err: reason}
		case adoptDisabled:
			return ObjectDiff{Ref: t.ref, Action: Skipped, Note: reason}
		case ownedByNone:
			adopt = true
		}
	}
	merged, err := dryRunApply(ctx, t.ri, t.obj, live)
	if err != nil {
		if live == nil && d.newNamespaces[t.ref.Namespace] && isNamespaceNotFound(err, t.ref.Namespace) {
			return compareObjects(t.ref, nil, t.obj, fmt.Sprintf("not checked by the server: its namespace %s is created by this apply", t.ref.Namespace))
		}
		failed := compareObjects(t.ref, live, live, "")
		failed.Action, failed.Merged, failed.Unified, failed.Err = Failed, "", "", apiMessage(err)
		return failed
	}
	if adopt {
		out := compareObjects(t.ref, live, merged, "adopted: it exists and no inventory owns it; apply takes it over")
		out.Action = Adopted
		return out
	}
	return compareObjects(t.ref, live, merged, "")
}

// dryRunApply sends obj as a forced server-side apply dry run, with the
// bookkeeping annotations as they are on live.
func dryRunApply(ctx context.Context, ri dynamic.ResourceInterface, obj, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj = obj.DeepCopy()
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	var liveAnn map[string]string
	if live != nil {
		liveAnn = live.GetAnnotations()
	}
	for _, k := range diffBookkeeping {
		delete(ann, k)
		if v, ok := liveAnn[k]; ok {
			ann[k] = v
		}
	}
	obj.SetAnnotations(ann)
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", RefOf(obj), err)
	}
	force := true
	return ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager: FieldManager, Force: &force, DryRun: []string{metav1.DryRunAll},
	})
}

// isNamespaceNotFound reports whether err says that namespace ns does not
// exist.
func isNamespaceNotFound(err error, ns string) bool {
	var s apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &s) {
		return false
	}
	det := s.Status().Details
	return det != nil && det.Kind == "namespaces" && det.Name == ns
}

// DiffCluster shows what an apply of cluster (with opts, as Apply takes
// them) would do to the cluster behind c, and writes nothing: the Diff of
// its objects, each existing one judged by the ownership policy of the
// inventory (another inventory's is Failed, naming it; one of no
// inventory is Adopted, or Skipped when annotated trellis.dev/adopt:
// disabled), then the deletions the prune query answers (Prunes, the
// query Apply itself asks), as Pruned ObjectDiffs from the live object to
// nothing, and the inventory's objects it would leave (Skipped) or could
// not read (Failed). The PruneSet is returned for its guard's verdict.
func DiffCluster(ctx context.Context, c *Client, cluster render.Cluster, opts Options) ([]ObjectDiff, *PruneSet, error) {
	opts = opts.withDefaults()
	pinned, waiting, err := pinAll(ctx, c, cluster.Objects)
	if err != nil {
		return nil, nil, err
	}
	diffs, err := diffObjects(ctx, c, pinned, newStore(c, opts.SourceID, cluster.Name).info)
	if err != nil {
		return nil, nil, err
	}
	diffs = withWaiting(diffs, waiting)
	ps, err := Prunes(ctx, c, cluster, opts)
	if err != nil {
		return diffs, nil, err
	}
	return append(diffs, ps.Diffs()...), ps, nil
}

// compareObjects builds the ObjectDiff of ref from its live object and
// what applying would make of it; either may be nil (created, pruned).
func compareObjects(ref ObjectRef, live, merged *unstructured.Unstructured, note string) ObjectDiff {
	live, merged = diffClean(live), diffClean(merged)
	d := ObjectDiff{Ref: ref, Note: note}
	switch {
	case live == nil:
		d.Action = Created
	case merged == nil:
		d.Action = Pruned
	case diffYAML(live) == diffYAML(merged):
		d.Action = Unchanged
	default:
		d.Action = Configured
	}
	live, merged = redact.Pair(live, merged)
	d.Live, d.Merged = diffYAML(live), diffYAML(merged)
	if d.Action != Unchanged {
		d.Unified = unifiedDiff(ref, d.Live, d.Merged)
	}
	return d
}

// diffServerFields are the fields the server writes, left out of diffs.
var diffServerFields = [][]string{
	{"metadata", "managedFields"},
	{"metadata", "resourceVersion"},
	{"metadata", "generation"},
	{"metadata", "uid"},
	{"metadata", "creationTimestamp"},
	{"metadata", "selfLink"},
	{"status"},
}

// diffClean returns a copy of obj without the fields the server writes
// and without trellis's revision and config hash (on run objects the
// revision is also a label).
func diffClean(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	out := obj.DeepCopy()
	for _, f := range diffServerFields {
		unstructured.RemoveNestedField(out.Object, f...)
	}
	if ann := out.GetAnnotations(); ann != nil {
		delete(ann, render.AnnotationRevision)
		delete(ann, diffConfigHashAnnotation)
		setOrDropAnnotations(out, ann)
	}
	if labels := out.GetLabels(); labels != nil {
		delete(labels, render.LabelRevision)
		if len(labels) == 0 {
			labels = nil
		}
		out.SetLabels(labels)
	}
	return out
}

// diffYAML prints obj as YAML with sorted keys; nil is empty.
func diffYAML(obj *unstructured.Unstructured) string {
	if obj == nil {
		return ""
	}
	b, err := render.ObjectYAML(obj)
	if err != nil { // cannot happen for objects decoded from JSON
		return fmt.Sprintf("# %s: %v\n", RefOf(obj), err)
	}
	return string(b)
}

// unifiedDiff is the unified diff from live to merged, with three lines
// of context.
func unifiedDiff(ref ObjectRef, live, merged string) string {
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        diffLines(live),
		B:        diffLines(merged),
		FromFile: "live/" + ref.String(),
		ToFile:   "git/" + ref.String(),
		Context:  3,
	})
	if err != nil { // difflib only fails writing to its buffer
		return fmt.Sprintf("# %s: %v\n", ref, err)
	}
	return text
}

// diffLines splits text into lines that keep their newline.
func diffLines(text string) []string {
	if text == "" {
		return nil
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// setOrDropAnnotations sets obj's annotations, removing the field when
// there are none left, as the apiserver does.
func setOrDropAnnotations(obj *unstructured.Unstructured, ann map[string]string) {
	if len(ann) == 0 {
		ann = nil
	}
	obj.SetAnnotations(ann)
}
