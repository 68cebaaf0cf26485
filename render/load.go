package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Paths into declarations, named once.
var (
	pathAPIVersion = cue.ParsePath("apiVersion")
	pathKind       = cue.ParsePath("kind")
	pathName       = cue.ParsePath("metadata.name")
	pathCluster    = cue.ParsePath("spec.cluster")
	pathNamespace  = cue.ParsePath("spec.namespace")
)

// Repo is a loaded and validated config repo: every declaration, every
// plain manifest and kustomization output, not yet rendered.
type Repo struct {
	// Root is the repo's absolute path.
	Root         string
	Declarations []*Declaration
	Manifests    []*Manifest
	// SOPSWithheld are the SOPS files loaded without decryption (see
	// SOPSKeys.Withheld).
	SOPSWithheld []string
}

// Manifest is a plain Kubernetes object found in the repo, or built by
// one of its kustomizations.
type Manifest struct {
	// Path is the file (or kustomization directory) it came from.
	Path string
	// Cluster is the cluster it is assigned to, "" when none is.
	Cluster string
	Object  *unstructured.Unstructured
	pos     token.Pos
	// origin rebuilds its value as written, for positions; none for
	// kustomize output and decrypted SOPS files.
	origin origin
}

// loader carries the state of one Load.
type loader struct {
	ctx    *cue.Context
	schema *schema.Schema
	view   *view
	// root is the repo's absolute path with symlinks resolved.
	root string
	errs *errorList
	repo *Repo
	// secrets are the values of the Secrets found, even when loading
	// fails: they are hidden from what is shown of a failed load.
	secrets []string
	// pkgDir is the directory of the CUE package being collected.
	pkgDir string
	// pkgArg is its load argument ("./dir").
	pkgArg string
	// pkgPlain is set when the package's CUE (and its imports', but the
	// schema's) has no disjunction, default, definition or close(): its
	// concrete declarations may take the fast path (see check.go).
	pkgPlain bool
	// events, for a worker evaluating CUE packages, collect what each
	// declaration or problem found (see flush).
	events *[]docResult
	// evaluated counts the declarations a worker evaluated in its context.
	evaluated int
	// src keeps what values are rebuilt from (see origin); origin is
	// where the declaration or manifest being loaded comes from.
	src    *sources
	origin origin
	// cache, when set, keeps what each file loaded, for the next load.
	cache *Cache
	// sopsKeys decrypt SOPS files; sopsValues are the values decrypted
	// (those long enough to look for), by the file they came from.
	sopsKeys   *sopsKeyring
	sopsValues map[string]string
}

// Load reads and validates the config repo at root, through the confined
// view, within limits. All problems are reported together as one error
// (see Problems); nothing is partially returned when there is any. When
// ctx ends first, Load returns at once with an error wrapping ErrStopped.
func Load(ctx context.Context, root string, limits Limits) (*Repo, error) {
	return bounded(ctx, func() (*Repo, error) { return loadRepo(ctx, root, Options{Limits: limits}) })
}

func loadRepo(ctx context.Context, root string, opts Options) (*Repo, error) {
	limits := opts.Limits.withDefaults()
	cctx := cuecontext.New()
	s, err := schema.Load(cctx)
	if err != nil {
		return nil, err
	}
	keys, err := opts.SOPS.keyring()
	if err != nil {
		return nil, err
	}
	v, err := openView(ctx, root, limits, opts.openRoot)
	if err != nil {
		return nil, err
	}
	defer v.close()
	l := &loader{ctx: cctx, schema: s, view: v, root: v.dir, errs: newErrorList(limits.Problems), repo: &Repo{Root: v.dir}, sopsKeys: keys, sopsValues: map[string]string{}, src: newSources(), cache: opts.Cache}
	l.cache.begin()
	t := walk(v, l.errs)
	if err := l.stop(); err != nil {
		return nil, err
	}
	l.loadYAMLFiles(t.manifests)
	if err := ctx.Err(); err != nil {
		return nil, stopped(ctx)
	}
	l.loadCUE(t)
	l.loadKustomizations(t)
	if err := l.stop(); err != nil {
		return nil, err
	}
	l.validate()
	if err := l.stop(); err != nil {
		return nil, err
	}
	l.cache.sweep()
	return l.repo, nil
}

// stop is the error that ends the load, if any: the problems found so far
// (with the Secret values seen, for redaction), or the context's end.
func (l *loader) stop() error {
	if err := l.view.ctx.Err(); err != nil {
		return stopped(l.view.ctx)
	}
	if err := l.errs.err(); err != nil {
		return &LoadError{err: err, root: l.root, secrets: l.secrets}
	}
	return nil
}

// LoadError is the error of a repo that does not load: its problems (see
// Problems) and the values of the Secrets it holds. Its message is its
// problems, as Problems formats them (values of secret-like fields
// elided), one a line.
type LoadError struct {
	err     error
	root    string
	secrets []string
}

func (e *LoadError) Error() string {
	ps := Problems(e.err, e.root, nil)
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *LoadError) Unwrap() error { return e.err }

// SecretValues returns the values of the Secrets (data decoded, and
// stringData) that a repo which failed to load holds, as far as it was
// read, so that whatever shows its problems can hide them.
func SecretValues(err error) []string {
	var le *LoadError
	if errors.As(err, &le) {
		return slices.Clone(le.secrets)
	}
	var pe *problemsError
	if errors.As(err, &pe) {
		return slices.Clone(pe.secrets)
	}
	return nil
}

