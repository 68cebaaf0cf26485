package render

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
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
		l.collectCUE(v, 0)
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

// cueOverlay is what CUE's loader sees of the repo: files under a virtual
// root, a directory that does not exist on the host.
type cueOverlay struct {
	// virtual is the root in the overlay, root the repo's real path, for
	// positions and messages.
	virtual, root string
	files         map[string]load.Source
	// renamed are the token files of positions moved from virtual to
	// root.
	renamed map[*token.File]*token.File
}

func newCUEOverlay(root string) (*cueOverlay, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	// Absolute on every OS, and on none of them a directory that exists.
	virtual := filepath.Join(filepath.VolumeName(root)+string(filepath.Separator), "trellis-repo-"+hex.EncodeToString(b[:]))
	return &cueOverlay{virtual: virtual, root: root, files: map[string]load.Source{}, renamed: map[*token.File]*token.File{}}, nil
}

func (o *cueOverlay) add(rel string, data []byte) {
	o.files[filepath.Join(o.virtual, filepath.FromSlash(rel))] = load.FromBytes(data)
}

// config loads from the overlay, with positions in the repo's real path.
func (o *cueOverlay) config() *load.Config {
	return &load.Config{
		Dir:        o.virtual,
		ModuleRoot: o.virtual,
		Overlay:    o.files,
		ParseFile: func(name string, src any, cfg parser.Config) (*ast.File, error) {
			return parser.ParseFile(o.realName(name), src, cfg)
		},
		Registry: noRegistry{},
		Env:      []string{},
	}
}

// realName is a file name of the overlay in the repo's real path.
func (o *cueOverlay) realName(name string) string {
	if rest, ok := strings.CutPrefix(name, o.virtual); ok {
		return o.root + rest
	}
	return name
}

// rename moves the positions and messages of CUE's errors from the
// virtual root to the repo's path.
func (o *cueOverlay) rename(err error) error {
	var out cueerrors.Error
	for _, e := range cueerrors.Errors(err) {
		out = cueerrors.Append(out, &renamedError{e: e, o: o})
	}
	return out
}

func (o *cueOverlay) renamePos(p token.Pos) token.Pos {
	f := p.File()
	if f == nil || !strings.HasPrefix(f.Name(), o.virtual) {
		return p
	}
	nf, ok := o.renamed[f]
	if !ok {
		nf = token.NewFile(o.realName(f.Name()), -1, f.Size())
		nf.SetLines(f.Lines())
		o.renamed[f] = nf
	}
	return nf.Pos(p.Offset(), token.NoRelPos)
}

// renamedError is a CUE error with its positions and messages moved from
// the overlay's virtual root to the repo's path.
type renamedError struct {
	e cueerrors.Error
	o *cueOverlay
}

func (e *renamedError) Position() token.Pos { return e.o.renamePos(e.e.Position()) }

func (e *renamedError) InputPositions() []token.Pos {
	in := e.e.InputPositions()
	out := make([]token.Pos, len(in))
	for i, p := range in {
		out[i] = e.o.renamePos(p)
	}
	return out
}

func (e *renamedError) Msg() (string, []any) {
	format, args := e.e.Msg()
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
		if s := fmt.Sprint(a); strings.Contains(s, e.o.virtual) {
			out[i] = strings.ReplaceAll(s, e.o.virtual, e.o.root)
		}
	}
	return strings.ReplaceAll(format, e.o.virtual, e.o.root), out
}

func (e *renamedError) Path() []string { return e.e.Path() }

func (e *renamedError) Error() string {
	return strings.ReplaceAll(e.e.Error(), e.o.virtual, e.o.root)
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

// checkEmbeds checks each @embed of the instances' files against the
// view, and adds the files they name (file=) or match (glob=) to the
// overlay. A file the view refuses is reported at the attribute, with the
// view's reason, and its instance (by index) is refused; embedded says
// whether files were added.
func (l *loader) checkEmbeds(o *cueOverlay, insts []*build.Instance) (refused map[int]bool, embedded bool) {
	refused = map[int]bool{}
	for i, inst := range insts {
		for _, f := range inst.Files {
			dir := path.Dir(relPath(l.root, f.Filename))
			ast.Walk(f, func(n ast.Node) bool {
				if a, isAttr := n.(*ast.Attribute); isAttr {
					n, ok := l.embed(o, dir, a)
					embedded = embedded || n > 0
					refused[i] = refused[i] || !ok
				}
				return true
			}, nil)
		}
	}
	return refused, embedded
}

// embed checks one attribute; an @embed's files go to the overlay.
func (l *loader) embed(o *cueOverlay, dir string, a *ast.Attribute) (int, bool) {
	key, body := a.Split()
	if key != "embed" {
		return 0, true
	}
	var names []string
	if file := attrArg(body, "file"); file != "" {
		names = []string{file}
	} else if glob := attrArg(body, "glob"); glob != "" {
		if path.IsAbs(glob) || leavesRepo(path.Join(dir, glob)) {
			return 0, true // CUE refuses these itself
		}
		matches, err := fs.Glob(viewFS{l.view}, path.Join(dir, glob))
		if err != nil {
			l.errs.addf(a.Pos(), "@embed glob %q: %s", glob, viewMessage(err))
			return 0, false
		}
		for _, m := range matches {
			if rel, err := filepath.Rel(dir, m); err == nil {
				names = append(names, filepath.ToSlash(rel))
			}
		}
	}
	n := 0
	for _, name := range names {
		rel := path.Join(dir, name)
		if path.IsAbs(name) || path.Clean(name) != name || leavesRepo(name) || leavesRepo(rel) {
			continue // CUE refuses these itself
		}
		info, err := l.view.stat(rel)
		if err == nil && info.IsDir() {
			continue // CUE skips directories of a glob, refuses a file= one
		}
		var data []byte
		if err == nil {
			data, err = l.view.readFile(rel)
		}
		if err != nil {
			l.errs.addf(a.Pos(), "@embed file %q: %s", name, viewMessage(err))
			return n, false
		}
		o.add(rel, data)
		n++
	}
	return n, true
}

// viewMessage is the view's reason for refusing a path, or err.
func viewMessage(err error) string {
	var ve *viewError
	if errors.As(err, &ve) {
		return ve.message()
	}
	return err.Error()
}

// attrArg returns the value of key=value in an attribute's body, unquoted.
func attrArg(body, key string) string {
	for _, part := range splitAttr(body) {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		return v
	}
	return ""
}

// splitAttr splits an attribute's body at commas outside quotes.
func splitAttr(body string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				parts = append(parts, body[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, body[start:])
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
