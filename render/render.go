package render

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Options select what Render produces.
type Options struct {
	// Revision is the Git revision being rendered; it is recorded on every
	// object.
	Revision string
	// Cluster, when set, renders only that cluster.
	Cluster string
	// Limits bound what loading the repo may read (zero: the defaults).
	Limits Limits
	// UpstreamSchemas checks every object of a kind a vendored CRD serves
	// against that CRD's schema, offline (see checkUpstream). validate and
	// the pull-request check set it; an apply leaves it to the apiserver.
	UpstreamSchemas bool
	// SOPS are the keys that decrypt the repo's SOPS files (see
	// SOPSKeys); without them, a SOPS file is an error.
	SOPS SOPSKeys `json:"sops"`
	// Cache, when set, keeps what each file loaded for the next render
	// (see Cache). It is not carried to a render child (DirIsolated).
	Cache *Cache `json:"-"`
	// openRoot opens the repo's directory (default os.OpenRoot; the
	// benchmarks compare it with plain system calls).
	openRoot openRoot
}

// Dir loads, validates and renders the config repo at root: every check
// there is, so that `trellis validate` and `trellis render` agree. When
// ctx ends first, Dir returns at once with an error wrapping ErrStopped.
func Dir(ctx context.Context, root string, opts Options) (*Result, error) {
	return bounded(ctx, func() (*Result, error) {
		repo, err := loadRepo(ctx, root, opts)
		if err != nil {
			return nil, err
		}
		return Render(repo, opts)
	})
}

// ErrStopped is wrapped by the error of a load or render that its context
// stopped: a signal, or a timeout (whose cause the error also wraps).
var ErrStopped = errors.New("render stopped")

// stopped is the error of a load stopped by ctx.
func stopped(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
}

// bounded runs f, a load or a render, and returns its result, or returns
// as soon as ctx ends. Reading the repo stops with ctx, but a CUE
// evaluation cannot be interrupted: it is left to finish in the
// background, its result dropped. A panic in f (a bug, met on hostile
// input) is an error, not a crash of the daemon.
func bounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if ctx.Err() != nil {
		return zero, stopped(ctx)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("render: internal error (a bug of trellis; please report it): %v", p)}
			}
		}()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, stopped(ctx)
	}
}

