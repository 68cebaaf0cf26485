package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"

	"trellis.dev/trellis/render"
)

// Defaults of Options.
const (
	DefaultConcurrency = 8
	// probeTimeout bounds the first request, so that an unreachable
	// cluster fails the apply quickly.
	probeTimeout = 15 * time.Second
)

// Options configure Apply.
type Options struct {
	// SourceID names where the objects come from; the inventory is per
	// (SourceID, cluster). Default DefaultSourceID.
	SourceID string
	// Revision is the revision being applied, recorded in the change set
	// and, when set, in the trellis.dev/revision annotation of the objects
	// it writes (else the annotation is left as rendered). An object that
	// is unchanged is not written, so on a live object the annotation is
	// the revision that last changed it.
	Revision string
	// DryRun sends every write as a server-side dry run: nothing is
	// persisted and the inventory is untouched. Objects in a Namespace the
	// apply would create are reported created without validation; objects
	// of a kind whose CRD the apply would create fail, as with kubectl.
	DryRun bool
	// AllowMassPrune lets an apply prune more than the prune guard allows.
	AllowMassPrune bool
	// Concurrency is the number of objects applied at once. Default 8.
	Concurrency int
	// Progress, when set, is called with each change as it is made, in
	// apply order, from one goroutine at a time.
	Progress func(Change)
}

