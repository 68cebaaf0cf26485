package render

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// A loaded declaration (or manifest) does not hold its CUE value: the
// values of ten thousand declarations, with the evaluator's graph behind
// them, are most of what a load would hold. It holds its origin instead:
// the file and document (YAML, JSON) or the CUE package and path it came
// from. Its value as written, wanted only for the position of a problem,
// is rebuilt from the same bytes when asked for (sources.value), with the
// same positions.

// origin says where a declaration or a manifest was read.
type origin struct {
	src *sources
	// rel and doc are the YAML or JSON file and the index of the
	// document in it.
	rel string
	doc int
	// pkg is the CUE package (its load argument, "./dir"), path the
	// declaration's path in it; pkg is "" for YAML and JSON.
	pkg  string
	path cue.Path
}

// value rebuilds the value as written, or returns the zero Value when
// there is no origin (kustomize output, a decrypted SOPS file).
func (o origin) value() cue.Value {
	if o.src == nil {
		return cue.Value{}
	}
	return o.src.value(o)
}

// sources are the bytes a load read that values are rebuilt from: the
// YAML and JSON files holding declarations or manifests, and the CUE
// overlay. Rebuilt values are kept (problems often come several to a
// declaration); they are rebuilt only for problems and upstream checks.
type sources struct {
	mu      sync.Mutex
	ctx     *cue.Context
	files   map[string][]byte
	overlay *cueOverlay
	docs    map[string][]cue.Value
	pkgs    map[string]cue.Value
}

func newSources() *sources {
	return &sources{files: map[string][]byte{}, docs: map[string][]cue.Value{}, pkgs: map[string]cue.Value{}}
}

func (s *sources) addFile(rel string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[rel] = data
}

func (s *sources) value(o origin) cue.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		s.ctx = cuecontext.New()
	}
	if o.pkg != "" {
		v, ok := s.pkgs[o.pkg]
		if !ok {
			v = s.buildPackage(o.pkg)
			s.pkgs[o.pkg] = v
		}
		if !v.Exists() {
			return v
		}
		return v.LookupPath(o.path)
	}
	docs, ok := s.docs[o.rel]
	if !ok {
		docs = s.buildDocs(o.rel)
		s.docs[o.rel] = docs
	}
	if o.doc < 0 || o.doc >= len(docs) {
		return cue.Value{}
	}
	return docs[o.doc]
}

// buildDocs decodes every document of a file as loadYAML did.
func (s *sources) buildDocs(rel string) []cue.Value {
	data, ok := s.files[rel]
	if !ok {
		return nil
	}
	var docs []cue.Value
	dec := cueyaml.NewDecoder(rel, bytes.NewReader(data))
	for {
		expr, err := dec.Extract()
		if errors.Is(err, io.EOF) || err != nil {
			return docs
		}
		docs = append(docs, s.ctx.BuildExpr(expr))
	}
}

// buildPackage loads and evaluates a CUE package as loadCUE did.
func (s *sources) buildPackage(pkg string) cue.Value {
	if s.overlay == nil {
		return cue.Value{}
	}
	insts := load.Instances([]string{pkg}, s.overlay.config())
	if len(insts) != 1 || insts[0].Err != nil {
		return cue.Value{}
	}
	return s.ctx.BuildInstance(insts[0])
}

// bind returns the origin in src (none stays none).
func (o origin) bind(src *sources) origin {
	if o.src != nil {
		o.src = src
	}
	return o
}
