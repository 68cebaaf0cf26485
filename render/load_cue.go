package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/module"

	"trellis.dev/trellis/schema"
)

// defaultModule is the module.cue trellis lends a repo that has none, so
// that CUE declarations can import the schema without any setup.
const defaultModule = "module: \"trellis.local/config\"\nlanguage: version: \"v0.12.0\"\n"

// maxCUEDepth bounds how deep loadCUE looks for declarations in a package.
const maxCUEDepth = 6

// Paths trellis lends the repo's CUE module.
const (
	cueModuleFile = "cue.mod/module.cue"
	cueSchemaDir  = "cue.mod/gen/" + schema.ImportPath
)

// loadCUE loads the CUE package of each directory. CUE's loader never
// reads the repo's directory: it loads from an overlay (load.Config.Overlay)
// of the repo's CUE files read through the view, rooted at a virtual
// directory that does not exist on the host, so that whatever CUE would
// read from the disk (another file of a package, an import, cue.mod, an
// @embed) is either in the overlay or not found. @embed is confined: the
// files it names are checked and read through the view, then added to the
// overlay. There is no registry: a module's dependencies are never
// fetched. The schema is lent to the repo as cue.mod/gen/trellis.dev/schema,
// so `import "trellis.dev/schema"` works in every repo. Every struct field
// with apiVersion trellis.dev/... is a declaration, at any depth below the
// package's top level, in structs and lists.
func (l *loader) loadCUE(t *tree) {
	if len(t.cueDirs) == 0 {
		return
	}
	o, err := newCUEOverlay(l.root)
	if err != nil {
		l.errs.add(err)
		return
	}
	if !l.overlayCUEFiles(o, t) {
		return
	}
	args := make([]string, len(t.cueDirs))
	for i, d := range t.cueDirs {
		args[i] = "./" + d
	}
	// Each package is loaded on its own, checked, hashed and let go: the
	// syntax of the whole repo is never held at once.
	pkgs := make([]*cuePackage, len(args))
	var todo []*cuePackage
	prekeys := o.prekeys(t.cueDirs, l.cache)
	for i, arg := range args {
		p := &cuePackage{arg: arg}
		pkgs[i] = p
		if key, ok := prekeys[t.cueDirs[i]]; ok {
			p.sum, p.cacheable = key, true
			if events, ok := l.cache.pkg(p.arg, p.sum, true, l.src); ok {
				p.events, p.cached = events, true
				continue // not even parsed
			}
			// It embeds nothing and imports no package of the repo:
			// its worker loads it, once (see evalPackage).
			todo = append(todo, p)
			continue
		}
		insts := load.Instances([]string{arg}, o.config())
		if len(insts) != 1 {
			p.err = fmt.Errorf("CUE package %s: %d instances", arg, len(insts))
			continue
		}
		refused, embedded := l.checkEmbeds(o, insts)
		if embedded {
			insts = load.Instances([]string{arg}, o.config()) // again, with the embedded files
		}
		inst := insts[0]
		p.err, p.refused, p.importErrs = inst.Err, refused[0], toolImportErrors(inst)
		if p.err != nil || p.refused || len(p.importErrs) > 0 {
			continue
		}
		if _, prekeyed := prekeys[t.cueDirs[i]]; !prekeyed {
			p.sum, p.cacheable = o.packageSum(inst)
			if events, ok := l.cache.pkg(p.arg, p.sum, p.cacheable, l.src); ok {
				p.events, p.cached = events, true
				continue
			}
		}
		todo = append(todo, p)
	}
	l.src.overlay = o
	l.evalCUE(o, todo)
	for _, p := range pkgs {
		if l.errs.full() {
			return
		}
		if p.err != nil {
			l.errs.add(o.rename(p.err))
			continue
		}
		if p.refused {
			continue
		}
		if len(p.importErrs) > 0 {
			for _, err := range p.importErrs {
				l.errs.add(err)
			}
			continue
		}
		clean := true
		for _, e := range p.events {
			if l.errs.full() {
				return
			}
			clean = clean && len(e.errs) == 0
			for _, err := range e.errs {
				l.errs.add(err)
			}
			l.repo.Declarations = append(l.repo.Declarations, e.decls...)
		}
		if clean && p.evaluated && p.cacheable {
			l.cache.putPkg(p.arg, p.sum, p.events)
		}
	}
}

