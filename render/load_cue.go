package render

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/load"

	"trellis.dev/trellis/schema"
)

// defaultModule is the module.cue trellis lends a repo that has none, so
// that CUE declarations can import the schema without any setup.
const defaultModule = "module: \"trellis.local/config\"\nlanguage: version: \"v0.12.0\"\n"

// maxCUEDepth bounds how deep loadCUE looks for declarations in a package.
const maxCUEDepth = 6

// loadCUE loads the CUE package of each directory. The schema is lent to
// the repo as cue.mod/gen/trellis.dev/schema, so `import
// "trellis.dev/schema"` works in every repo. Every struct field with
// apiVersion trellis.dev/... is a declaration, at any depth below the
// package's top level, in structs and lists.
func (l *loader) loadCUE(dirs []string) {
	if len(dirs) == 0 {
		return
	}
	overlay := map[string]load.Source{}
	genDir := filepath.Join(l.root, "cue.mod", "gen", filepath.FromSlash(schema.ImportPath))
	for _, f := range schema.Files() {
		overlay[filepath.Join(genDir, f.Name)] = load.FromBytes(f.Data)
	}
	moduleFile := filepath.Join(l.root, "cue.mod", "module.cue")
	if _, err := os.Stat(moduleFile); err != nil {
		overlay[moduleFile] = load.FromString(defaultModule)
	}
	args := make([]string, len(dirs))
	for i, d := range dirs {
		args[i] = "./" + d
	}
	insts := load.Instances(args, &load.Config{Dir: l.root, ModuleRoot: l.root, Overlay: overlay})
	for _, inst := range insts {
		if inst.Err != nil {
			l.errs.add(inst.Err)
			continue
		}
		if !l.checkImports(inst) {
			continue
		}
		v := l.ctx.BuildInstance(inst)
		if err := v.Err(); err != nil {
			l.errs.add(err)
			continue
		}
		l.pkgDir = relPath(l.root, inst.Dir)
		l.collectCUE(v, 0)
		l.pkgDir = ""
	}
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

// collectCUE records every declaration in v.
func (l *loader) collectCUE(v cue.Value, depth int) {
	if depth > maxCUEDepth {
		return
	}
	switch v.IncompleteKind() {
	case cue.StructKind:
		if av, err := v.LookupPath(pathAPIVersion).String(); err == nil && strings.HasPrefix(av, "trellis.dev/") {
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
