package render

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"

	"trellis.dev/trellis/schema"
)

// CUE packages are evaluated one by one, by one worker per core, each in
// a CUE context of its own that is replaced once it has evaluated
// ctxDeclarations declarations (a context keeps every package it built):
// what a load holds is bounded by what the workers evaluate at once, not
// by the repo. What each package found is merged in the order of the
// packages, as evaluating them in turn gives it.

// ctxDeclarations is how many declarations a worker evaluates in one CUE
// context before it takes a new one.
const ctxDeclarations = 500

// cuePackage is one CUE package being loaded.
type cuePackage struct {
	arg string
	// err, refused and importErrs are what loading it found: an error of
	// CUE's loader, an @embed refused, tool packages imported.
	err        error
	refused    bool
	importErrs []error
	// sum is the SHA-256 of every file the package is made of, its
	// imports' (transitively) and the module's; cacheable is false for a
	// package that embeds files.
	sum       [sha256.Size]byte
	cacheable bool
	events    []docResult
	// cached is set when events come from the cache, evaluated once a
	// worker evaluated the package (not when the load stopped first).
	cached, evaluated bool
}

// evalCUE evaluates pkgs, on as many workers as there are cores.
func (l *loader) evalCUE(o *cueOverlay, pkgs []*cuePackage) {
	runPool(pkgs, cores(), l.stopped, func(int) func(int, *cuePackage) {
		var w *loader
		return func(_ int, p *cuePackage) {
			if w == nil || w.evaluated >= ctxDeclarations {
				var err error
				if w, err = l.cueWorker(); err != nil {
					panic(err)
				}
			}
			w.evalPackage(o, p)
			p.evaluated = true
		}
	})
}

// cueWorker is a loader of CUE packages for one goroutine, with a new CUE
// context.
func (l *loader) cueWorker() (*loader, error) {
	ctx := cuecontext.New()
	s, err := schema.Load(ctx)
	if err != nil {
		return nil, err
	}
	return &loader{ctx: ctx, schema: s, root: l.root, src: l.src, errs: newErrorList(0), repo: &Repo{}}, nil
}

// evalPackage loads one package (again, when loadCUE loaded it to find
// its key) in this worker's context, evaluates it and collects its
// declarations.
func (l *loader) evalPackage(o *cueOverlay, p *cuePackage) {
	l.events = &p.events
	defer func() { l.events = nil }()
	insts := load.Instances([]string{p.arg}, o.config())
	if len(insts) != 1 {
		l.errs.add(fmt.Errorf("CUE package %s: %d instances", p.arg, len(insts)))
		l.flush()
		return
	}
	if err := insts[0].Err; err != nil {
		l.errs.add(o.rename(err))
		l.flush()
		return
	}
	if errs := toolImportErrors(insts[0]); len(errs) > 0 {
		for _, err := range errs {
			l.errs.add(err)
		}
		l.flush()
		return
	}
	v := l.ctx.BuildInstance(insts[0])
	if err := v.Err(); err != nil {
		l.errs.add(o.rename(err))
		l.flush()
		return
	}
	l.pkgDir = relPath(l.root, o.realName(insts[0].Dir)) // the overlay's virtual root is the repo
	l.pkgArg = p.arg
	l.pkgPlain = plainCUE(insts[0], map[*build.Instance]bool{})
	before := len(p.events)
	l.collectCUE(v, 0)
	for _, e := range p.events[before:] {
		l.evaluated += len(e.decls)
	}
	l.evaluated++ // a package with no declaration costs too
	l.pkgDir, l.pkgArg, l.pkgPlain = "", "", false
}

// flush ends an event of a worker: what it found since the last one.
func (l *loader) flush() {
	if l.events != nil {
		*l.events = append(*l.events, l.drain())
	}
}

// packageSum hashes the files inst is made of, those of its imports
// (transitively) and the module's files; a package that embeds files
// (or may: "@embed" in its text) is not cached.
func (o *cueOverlay) packageSum(inst *build.Instance) ([sha256.Size]byte, bool) {
	files := map[string]bool{}
	seen := map[*build.Instance]bool{}
	var visit func(*build.Instance)
	visit = func(i *build.Instance) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, f := range i.BuildFiles {
			files[f.Filename] = true
		}
		for _, imp := range i.Imports {
			visit(imp)
		}
	}
	visit(inst)
	for name := range o.files {
		if strings.Contains(name, "/cue.mod/") && strings.HasSuffix(name, ".cue") {
			files[name] = true
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	cacheable := true
	for _, name := range names {
		data, ok := o.data[name]
		if !ok {
			if strings.HasPrefix(name, o.virtual) {
				cacheable = false // not read through the overlay: not known
			}
			continue
		}
		if bytes.Contains(data, []byte("@embed")) {
			cacheable = false
		}
		fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimPrefix(name, o.virtual), len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, cacheable
}

// prekeys key, before anything is parsed, the packages of dirs that
// import nothing but CUE's standard library and the lent schema, and
// embed nothing: the SHA-256 of every .cue file of the package's
// directory and of the directories above it (a package's files may be
// there), and of the module's files. A package so keyed that the cache
// holds is neither parsed nor evaluated again. Other packages are keyed
// once loaded (packageSum).
func (o *cueOverlay) prekeys(dirs []string, cache *Cache) map[string][sha256.Size]byte {
	byDir := map[string][]string{}
	var module []string
	for name := range o.data {
		rel := filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(name, o.virtual), string(filepath.Separator)))
		if !strings.HasSuffix(rel, ".cue") {
			continue
		}
		if strings.HasPrefix(rel, "cue.mod/") {
			module = append(module, name)
			continue
		}
		d := path.Dir(rel)
		byDir[d] = append(byDir[d], name)
	}
	// A directory's files are keyable when they embed nothing and import
	// only the standard library and the lent schema.
	keyable := map[string]bool{}
	for d, names := range byDir {
		keyable[d] = true
		for _, name := range names {
			if !cache.plainFile(strings.TrimPrefix(name, o.virtual), o.data[name], func() bool { return o.plainFile(name) }) {
				keyable[d] = false
				break
			}
		}
	}
	keys := map[string][sha256.Size]byte{}
	for _, dir := range dirs {
		names := slices.Clone(module)
		ok := true
		for d := dir; ; d = path.Dir(d) {
			if k, found := keyable[d]; found {
				ok = ok && k
				names = append(names, byDir[d]...)
			}
			if d == "." || d == "/" {
				break
			}
		}
		if !ok {
			continue
		}
		sort.Strings(names)
		h := sha256.New()
		for _, name := range names {
			data := o.data[name]
			fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimPrefix(name, o.virtual), len(data))
			h.Write(data)
		}
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		keys[dir] = sum
	}
	return keys
}

// plainFile reports whether a CUE file of the overlay embeds nothing and
// imports only the standard library and the lent schema.
func (o *cueOverlay) plainFile(name string) bool {
	data := o.data[name]
	if bytes.Contains(data, []byte("@embed")) {
		return false
	}
	f, err := parser.ParseFile(name, data, parser.ImportsOnly)
	if err != nil {
		return false
	}
	for imp := range f.ImportSpecs() {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return false
		}
		first, _, _ := strings.Cut(p, "/")
		if p != schema.ImportPath && strings.Contains(first, ".") {
			return false
		}
	}
	return true
}