func (o Options) withDefaults() Options {
	if o.SourceID == "" {
		o.SourceID = DefaultSourceID
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Apply makes the cluster behind c hold the objects of cluster: it applies
// them with server-side apply (CRDs first, then cluster-scoped objects and
// Namespaces, then the Cluster declaration's namespaced objects (quotas,
// RBAC), then configuration kinds, then the rest, then runs), skips what is unchanged without writing it (see drift.go),
// prunes what the inventory holds and the render no longer has (see
// prune.go), and collects old runs (see runs.go).
//
// The change set is always returned. The error is set when the apply
// failed as a whole (an unreachable cluster, an unwritable inventory, a
// refused prune, a suspended inventory: ErrSuspended); it is then also in
// ChangeSet.Error. Every apply that read the inventory, dry runs and
// suspended ones aside, records its status on it (status.go). Objects that fail
// are Failed changes, with a nil error: check ChangeSet.Failed.
func Apply(ctx context.Context, c *Client, cluster render.Cluster, opts Options) (*ChangeSet, error) {
	opts = opts.withDefaults()
	a := &applier{
		c:             c,
		opts:          opts,
		spec:          cluster,
		inv:           newStore(c, opts.SourceID, cluster.Name),
		ids:           newIdentities(c),
		report:        &reporter{progress: opts.Progress},
		newNamespaces: map[string]bool{},
		cs:            &ChangeSet{Cluster: cluster.Name, Revision: opts.Revision, DryRun: opts.DryRun, Started: time.Now().UTC()},
	}
	err := a.run(ctx)
	a.cs.Finished = time.Now().UTC()
	a.cs.Changes = a.report.changes
	if err != nil {
		a.cs.Error = err.Error()
	}
	if a.inv.known && !opts.DryRun && !errors.Is(err, ErrSuspended) {
		if serr := a.inv.recordStatus(ctx, a.cs); serr != nil {
			err = errors.Join(err, serr)
			a.cs.Error = err.Error()
		}
	}
	return a.cs, err
}

// applier is one Apply.
type applier struct {
	c      *Client
	opts   Options
	spec   render.Cluster
	inv    *store
	ids    *identities
	report *reporter
	cs     *ChangeSet
	// rbacChanged is set once this apply wrote RBAC objects.
	rbacChanged atomic.Bool
	// newNamespaces are the Namespaces this apply creates: in a dry run,
	// objects in them cannot be validated.
	newNamespaces map[string]bool
	// mappings are the REST mappings found, by kind: a mapper lookup
	// allocates (its misses are errors), and a repo holds thousands of
	// objects of a few kinds. Only kinds found are kept, so a kind whose
	// CRD this apply installs is looked up again.
	mappingsMu sync.Mutex
	mappings   map[schema.GroupVersionKind]*meta.RESTMapping
}

const rbacGroup = "rbac.authorization.k8s.io"

// run is Apply's sequence: read the inventory, write the pending one,
// apply phase by phase, prune, collect runs, write the final inventory.
func (a *applier) run(ctx context.Context) error {
	probe, cancel := context.WithTimeout(ctx, probeTimeout)
	old, err := a.inv.load(probe)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster %s: %w", a.spec.Name, err)
	}
	if since := a.inv.suspendedSince(); since != "" && !a.opts.DryRun {
		return fmt.Errorf("cluster %s: %w since %s (inventory %s): nothing applied; trellis resume applies it again", a.spec.Name, ErrSuspended, since, a.inv.ID())
	}
	items := a.prepare(ctx)
	if !a.opts.DryRun {
		if err := a.inv.save(ctx, old.Union(itemIDs(items, notSkipped))); err != nil {
			return fmt.Errorf("cluster %s: pending inventory: %w", a.spec.Name, err)
		}
	}
	for _, phase := range phases(items) {
		a.applyPhase(ctx, phase)
	}
	blocked := a.report.count(Failed) > 0
	pruned, runs, pruneErr := a.prune(ctx, old, items, blocked)
	collected := a.collectRuns(ctx, old, items, runs, blocked || pruneErr != nil)
	if a.opts.DryRun {
		return pruneErr
	}
	final := old.Diff(pruned).Diff(collected).Diff(itemIDs(items, skipped)).Union(itemIDs(items, succeeded))
	if err := a.inv.save(ctx, final); err != nil {
		return errors.Join(pruneErr, fmt.Errorf("cluster %s: %w", a.spec.Name, err))
	}
	return pruneErr
}

// item is one rendered object being applied.
type item struct {
	obj   *unstructured.Unstructured // as it is applied: stamped
	ref   ObjectRef
	hash  string
	phase int
	// Set when the phase starts.
	mapping      *meta.RESTMapping
	write        dynamic.ResourceInterface // the identity that applies it
	impersonated bool
	live         *unstructured.Unstructured
	// The outcome.
	action Action
	reason string
}

func (it *item) change() Change {
	return Change{Object: it.ref, Action: it.action, Hash: it.hash, Reason: it.reason}
}

func (it *item) fail(err error) {
	it.action, it.reason = Failed, err.Error()
}

// prepare copies, pins (see pin.go) and stamps the rendered objects: the
// owning inventory, the revision and the config hash.
func (a *applier) prepare(ctx context.Context) []*item {
	items := make([]*item, 0, len(a.spec.Objects))
	for _, o := range a.spec.Objects {
		obj := o.DeepCopy()
		pin, waiting, pinErr := pinModel(ctx, a.c, obj)
		if pin != nil {
			a.cs.Pins = append(a.cs.Pins, *pin)
		}
		inventory.AddInventoryIDAnnotation(obj, a.inv.info)
		ann := obj.GetAnnotations()
		if a.opts.Revision != "" {
			ann[render.AnnotationRevision] = a.opts.Revision
		}
		obj.SetAnnotations(ann)
		it := &item{obj: obj, ref: RefOf(obj), phase: phaseOf(obj)}
		hash, err := configHash(obj)
		switch {
		case pinErr != nil:
			it.fail(pinErr)
		case waiting != "":
			it.action, it.reason = Skipped, waiting
		case err != nil:
			it.fail(err)
		}
		it.hash = hash
		ann[AnnotationConfigHash] = hash
		obj.SetAnnotations(ann)
		items = append(items, it)
	}
	return items
}

// Apply phases, in order.
const (
	phaseCRDs         = iota
	phaseClusterRoles // before the cluster-scoped bindings that refer to them
	phaseClusterScoped
	phaseTenancy // the namespaced objects of the Cluster declaration
	phaseRoles   // before the RoleBindings that refer to them: an identity without "escalate" may only bind an existing role
	phaseSetup   // configuration kinds
	phaseWorkloads
	phaseRuns // runs last: a Workflow run refers to its WorkflowTemplate
)

// setupKinds are namespaced kinds that others depend on.
var setupKinds = map[string]bool{
	"ServiceAccount": true, "ResourceQuota": true, "LimitRange": true, "ConfigMap": true, "Secret": true,
	"Role": true, "RoleBinding": true, "NetworkPolicy": true, "PersistentVolumeClaim": true,
}

// isRBAC reports whether obj is the rbac.authorization.k8s.io kind.
func isRBAC(obj *unstructured.Unstructured, kind string) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "rbac.authorization.k8s.io" && gvk.Kind == kind
}

