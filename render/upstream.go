package render

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/schema/crds"
)

// checkUpstream checks each rendered object of a kind that a vendored CRD
// serves (Argo Workflows, KServe, Katib, the training operator and trainer)
// against that CRD's OpenAPI schema, offline, as the apiserver would before
// storing it: so `trellis validate` and a pull request's check catch a wrong
// type, a missing required field or a field the apiserver would drop,
// which otherwise only a server-side dry-run against a cluster reports.
//
// A plain manifest's problem is reported at the field's position in its
// file; a declaration's at the field of its upstream patch that set it, or
// else at its spec (then a bug of trellis's rendering).
func checkUpstream(srcs []source, errs *errorList) {
	kinds := map[schema.GroupVersionKind]bool{}
	for _, s := range srcs {
		kinds[s.obj.GroupVersionKind()] = true
	}
	crds.Default.Prepare(slices.Collect(maps.Keys(kinds)))
	for _, s := range srcs {
		known, problems, err := crds.Default.Validate(s.obj.Object)
		if err != nil {
			errs.add(fileError(s.path, "%s: %v", ObjectID(s.obj), err))
			continue
		}
		if !known {
			continue
		}
		for _, p := range problems {
			if s.declaration != nil {
				errs.addf(s.upstreamPos(p.Path), "renders %s, which %s's upstream schema refuses: %s: %s",
					ObjectID(s.obj), s.obj.GetKind(), fieldOrObject(p.Path), p.Message)
				continue
			}
			errs.addf(s.upstreamPos(p.Path), "%s: %s (%s's upstream schema)",
				fieldOrObject(p.Path), p.Message, s.obj.GetKind())
		}
	}
}

// upstreamPos returns the position of the field at path (as
// "spec.templates[0].name") of the object: in a plain manifest's file, the
// field or its nearest ancestor written there; in a declaration, its spec.
func (s source) upstreamPos(path string) token.Pos {
	switch {
	case s.manifest != nil && s.manifest.origin.src != nil:
		if v := s.manifest.origin.value(); v.Exists() {
			return nearestPos(v, fieldPath(path))
		}
		return s.manifest.pos
	case s.manifest != nil:
		return s.manifest.pos
	case s.declaration != nil:
		// A field the declaration's upstream patch sets is reported there:
		// spec.X of the object is spec.upstream.X of the declaration.
		if rest, ok := strings.CutPrefix(path, "spec."); ok {
			up := append([]string{"spec", "upstream"}, fieldPath(rest)...)
			v := s.declaration.origin.value()
			if f := v.LookupPath(cue.ParsePath("spec.upstream")); f.Exists() {
				return nearestPos(v, up)
			}
		}
		return s.declaration.pos(cue.ParsePath("spec"))
	}
	return token.NoPos
}

// indexPattern matches an index in a field path.
var indexPattern = regexp.MustCompile(`\[(\d+)\]`)

// fieldPath splits "spec.templates[0].name" into its labels and indexes.
func fieldPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(indexPattern.ReplaceAllString(path, ".$1"), ".")
}

func fieldOrObject(path string) string {
	if path == "" {
		return "object"
	}
	return path
}
