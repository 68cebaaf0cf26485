package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	goruntime "runtime"
	"sync"
	"weak"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/dynamic"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"trellis.dev/trellis/render"
)

// Drift: is the live object what this apply would make it, without writing?
//
// An object is unchanged, and not written, iff all of these hold:
//
//  1. It exists.
//  2. Its trellis.dev/config-hash annotation equals the hash of the object
//     as rendered now. The hash covers the whole rendered object except
//     the trellis.dev/revision annotation, so a new commit that does not
//     change an object does not rewrite it: on a live object, the revision
//     annotation is the revision that last changed it.
//  3. Field manager "trellis" still owns every field it applies. Server-side
//     apply records, in metadata.managedFields, the fields each manager set;
//     when another manager changes one of ours (an Update, or a forced
//     Apply, with a different value) or removes it, the field leaves our
//     set. So the fields of the rendered object, computed as the apiserver
//     computes them (with a type converter built from the cluster's
//     OpenAPI v3 schema of the object's group-version, so that associative
//     lists such as containers are keyed by name exactly as the server
//     keys them), must all be in the set of the "trellis" Apply entry for
//     the object's apiVersion. Fields the server never records for the
//     applier (apiVersion, kind, name, namespace, status) are left out.
//     Fields others added beside ours are not drift: applying again would
//     not remove them either.
//
// When the schema of a kind cannot be had or does not parse the object
// (a group-version missing from the published OpenAPI, a type error),
// check 3 falls back to a server-side dry-run apply by the identity that
// would write the object, and compares the result with the live object,
// leaving out managedFields, resourceVersion, generation and timestamps.
// Either way the answer is what a real apply would do, and it costs no
// write: the live objects come from one paged List per kind and namespace
// (of the kinds the render has; objects it does not apply are dropped page
// by page), and
// the schemas are fetched once per group-version and cached per Client.
//
// An object that fails check 3 is re-applied and reported as configured,
// with reason "drift".

// AnnotationConfigHash is the hash of the object as rendered, revision
// annotation excluded, stamped on every applied object.
const AnnotationConfigHash = "trellis.dev/config-hash"

// configHash returns the hash of obj without its revision and config-hash
// annotations.
func configHash(obj *unstructured.Unstructured) (string, error) {
	// Shallow copies of the maps on the way to the annotations, not a
	// deep copy of the object: thousands of objects are hashed per apply.
	top := maps.Clone(obj.Object)
	if md, ok := top["metadata"].(map[string]any); ok {
		md = maps.Clone(md)
		switch ann := md["annotations"].(type) {
		case map[string]any:
			ann = maps.Clone(ann)
			delete(ann, render.AnnotationRevision)
			delete(ann, AnnotationConfigHash)
			md["annotations"] = ann
		case nil:
			delete(md, "annotations")
		}
		top["metadata"] = md
	}
	b, err := json.Marshal(top) // maps marshal with sorted keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:16]), nil
}

// ignoredFields are the fields the apiserver never records for an applier,
// and status, which a status subresource resets.
var ignoredFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("status"),
)

// errNoSchema is returned when a kind's schema is not published.
var errNoSchema = errors.New("no OpenAPI schema")

// ownsAll reports whether field manager trellis owns, in live, every field
// of desired, the object it would apply. It fails when the type converter
// cannot type desired; the caller then asks the server.
func ownsAll(c *Client, desired, live *unstructured.Unstructured) (bool, error) {
	owned, ok, err := appliedFields(live, desired.GetAPIVersion())
	if err != nil || !ok {
		return false, err
	}
	tc, err := schemasOf(c).converter(c, desired.GroupVersionKind().GroupVersion())
	if err != nil {
		return false, err
	}
	tv, err := tc.ObjectToTyped(desired)
	if err != nil {
		return false, err
	}
	want, err := tv.ToFieldSet()
	if err != nil {
		return false, err
	}
	return want.RecursiveDifference(ignoredFields).Difference(owned).Empty(), nil
}

// appliedFields returns the fields of trellis's Apply entry for apiVersion
// in live's managedFields, and whether there is one.
func appliedFields(live *unstructured.Unstructured, apiVersion string) (*fieldpath.Set, bool, error) {
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != FieldManager || mf.Operation != metav1.ManagedFieldsOperationApply ||
			mf.Subresource != "" || mf.APIVersion != apiVersion || mf.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(mf.FieldsV1.Raw)); err != nil {
			return nil, false, fmt.Errorf("managedFields of %s: %w", FieldManager, err)
		}
		return set, true, nil
	}
	return nil, false, nil
}

// sameObject reports whether a dry-run result and a live object are the
// same, leaving out what every write changes.
func sameObject(a, b *unstructured.Unstructured) bool {
	return reflect.DeepEqual(withoutWriteFields(a), withoutWriteFields(b))
}

func withoutWriteFields(obj *unstructured.Unstructured) map[string]any {
	c := obj.DeepCopy()
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	c.SetGeneration(0)
	c.SetCreationTimestamp(metav1.Time{})
	unstructured.RemoveNestedField(c.Object, "metadata", "creationTimestamp")
	return c.Object
}

// schemaCache holds one type converter per group-version of one Client.
type schemaCache struct {
	mu   sync.Mutex
	byGV map[schema.GroupVersion]*gvSchema
}

type gvSchema struct {
	once sync.Once
	tc   managedfields.TypeConverter
	err  error
}

// caches maps a weak pointer to a Client to its schemaCache; an entry goes
// when its Client is collected.
var caches sync.Map