func phaseOf(obj *unstructured.Unstructured) int {
	switch {
	case object.IsCRD(obj):
		return phaseCRDs
	case isRBAC(obj, "ClusterRole"):
		return phaseClusterRoles
	case obj.GetNamespace() == "":
		return phaseClusterScoped
	case fromClusterDeclaration(obj):
		return phaseTenancy
	case isRBAC(obj, "Role"):
		return phaseRoles
	case setupKinds[obj.GetKind()]:
		return phaseSetup
	case IsRun(obj):
		return phaseRuns
	}
	return phaseWorkloads
}

// phases splits items by phase, in order, keeping the apply order within
// each.
func phases(items []*item) [][]*item {
	out := make([][]*item, phaseRuns+1)
	for _, it := range items {
		out[it.phase] = append(out[it.phase], it)
	}
	return out
}

// applyPhase applies items concurrently, then, after CRDs, waits until
// they are established and resets the RESTMapper.
func (a *applier) applyPhase(ctx context.Context, items []*item) {
	if len(items) == 0 {
		return
	}
	for _, it := range items {
		a.resolve(it)
	}
	fetchLive(ctx, a.c, items, a.opts.Concurrency)
	a.report.begin(len(items))
	parallel(len(items), a.opts.Concurrency, func(i int) {
		a.applyOne(ctx, items[i])
		a.report.done(i, items[i].change())
	})
	for _, it := range items {
		if it.ref.Group == rbacGroup && it.action.Wrote() {
			a.rbacChanged.Store(true)
		}
		if it.ref.Kind == "Namespace" && it.ref.Group == "" && it.action == Created {
			a.newNamespaces[it.ref.Name] = true
		}
	}
	if items[0].phase == phaseCRDs && !a.opts.DryRun {
		a.crdsApplied(ctx, items)
	}
}

// resolve finds the REST mapping and the writing identity of it.
func (a *applier) resolve(it *item) {
	if it.action == Failed || it.action == Skipped {
		return
	}
	gvk := it.obj.GroupVersionKind()
	m, err := a.mapping(gvk)
	if err != nil {
		it.fail(fmt.Errorf("kind %s is not served by the cluster (is its CRD installed?): %w", gvkString(gvk), err))
		return
	}
	namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
	if namespaced && it.obj.GetNamespace() == "" {
		it.fail(fmt.Errorf("%s is namespaced: metadata.namespace must be set", gvk.Kind))
		return
	}
	if !namespaced && it.obj.GetNamespace() != "" {
		it.fail(fmt.Errorf("%s is cluster-scoped: metadata.namespace must not be set", gvk.Kind))
		return
	}
	user := impersonatedUser(a.spec.Spec, it.obj)
	dyn, err := a.ids.dynamicFor(user)
	if err != nil {
		it.fail(err)
		return
	}
	it.impersonated = user != ""
	it.mapping = m
	it.write = resourceFor(dyn, m, it.obj.GetNamespace())
}

// mapping is the REST mapping of gvk, looked up once per apply.
func (a *applier) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	a.mappingsMu.Lock()
	m, ok := a.mappings[gvk]
	a.mappingsMu.Unlock()
	if ok {
		return m, nil
	}
	m, err := a.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	a.mappingsMu.Lock()
	if a.mappings == nil {
		a.mappings = map[schema.GroupVersionKind]*meta.RESTMapping{}
	}
	a.mappings[gvk] = m
	a.mappingsMu.Unlock()
	return m, nil
}

func resourceFor(dyn dynamic.Interface, m *meta.RESTMapping, ns string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(m.Resource).Namespace(ns)
	}
	return dyn.Resource(m.Resource)
}

func gvkString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind + " " + gvk.Version
	}
	return gvk.Kind + " " + gvk.Group + "/" + gvk.Version
}

// applyOne applies one object, unless another inventory owns it (a
// failure), it is owned by none and may not be adopted (skipped), or it is
// unchanged. An object that no inventory owns is adopted: written, with
// this inventory as its owner, and reported as adopted.
func (a *applier) applyOne(ctx context.Context, it *item) {
	if it.action == Failed || it.action == Skipped {
		return
	}
	adopt := false
	if it.live != nil {
		switch verdict, reason := ownership(a.inv.info, it.live); verdict {
		case ownedByOther:
			it.fail(errors.New(reason))
			return
		case adoptDisabled:
			it.action, it.reason = Skipped, reason
			return
		case ownedByNone:
			adopt = true
		}
	}
	if err := classify(ctx, a.c, it); err != nil {
		it.fail(err)
		return
	}
	if it.action == Unchanged && !adopt {
		return
	}
	err := a.write(ctx, it)
	switch {
	case err == nil && adopt:
		it.action, it.reason = Adopted, ""
	case err == nil:
	case a.opts.DryRun && namespaceMissing(err, it.obj.GetNamespace()) && a.newNamespaces[it.obj.GetNamespace()]:
		it.reason = "not validated: its namespace is created by this apply"
	default:
		it.fail(err)
	}
}

