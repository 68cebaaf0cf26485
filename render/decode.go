package render

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"trellis.dev/trellis/schema"
)

// declaration validates v, a declaration written by the user, against its
// kind's schema and records it.
func (l *loader) declaration(v cue.Value, rel string) {
	if av := v.LookupPath(pathAPIVersion); mustString(av) != schema.APIVersion {
		l.errs.addf(av.Pos(), "apiVersion: unknown apiVersion %q (want %q)", mustString(av), schema.APIVersion)
		return
	}
	kv := v.LookupPath(pathKind)
	kind := mustString(kv)
	if l.pkgPlain && l.fastCUE(v, kind, rel) {
		return
	}
	def, ok := l.schema.Kind(kind)
	if !ok {
		l.errs.addf(kv.Pos(), "kind: unknown kind %q: %s", kind, schema.Hint(kind, schema.Kinds))
		return
	}
	u := def.Unify(v)
	if err := u.Validate(cue.Concrete(true)); err != nil {
		l.validationErrors(v, err)
		return
	}
	raw, err := u.MarshalJSON()
	if err != nil {
		l.validationErrors(v, err)
		return
	}
	var canon map[string]any
	if err := json.Unmarshal(raw, &canon); err != nil {
		l.errs.addf(v.Pos(), "%s: %v", kind, err)
		return
	}
	d, err := newDeclaration(kind, rel, canon, raw)
	if err != nil {
		l.errs.addf(v.Pos(), "%s: %v", kind, err)
		return
	}
	d.origin, d.pkgDir = l.origin, l.pkgDir
	l.repo.Declarations = append(l.repo.Declarations, d)
}

// validationErrors records the errors of validating v. An error with no
// position in the user's files (a missing field has none) is placed on the
// nearest field of v that exists.
func (l *loader) validationErrors(v cue.Value, err error) {
	for _, e := range cueerrors.Errors(err) {
		if userPos(e).IsValid() {
			l.errs.add(e)
			continue
		}
		format, args := e.Msg()
		path := declPath(e.Path())
		if sensitivePath(path) {
			args = elide(format, args)
		}
		msg := fmt.Sprintf(format, args...)
		if strings.HasPrefix(msg, "incomplete value") {
			msg = "missing required field"
		}
		l.errs.addf(nearestPos(v, path), "%s: %s", formatPath(path), msg)
	}
}

// nearestPos returns the position of the deepest prefix of path that v
// holds.
func nearestPos(v cue.Value, path []string) token.Pos {
	best := v.Pos()
	sels := make([]cue.Selector, 0, len(path))
	for _, p := range path {
		if n, err := strconv.Atoi(p); err == nil {
			sels = append(sels, cue.Index(n))
		} else if sel := cue.ParsePath(p).Selectors(); len(sel) == 1 {
			sels = append(sels, sel[0])
		} else {
			break
		}
		f := v.LookupPath(cue.MakePath(sels...))
		if !f.Exists() || !f.Pos().IsValid() {
			break
		}
		best = f.Pos()
	}
	return best
}

func decodeSpec(kind string, raw []byte) (any, error) {
	var spec any
	switch kind {
	case schema.KindCluster:
		spec = &schema.Cluster{}
	case schema.KindPipeline:
		spec = &schema.Pipeline{}
	case schema.KindExperiment:
		spec = &schema.Experiment{}
	case schema.KindEndpoint:
		spec = &schema.Endpoint{}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if err := json.Unmarshal(raw, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func mustString(v cue.Value) string {
	s, _ := v.String()
	return s
}