func schemasOf(c *Client) *schemaCache {
	key := weak.Make(c)
	if sc, ok := caches.Load(key); ok {
		return sc.(*schemaCache)
	}
	sc, loaded := caches.LoadOrStore(key, &schemaCache{byGV: map[schema.GroupVersion]*gvSchema{}})
	if !loaded {
		goruntime.AddCleanup(c, func(k weak.Pointer[Client]) { caches.Delete(k) }, key)
	}
	return sc.(*schemaCache)
}

// converter returns the type converter of gv, fetching its OpenAPI v3
// schema once.
func (sc *schemaCache) converter(c *Client, gv schema.GroupVersion) (managedfields.TypeConverter, error) {
	sc.mu.Lock()
	e, ok := sc.byGV[gv]
	if !ok {
		e = &gvSchema{}
		sc.byGV[gv] = e
	}
	sc.mu.Unlock()
	e.once.Do(func() { e.tc, e.err = fetchConverter(c, gv) })
	return e.tc, e.err
}

// fetchConverter builds the type converter of gv from the cluster's
// OpenAPI v3 document of gv, of which it decodes only the schemas.
func fetchConverter(c *Client, gv schema.GroupVersion) (managedfields.TypeConverter, error) {
	paths, err := c.Discovery.OpenAPIV3().Paths()
	if err != nil {
		return nil, fmt.Errorf("%w of %s: %w", errNoSchema, gv, err)
	}
	path := "apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "api/" + gv.Version
	}
	doc, ok := paths[path]
	if !ok {
		return nil, fmt.Errorf("%w of %s: not published", errNoSchema, gv)
	}
	raw, err := doc.Schema(runtime.ContentTypeJSON)
	if err != nil {
		return nil, fmt.Errorf("%w of %s: %w", errNoSchema, gv, err)
	}
	var parsed struct {
		Components struct {
			Schemas map[string]*spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		return nil, fmt.Errorf("%w of %s: %w", errNoSchema, gv, err)
	}
	return managedfields.NewTypeConverter(parsed.Components.Schemas, false)
}

// forget drops the converters of groups, whose CRDs changed.
func (sc *schemaCache) forget(groups map[string]bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for gv := range sc.byGV {
		if groups[gv.Group] {
			delete(sc.byGV, gv)
		}
	}
}

// classify decides what applying it would do, from its live object,
// without writing: it sets it.action (Created, Configured or Unchanged)
// and it.reason ("drift").
func classify(ctx context.Context, c *Client, it *item) error {
	switch {
	case it.live == nil:
		it.action = Created
		return nil
	case IsRun(it.obj):
		it.action = Unchanged // runs are created once, never patched
		return nil
	case it.live.GetAnnotations()[AnnotationConfigHash] != it.hash:
		it.action = Configured
		return nil
	}
	same, err := ownsAll(c, it.obj, it.live)
	if err != nil {
		same, err = dryRunSame(ctx, it)
	}
	if err != nil {
		return err
	}
	it.action = Unchanged
	if !same {
		it.action, it.reason = Configured, ReasonDrift
	}
	return nil
}

// dryRunSame asks the server what applying it would make of the object.
// The revision annotation is sent as it is live: a new revision alone is
// no change.
func dryRunSame(ctx context.Context, it *item) (bool, error) {
	obj := it.obj.DeepCopy()
	ann := obj.GetAnnotations()
	if rev, ok := it.live.GetAnnotations()[render.AnnotationRevision]; ok {
		ann[render.AnnotationRevision] = rev
	} else {
		delete(ann, render.AnnotationRevision)
	}
	obj.SetAnnotations(ann)
	got, err := applyJSON(ctx, it.write, obj, true)
	if err != nil {
		return false, err
	}
	return sameObject(got, it.live), nil
}

// livePageSize is the page size of the Lists of fetchLive.
var livePageSize int64 = 250

// listWanted lists ri page by page and keeps, by name, only the objects of
// items: of a namespace's Secrets (or any other kind), those trellis does
// not apply are dropped page by page, never held.
func listWanted(ctx context.Context, ri dynamic.ResourceInterface, items []*item) (map[string]*unstructured.Unstructured, error) {
	want := make(map[string]bool, len(items))
	for _, it := range items {
		want[it.obj.GetName()] = true
	}
	out := make(map[string]*unstructured.Unstructured, len(items))
	opts := metav1.ListOptions{Limit: livePageSize}
	for {
		list, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			if want[list.Items[i].GetName()] {
				// A copy of the item alone (not of its content): the page,
				// with the objects not wanted, is garbage once read.
				obj := list.Items[i]
				out[obj.GetName()] = &obj
			}
		}
		opts.Continue = list.GetContinue()
		if opts.Continue == "" || len(out) == len(want) {
			return out, nil
		}
	}
}

// liveKey is one List: a resource in a namespace.
type liveKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// fetchLive sets the live object of each resolved item with one List per
// resource and namespace, as the admin identity, instead of one GET per
// object. When a List fails, its items are read one by one.
func fetchLive(ctx context.Context, c *Client, items []*item, workers int) {
	groups := map[liveKey][]*item{}
	var keys []liveKey
	for _, it := range items {
		if it.mapping == nil || it.action == Failed {
			continue
		}
		k := liveKey{gvr: it.mapping.Resource, ns: it.obj.GetNamespace()}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], it)
	}
	parallel(len(keys), workers, func(i int) {
		k := keys[i]
		fetchGroup(ctx, resourceFor(c.Dynamic, groups[k][0].mapping, k.ns), groups[k])
	})
}

func fetchGroup(ctx context.Context, ri dynamic.ResourceInterface, items []*item) {
	if live, err := listWanted(ctx, ri, items); err == nil {
		for _, it := range items {
			it.live = live[it.obj.GetName()]
		}
		return
	}
	for _, it := range items {
		live, err := ri.Get(ctx, it.obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			it.fail(fmt.Errorf("read: %w", err))
		default:
			it.live = live
		}
	}
}