// namespaceMissing reports whether err says that namespace ns does not
// exist.
func namespaceMissing(err error, ns string) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}

// rbacSettle is how long an impersonated write refused right after this
// apply changed RBAC is retried: authorizers see RBAC changes through a
// watch, a moment after they are made.
var rbacSettle = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 5}

// write applies it, retrying as rbacSettle says.
func (a *applier) write(ctx context.Context, it *item) error {
	_, err := applyJSON(ctx, it.write, it.obj, a.opts.DryRun)
	if err == nil || !apierrors.IsForbidden(err) || !it.impersonated || !a.rbacChanged.Load() {
		return err
	}
	_ = wait.ExponentialBackoffWithContext(ctx, rbacSettle, func(ctx context.Context) (bool, error) {
		_, err = applyJSON(ctx, it.write, it.obj, a.opts.DryRun)
		return err == nil || !apierrors.IsForbidden(err), nil
	})
	return err
}

// parallel calls f(0..n-1) from at most workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Go(func() {
			for i := range work {
				f(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// Item filters for itemIDs.
func succeeded(it *item) bool  { return it.action != Failed && it.action != Skipped }
func skipped(it *item) bool    { return it.action == Skipped }
func notSkipped(it *item) bool { return it.action != Skipped }

// itemIDs returns the inventory entries of the items that keep says, or of
// all items when keep is nil.
func itemIDs(items []*item, keep func(*item) bool) object.ObjMetadataSet {
	var ids object.ObjMetadataSet
	for _, it := range items {
		if keep == nil || keep(it) {
			ids = append(ids, idOf(it.obj))
		}
	}
	return ids
}

// reporter collects the changes and reports each, in order, as soon as
// it and every change before it in its batch are made.
type reporter struct {
	progress func(Change)
	mu       sync.Mutex
	changes  []Change
	batch    []*Change // the current batch; nil entries are pending
	next     int
}

// begin starts a batch of n changes.
func (r *reporter) begin(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batch, r.next = make([]*Change, n), 0
}

// done records change i of the batch.
func (r *reporter) done(i int, c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batch[i] = &c
	for r.next < len(r.batch) && r.batch[r.next] != nil {
		r.add(*r.batch[r.next])
		r.next++
	}
}

// add records and reports one change; the caller holds r.mu.
func (r *reporter) add(c Change) {
	r.changes = append(r.changes, c)
	if r.progress != nil {
		r.progress(c)
	}
}

// one records a single change outside any batch.
func (r *reporter) one(c Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(c)
}

func (r *reporter) count(action Action) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.changes {
		if c.Action == action {
			n++
		}
	}
	return n
}

// crdTimeout bounds the wait for written CRDs to be established.
const crdTimeout = time.Minute

// crdsApplied waits until the CRDs this phase wrote are established and
// their kinds resolve, resetting the RESTMapper, so that the next phases
// see the new kinds; it also drops the cached schemas of their groups. A
// CRD that is not established in time shows up as the failure of the
// objects of its kind.
func (a *applier) crdsApplied(ctx context.Context, items []*item) {
	groups := map[string]bool{}
	var written []*item
	for _, it := range items {
		if gk, ok := object.GetCRDGroupKind(it.obj); ok && it.action.Wrote() {
			written = append(written, it)
			groups[gk.Group] = true
		}
	}
	if len(written) == 0 {
		return
	}
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, crdTimeout, true, func(ctx context.Context) (bool, error) {
		for _, it := range written {
			if ok, err := crdEstablished(ctx, it); err != nil || !ok {
				return false, nil //nolint:nilerr // retried until the timeout
			}
		}
		a.c.Mapper.Reset()
		for _, it := range written {
			gk, _ := object.GetCRDGroupKind(it.obj)
			if _, err := a.c.Mapper.RESTMapping(gk); err != nil {
				return false, nil //nolint:nilerr // discovery lags, retried
			}
		}
		return true, nil
	})
	schemasOf(a.c).forget(groups)
}

// crdEstablished reports whether the CRD of it has condition Established.
func crdEstablished(ctx context.Context, it *item) (bool, error) {
	live, err := it.write.Get(ctx, it.obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true, nil
		}
	}
	return false, nil
}
