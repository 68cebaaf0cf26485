package render

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"

	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	cueyaml "cuelang.org/go/encoding/yaml"

	"trellis.dev/trellis/schema"
)

// Loading YAML and JSON files. Each file's documents are loaded on their
// own (a declaration needs nothing but itself and the schema), so files
// are loaded by one worker per core, each with its own CUE context, and
// their results merged in the walk's order: the declarations, manifests
// and problems are those, in the order, that loading the files one by one
// gives, and loading stops where it would (a full problem list, a limit
// of the repo). A file holding SOPS metadata or values is loaded in
// order by the loader itself.

// docResult is what loading one document found.
type docResult struct {
	errs      []error
	decls     []*Declaration
	manifests []*Manifest
	secrets   []string
}

// fileLoad is one YAML or JSON file being loaded.
type fileLoad struct {
	rel     string
	data    []byte
	readErr error
	// sops is set for a file that may hold SOPS metadata or values.
	sops bool
	sum  [sha256.Size]byte
	docs []docResult
	// cached is set when docs come from the cache, parsed once a worker
	// loaded the file (not when the load stopped first).
	cached, parsed bool
}

// loadYAMLFiles loads the YAML and JSON files rels.
func (l *loader) loadYAMLFiles(rels []string) {
	files := make([]*fileLoad, 0, len(rels))
	for _, rel := range rels {
		if l.view.ctx.Err() != nil {
			break
		}
		f := &fileLoad{rel: rel}
		f.data, f.readErr = l.view.readFile(rel)
		files = append(files, f)
		if errors.Is(f.readErr, errLimit) && !errors.Is(f.readErr, errFileLimit) {
			break // a limit of the repo: the load ends there
		}
	}
	var todo []*fileLoad
	for _, f := range files {
		if f.readErr != nil {
			continue
		}
		if bytes.Contains(f.data, []byte("sops")) || bytes.Contains(f.data, []byte(encMarker)) {
			f.sops = true
			continue
		}
		l.src.addFile(f.rel, f.data)
		f.sum = sha256.Sum256(f.data)
		if docs, ok := l.cache.file(f.rel, f.sum, l.src); ok {
			f.docs, f.cached = docs, true
			continue
		}
		todo = append(todo, f)
	}
	l.parseFiles(todo)
	for _, f := range files {
		if l.errs.full() {
			break
		}
		switch {
		case f.readErr != nil:
			l.errs.addView(f.rel, f.readErr)
		case f.sops:
			l.loadSOPSOrYAML(f.rel, f.data)
		default:
			clean := true
			for _, d := range f.docs {
				if l.errs.full() {
					break
				}
				clean = clean && len(d.errs) == 0
				for _, e := range d.errs {
					l.errs.add(e)
				}
				l.repo.Declarations = append(l.repo.Declarations, d.decls...)
				l.repo.Manifests = append(l.repo.Manifests, d.manifests...)
				l.secrets = append(l.secrets, d.secrets...)
			}
			if clean && f.parsed {
				l.cache.putFile(f.rel, f.sum, f.docs)
			}
		}
	}
}

// loadSOPSOrYAML loads a file that may be a SOPS file, in order.
func (l *loader) loadSOPSOrYAML(rel string, data []byte) {
	data, dec, ok := l.sopsLoad(rel, data)
	switch {
	case !ok:
	case dec != nil:
		l.loadSOPSManifests(rel, data, dec)
	default:
		l.src.addFile(rel, data)
		l.loadYAML(rel, data)
	}
}

// parseFiles loads files, on as many workers as there are cores.
func (l *loader) parseFiles(files []*fileLoad) {
	runPool(files, min(cores(), (len(files)+7)/8), l.stopped, func(i int) func(int, *fileLoad) {
		w, err := l.worker(i == 0)
		if err != nil {
			panic(err)
		}
		return func(_ int, f *fileLoad) {
			f.docs = w.parseFile(f.rel, f.data)
			f.parsed = true
		}
	})
}

// stopped reports whether the load was stopped (a signal, the render
// timeout): no more work is handed out.
func (l *loader) stopped() bool { return l.view.ctx.Err() != nil }

// worker is a loader of documents for one goroutine: the loader's own
// CUE context for the first, a new one for the others.
func (l *loader) worker(first bool) (*loader, error) {
	w := &loader{ctx: l.ctx, schema: l.schema, root: l.root, src: l.src, errs: newErrorList(0), repo: &Repo{}}
	if !first {
		w.ctx = cuecontext.New()
		s, err := schema.Load(w.ctx)
		if err != nil {
			return nil, err
		}
		w.schema = s
	}
	return w, nil
}

// parseFile loads every document of a YAML or JSON stream, as loadYAML
// does, and returns what each document found.
func (l *loader) parseFile(rel string, data []byte) []docResult {
	if blank(data) {
		return nil
	}
	if docs, ok := l.fastFile(rel, data); ok {
		return docs
	}
	var docs []docResult
	dec := cueyaml.NewDecoder(rel, bytes.NewReader(data))
	for doc := 0; ; doc++ {
		expr, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			l.errs.add(yamlSyntaxError(rel, data, err))
			return append(docs, l.drain())
		}
		l.origin = origin{src: l.src, rel: rel, doc: doc}
		l.loadDocument(rel, expr)
		docs = append(docs, l.drain())
	}
}

// drain returns what the loader found since the last drain, and forgets
// it.
func (l *loader) drain() docResult {
	var r docResult
	if l.errs.errs != nil {
		for _, e := range cueerrors.Errors(l.errs.errs) {
			r.errs = append(r.errs, e)
		}
	}
	r.decls, r.manifests, r.secrets = l.repo.Declarations, l.repo.Manifests, l.secrets
	l.errs = newErrorList(0)
	l.repo.Declarations, l.repo.Manifests, l.secrets = nil, nil, nil
	return r
}
