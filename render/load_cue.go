package render

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
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
	insts := load.Instances(args, o.config())
	refused, embedded := l.checkEmbeds(o, insts)
	if embedded {
		insts = load.Instances(args, o.config()) // again, with the embedded files
	}
	l.src.overlay = o
	for i, inst := range insts {
		if l.errs.full() {
			return
		}
		if inst.Err != nil {
			l.errs.add(o.rename(inst.Err))
			continue
		}
		if refused[i] || !l.checkImports(inst) {
			continue
		}
		v := l.ctx.BuildInstance(inst)
		if err := v.Err(); err != nil {
			l.errs.add(o.rename(err))
			continue
		}
		l.pkgDir = relPath(l.root, o.realName(inst.Dir)) // the overlay's virtual root is the repo
		l.pkgArg = args[i]
		l.collectCUE(v, 0)
		l.pkgDir = ""
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

// checkImports refuses CUE's tool packages: declarations are data, and
// nothing in a config repo runs commands or reads outside it.
func (l *loader) checkImports(inst *build.Instance) bool {
	ok := true
	for _, f := range inst.Files {
		for imp := range f.ImportSpecs() {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				continue
			}
			if p == "tool" || strings.HasPrefix(p, "tool/") {
				l.errs.addf(imp.Path.Pos(), "import %q: CUE tool packages are not allowed in a config repo", p)
				ok = false
			}
		}
	}
	return ok
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
			return
		}
		it, err := v.Fields()
		if err != nil {
			l.errs.add(err)
			return
		}
		for it.Next() {
			l.collectCUE(it.Value(), depth+1)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			l.errs.add(err)
			return
		}
		for it.Next() {
			l.collectCUE(it.Value(), depth+1)
		}
	}
}
