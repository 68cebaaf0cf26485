package schema

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/load"
)

// Paths into the schema package, named once.
var (
	pathKinds    = cue.ParsePath("#Kinds")
	patternNames = []struct {
		path cue.Path
		says string
	}{
		{cue.ParsePath("#NamePattern"), "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)"},
		{cue.ParsePath("#LetterFirstPattern"), "must start with a letter"},
		{cue.ParsePath("#StepNamePattern"), "must be a step name: letters, digits and '-', starting with a letter"},
		{cue.ParsePath("#QuantityPattern"), "must be a Kubernetes quantity such as 500m, 2, 4Gi"},
		{cue.ParsePath("#DurationPattern"), "must be a duration such as 30s, 10m, 2h"},
		{cue.ParsePath("#CronPattern"), "must be a cron schedule of five fields (minute hour day-of-month month day-of-week) or a macro such as @daily"},
	}
)

// Schema is the compiled schema package.
type Schema struct {
	// Value is the whole package.
	Value    cue.Value
	kinds    map[string]cue.Value
	explains *strings.Replacer
	checker  *Checker
}

// Load compiles the embedded schema in ctx. Values built in the same context
// can be unified with it. It is loaded from the binary alone
// (load.Config.FS: the host's filesystem is never read), its files named
// /trellis.dev/schema/<file> in positions.
func Load(ctx *cue.Context) (*Schema, error) {
	files, err := fs.Sub(cueFiles, "cue")
	if err != nil {
		return nil, err
	}
	insts := load.Instances([]string{"."}, &load.Config{
		FS: files, Dir: "/", Package: "schema",
		FromFSPath: func(p string) string { return "/trellis.dev/schema" + p },
	})
	if len(insts) != 1 {
		return nil, fmt.Errorf("schema: %d instances, want 1", len(insts))
	}
	if err := insts[0].Err; err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	v := ctx.BuildInstance(insts[0])
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s := &Schema{Value: v, kinds: map[string]cue.Value{}}
	for _, k := range Kinds {
		kv := v.LookupPath(pathKinds.Append(cue.Str(k)))
		if !kv.Exists() {
			return nil, fmt.Errorf("schema: #Kinds has no %s", k)
		}
		s.kinds[k] = kv
	}
	var pairs []string
	for _, p := range patternNames {
		re, err := v.LookupPath(p.path).String()
		if err != nil {
			return nil, fmt.Errorf("schema: %s: %w", p.path, err)
		}
		pairs = append(pairs, "(out of bound =~"+strconv.Quote(re)+")", "("+p.says+")")
	}
	s.explains = strings.NewReplacer(pairs...)
	if s.checker, err = s.newChecker(); err != nil {
		return nil, err
	}
	return s, nil
}

// Checker returns the schema's Checker, the fast path of validation.
func (s *Schema) Checker() *Checker {
	return s.checker
}

// Kind returns the definition of a declaration kind.
func (s *Schema) Kind(kind string) (cue.Value, bool) {
	v, ok := s.kinds[kind]
	return v, ok
}

// Explain rewrites the schema's named patterns in a CUE error message into
// words.
func (s *Schema) Explain(msg string) string {
	return s.explains.Replace(msg)
}

// FieldNames returns the names of the fields a declaration of kind may
// hold at path (spec.model, spec.steps[0] as []string{"spec", "model"}),
// sorted; nil when the schema has no struct there.
func (s *Schema) FieldNames(kind string, path []string) []string {
	v, ok := s.kinds[kind]
	if !ok {
		return nil
	}
	for _, p := range path {
		v = child(v, p)
		if !v.Exists() {
			return nil
		}
	}
	iter, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	var names []string
	for iter.Next() {
		names = append(names, iter.Selector().Unquoted())
	}
	sort.Strings(names)
	return names
}

// child is the value of v's field or element p: a list index selects any
// element, a name the field (required, optional or matched by a pattern).
func child(v cue.Value, p string) cue.Value {
	if _, err := strconv.Atoi(p); err == nil {
		return v.LookupPath(cue.MakePath(cue.AnyIndex))
	}
	for _, sel := range []cue.Selector{cue.Str(p), cue.Str(p).Optional(), cue.AnyString} {
		if c := v.LookupPath(cue.MakePath(sel)); c.Exists() {
			return c
		}
	}
	return cue.Value{}
}