// Explain is the message rewriter to pass to Problems for errors from Load.
func Explain() func(string) string {
	s, err := schema.Load(cuecontext.New())
	if err != nil {
		return nil
	}
	return s.Explain
}

// loadYAML loads every document of a YAML (or JSON) stream. A file with
// no document (empty, or only comments) is skipped, as are empty
// documents.
func (l *loader) loadYAML(rel string, data []byte) {
	if blank(data) {
		return
	}
	dec := cueyaml.NewDecoder(rel, bytes.NewReader(data))
	for doc := 0; !l.errs.full(); doc++ {
		expr, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			l.errs.add(yamlSyntaxError(rel, data, err))
			return
		}
		l.origin = origin{src: l.src, rel: rel, doc: doc}
		l.loadDocument(rel, expr)
	}
}

// blank reports whether a YAML or JSON file holds nothing but blank
// lines, comments and document markers.
func blank(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || string(line) == "---" || string(line) == "..." {
			continue
		}
		return false
	}
	return true
}

func (l *loader) loadDocument(rel string, expr ast.Expr) {
	if lit, ok := expr.(*ast.BasicLit); ok && lit.Kind == token.NULL {
		return // an empty document
	}
	v := l.ctx.BuildExpr(expr)
	if err := v.Err(); err != nil {
		l.errs.add(err)
		return
	}
	if v.IncompleteKind() != cue.StructKind {
		l.errs.addf(expr.Pos(), "not a trellis declaration or a Kubernetes object: want a mapping with apiVersion and kind")
		return
	}
	apiVersion, _ := v.LookupPath(pathAPIVersion).String()
	kind, _ := v.LookupPath(pathKind).String()
	switch {
	case strings.HasPrefix(apiVersion, "trellis.dev/"):
		l.declaration(v, rel)
	case apiVersion == "" || kind == "":
		l.errs.addf(expr.Pos(), "not a trellis declaration or a Kubernetes object: apiVersion and kind are required")
	default:
		l.manifest(v, rel, expr.Pos())
	}
}

// manifest records a plain Kubernetes object.
func (l *loader) manifest(v cue.Value, rel string, pos token.Pos) {
	raw, err := v.MarshalJSON()
	if err != nil {
		l.errs.add(err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		l.errs.addf(pos, "%v", err)
		return
	}
	if added := l.addManifest(rel, path.Dir(rel), m, pos); added != nil {
		added.origin = l.origin
	}
}

// addManifest records an object found in file (or built from dir's
// kustomization).
func (l *loader) addManifest(file, dir string, m map[string]any, pos token.Pos) *Manifest {
	obj := &unstructured.Unstructured{Object: m}
	l.secrets = append(l.secrets, SecretValuesOf(obj)...)
	if obj.GetName() == "" && !isGeneratedRun(obj) {
		l.errs.addf(pos, "%s: metadata.name is required (generateName is taken for an Argo Workflow only, as a run)", obj.GetKind())
		return nil
	}
	added := &Manifest{Path: file, Cluster: clusterOf(dir, obj), Object: obj, pos: pos}
	l.repo.Manifests = append(l.repo.Manifests, added)
	return added
}

// yamlValue decodes a single-document YAML file.
func (l *loader) yamlValue(rel string, data []byte) (cue.Value, bool) {
	expr, err := cueyaml.NewDecoder(rel, bytes.NewReader(data)).Extract()
	if err != nil {
		l.errs.add(yamlSyntaxError(rel, data, err))
		return cue.Value{}, false
	}
	v := l.ctx.BuildExpr(expr)
	if err := v.Err(); err != nil {
		l.errs.add(err)
		return cue.Value{}, false
	}
	return v, true
}

// clusterOf assigns a manifest to a cluster: by its trellis.dev/cluster
// annotation or label, else by a clusters/<name>/ directory in dir, the
// directory it was found in.
func clusterOf(dir string, obj *unstructured.Unstructured) string {
	if obj != nil {
		if c := obj.GetAnnotations()[LabelCluster]; c != "" {
			return c
		}
		if c := obj.GetLabels()[LabelCluster]; c != "" {
			return c
		}
	}
	parts := strings.Split(dir, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == ClustersDir {
			return parts[i+1]
		}
	}
	return ""
}

// yamlSyntaxError positions a YAML parser error, which comes as text
// ("file:LINE: message" or "file: message"), at the first non-blank column
// of its line.
func yamlSyntaxError(rel string, data []byte, err error) cueerrors.Error {
	msg, ok := strings.CutPrefix(err.Error(), rel+":")
	if !ok {
		return cueerrors.Promote(err, "")
	}
	line := 1
	if n, rest, found := strings.Cut(msg, ":"); found {
		if v, convErr := strconv.Atoi(n); convErr == nil {
			line, msg = v, rest
		}
	}
	f := token.NewFile(rel, -1, len(data)+1)
	f.SetLinesForContent(data)
	offset := 0
	lines := f.Lines()
	if line-1 < len(lines) {
		offset = lines[line-1]
	}
	for offset < len(data) && (data[offset] == ' ' || data[offset] == '\t') {
		offset++
	}
	return cueerrors.Newf(f.Pos(offset, token.NoRelPos), "YAML syntax error: %s", strings.TrimSpace(msg))
}

// ClustersDir is the directory whose sub-directories assign plain manifests
// and kustomizations to clusters: clusters/<name>/...
const ClustersDir = "clusters"

func (d *Declaration) String() string {
	return fmt.Sprintf("%s/%s", d.Kind, d.Name)
}