// Render turns a loaded repo into the objects each cluster should hold.
// The output is deterministic: clusters by name, objects in apply order.
func Render(repo *Repo, opts Options) (*Result, error) {
	res := &Result{Revision: opts.Revision, Manifests: len(repo.Manifests), SOPSWithheld: repo.SOPSWithheld,
		Declarations: make([]Declaration, 0, len(repo.Declarations))}
	byCluster := map[string][]*Declaration{}
	var clusters []*Declaration
	for _, d := range repo.Declarations {
		res.Declarations = append(res.Declarations, *d)
		if d.Kind == schema.KindCluster {
			clusters = append(clusters, d)
		} else {
			byCluster[d.Cluster] = append(byCluster[d.Cluster], d)
		}
	}
	if opts.Cluster != "" && !hasCluster(clusters, opts.Cluster) {
		names := make([]string, len(clusters))
		for i, c := range clusters {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("no Cluster %q is declared: %s", opts.Cluster, schema.Hint(opts.Cluster, names))
	}
	errs := newErrorList(DefaultProblems)
	for _, cd := range clusters {
		if opts.Cluster != "" && cd.Name != opts.Cluster {
			continue
		}
		c := renderOne(cd, byCluster[cd.Name], repo.Manifests, opts, errs)
		res.Clusters = append(res.Clusters, c)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if opts.Cluster == "" {
		opts.Cache.sweepRendered()
	}
	return res, nil
}

func hasCluster(clusters []*Declaration, name string) bool {
	for _, c := range clusters {
		if c.Name == name {
			return true
		}
	}
	return false
}

// source is a rendered object and where it came from.
type source struct {
	obj  *unstructured.Unstructured
	path string
	decl string // "Kind/name" of its declaration, "" for plain manifests
	// declaration or manifest is where it came from, for positions.
	declaration *Declaration
	manifest    *Manifest
}

// renderOne renders one cluster: its own objects, its declarations', then
// its plain manifests.
func renderOne(cd *Declaration, decls []*Declaration, manifests []*Manifest, opts Options, errs *errorList) Cluster {
	revision := opts.Revision
	spec := cd.spec.(*schema.Cluster)
	var srcs []source
	in := newInterner()
	own := renderCluster(cd.Name, spec)
	in.objects(own)
	for _, o := range own {
		srcs = append(srcs, source{obj: o, path: cd.Path, decl: cd.String(), declaration: cd})
	}
	rendered := make([][]*unstructured.Unstructured, len(decls))
	runPool(decls, cores(), nil, func(int) func(int, *Declaration) {
		return func(i int, d *Declaration) { rendered[i] = opts.Cache.render(d, cd, revision, in) }
	})
	for i, d := range decls {
		for _, o := range rendered[i] {
			srcs = append(srcs, source{obj: o, path: d.Path, decl: d.String(), declaration: d})
		}
	}
	for _, m := range manifests {
		if m.Cluster == cd.Name {
			obj := m.Object.DeepCopy()
			if isGeneratedRun(obj) {
				nameGeneratedRun(obj)
			}
			srcs = append(srcs, source{obj: obj, path: m.Path, manifest: m})
		}
	}
	seen := make(map[string]string, len(srcs)) // the path of each object's source
	objs := make([]*unstructured.Unstructured, 0, len(srcs))
	for _, s := range srcs {
		id := ObjectID(s.obj)
		if prev, dup := seen[id]; dup {
			errs.add(fileError(s.path, "%s is also rendered from %s", id, prev))
			continue
		}
		seen[id] = s.path
		stamp(s, cd.Name, revision)
		objs = append(objs, s.obj)
	}
	if opts.UpstreamSchemas {
		checkUpstream(srcs, errs)
	}
	SortObjects(objs)
	return Cluster{Name: cd.Name, Spec: spec.Spec, Objects: objs}
}

func renderDeclaration(d *Declaration, c *schema.Cluster, revision string) []*unstructured.Unstructured {
	in := kindInput{Name: d.Name, Namespace: d.Namespace, Cluster: c, Revision: revision}
	switch spec := d.spec.(type) {
	case *schema.Pipeline:
		in.Labels, in.Annotations = spec.Metadata.Labels, spec.Metadata.Annotations
		return renderPipeline(in, spec)
	case *schema.Experiment:
		in.Labels, in.Annotations = spec.Metadata.Labels, spec.Metadata.Annotations
		return renderExperiment(in, spec)
	case *schema.Endpoint:
		in.Labels, in.Annotations = spec.Metadata.Labels, spec.Metadata.Annotations
		return renderEndpoint(in, spec)
	}
	return nil
}

// stamp adds the labels and annotations every object carries. It makes
// new maps of them: those it had may be shared (see Cache).
func stamp(s source, cluster, revision string) {
	md, _ := s.obj.Object["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		s.obj.Object["metadata"] = md
	}
	labels := stringEntries(md["labels"], 2)
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelCluster] = cluster
	md["labels"] = labels
	ann := stringEntries(md["annotations"], 3)
	ann[AnnotationPath] = s.path
	if revision != "" {
		ann[AnnotationRevision] = revision
	}
	if s.decl != "" {
		ann[AnnotationDecl] = s.decl
	} else {
		delete(ann, AnnotationDecl) // a plain manifest is no declaration, whatever it says
	}
	md["annotations"] = ann
}

// stringEntries copies v, a map of labels or annotations, into a new map
// with room for more, as GetLabels reads it: a null value is "", and a
// map with a value of another type (a manifest's mistake) is no map.
func stringEntries(v any, more int) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m)+more)
	for k, e := range m {
		switch e := e.(type) {
		case string:
			out[k] = e
		case nil:
			out[k] = ""
		default:
			return make(map[string]any, more)
		}
	}
	return out
}

// ObjectID identifies an object as group/Kind/namespace/name.
func ObjectID(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	id := gvk.Kind + "/"
	if gvk.Group != "" {
		id = gvk.Kind + "." + gvk.Group + "/"
	}
	if ns := o.GetNamespace(); ns != "" {
		id += ns + "/"
	}
	return id + o.GetName()
}

// SortObjects orders objects for applying: CRDs, then Namespaces, then
// other cluster-scoped objects, then namespaced configuration (service
// accounts, quotas, RBAC, config), then everything else; within a phase by
// group, kind, namespace and name.
func SortObjects(objs []*unstructured.Unstructured) {
	// Each object's key is computed once, not at every comparison.
	type keyed struct {
		phase                 int
		group, kind, ns, name string
		obj                   *unstructured.Unstructured
	}
	keys := make([]keyed, len(objs))
	for i, o := range objs {
		gvk := o.GroupVersionKind()
		keys[i] = keyed{phase: phase(o), group: gvk.Group, kind: gvk.Kind, ns: o.GetNamespace(), name: o.GetName(), obj: o}
	}
	// Sorted by position in keys, the ties broken by the original order
	// (stable): moving indexes is cheaper than moving the keys.
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &keys[i], &keys[j]
		if c := cmp.Compare(a.phase, b.phase); c != 0 {
			return c
		}
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	for i, k := range order {
		objs[i] = keys[k].obj
	}
}

var configKinds = map[string]bool{"ServiceAccount": true, "ResourceQuota": true, "LimitRange": true, "ConfigMap": true, "Secret": true,
	"Role": true, "RoleBinding": true, "NetworkPolicy": true, "PersistentVolumeClaim": true}

func phase(o *unstructured.Unstructured) int {
	kind := o.GetKind()
	switch {
	case kind == "CustomResourceDefinition":
		return 0
	case kind == "Namespace":
		return 1
	case o.GetNamespace() == "":
		return 2
	case configKinds[kind]:
		return 3
	}
	return 4
}