// overlayCUEFiles puts the repo's CUE files in the overlay: those the walk
// found, and cue.mod's module files and packages, all read through the
// view; then the lent schema, and a module.cue if the repo has none.
func (l *loader) overlayCUEFiles(o *cueOverlay, t *tree) bool {
	ok := true
	add := func(rel string) {
		data, err := l.view.readFile(rel)
		if err != nil {
			l.errs.addView(rel, err)
			ok = false
			return
		}
		o.add(rel, data)
	}
	for _, rel := range t.files {
		if strings.HasSuffix(rel, ".cue") {
			add(rel)
		}
	}
	hasModule := false
	err := fs.WalkDir(viewFS{l.view}, "cue.mod", func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case rel != "cue.mod" && strings.HasPrefix(d.Name(), "."):
			return skip(d)
		case rel == cueSchemaDir:
			return fs.SkipDir // lent
		case d.Type()&fs.ModeSymlink != 0:
			if info, err := l.view.stat(rel); err != nil {
				return err
			} else if info.IsDir() {
				return nil // not walked, as in the repo
			}
		case d.IsDir() || !strings.HasSuffix(rel, ".cue"):
			return nil
		}
		hasModule = hasModule || rel == cueModuleFile
		add(rel)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.errs.addView("cue.mod", err)
		return false
	}
	for _, f := range schema.Files() {
		o.add(cueSchemaDir+"/"+f.Name, f.Data)
	}
	if !hasModule {
		o.add(cueModuleFile, []byte(defaultModule))
	}
	return ok
}

func skip(d fs.DirEntry) error {
	if d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// toolImportErrors refuses CUE's tool packages: declarations are data,
// and nothing in a config repo runs commands or reads outside it.
func toolImportErrors(inst *build.Instance) []error {
	var errs []error
	for _, f := range inst.Files {
		for imp := range f.ImportSpecs() {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				continue
			}
			if p == "tool" || strings.HasPrefix(p, "tool/") {
				errs = append(errs, cueerrors.Newf(imp.Path.Pos(), "import %q: CUE tool packages are not allowed in a config repo", p))
			}
		}
	}
	return errs
}

// noRegistry is the CUE module registry of a config repo: there is none.
// Loading a repo opens no network connection.
type noRegistry struct{}

var errNoRegistry = errors.New("CUE module dependencies are never fetched while loading a config repo")

func (noRegistry) ModFile(context.Context, module.Version) (*modfile.File, error) {
	return nil, errNoRegistry
}

func (noRegistry) Fetch(context.Context, module.Version) (module.SourceLoc, error) {
	return module.SourceLoc{}, errNoRegistry
}

func (noRegistry) ModuleVersions(context.Context, string) ([]string, error) {
	return nil, errNoRegistry
}

// collectCUE records every declaration in v.
func (l *loader) collectCUE(v cue.Value, depth int) {
	if depth > maxCUEDepth || l.errs.full() {
		return
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		if av, err := v.LookupPath(pathAPIVersion).String(); err == nil && strings.HasPrefix(av, "trellis.dev/") {
			l.origin = origin{src: l.src, pkg: l.pkgArg, path: v.Path()}
			l.declaration(v, relPath(l.root, v.Pos().Filename()))
			l.flush()
			return
		}
		it, err := v.Fields()
		if err != nil {
			l.errs.add(err)
			l.flush()
			return
		}
		for it.Next() {
			l.collectCUE(it.Value(), depth+1)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			l.errs.add(err)
			l.flush()
			return
		}
		for it.Next() {
			l.collectCUE(it.Value(), depth+1)
		}
	}
}
