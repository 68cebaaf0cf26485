package schema

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTypesMirrorSchema checks that every field of the CUE definitions has
// a Go field with the same JSON name, and the other way round, so the Go
// types cannot drift from the schema.
func TestTypesMirrorSchema(t *testing.T) {
	s, err := Load(cuecontext.New())
	require.NoError(t, err)
	for kind, goType := range map[string]reflect.Type{
		KindCluster:    reflect.TypeOf(Cluster{}),
		KindPipeline:   reflect.TypeOf(Pipeline{}),
		KindExperiment: reflect.TypeOf(Experiment{}),
		KindEndpoint:   reflect.TypeOf(Endpoint{}),
	} {
		def, ok := s.Kind(kind)
		require.True(t, ok)
		cueFields := map[string]bool{}
		collectCUE(def.LookupPath(cue.ParsePath("spec")), "spec", cueFields)
		if kind == KindExperiment {
			// A search parameter's fields depend on its type.
			for _, typ := range []string{"double", "int", "categorical", "discrete"} {
				p := s.Value.LookupPath(cue.ParsePath("#SearchParameter")).FillPath(cue.ParsePath("type"), typ)
				collectCUE(p, "spec.parameters[]", cueFields)
			}
			trainJob := s.Value.LookupPath(cue.ParsePath("#Trial")).FillPath(cue.ParsePath("kind"), "TrainJob")
			collectCUE(trainJob, "spec.trial", cueFields)
			mpiJob := s.Value.LookupPath(cue.ParsePath("#Trial")).FillPath(cue.ParsePath("kind"), "MPIJob")
			collectCUE(mpiJob, "spec.trial", cueFields)
			// A metrics collector's fields depend on its kind.
			for _, k := range []string{"File", "Prometheus"} {
				c := s.Value.LookupPath(cue.ParsePath("#MetricsCollector")).FillPath(cue.ParsePath("kind"), k)
				collectCUE(c, "spec.objective.collector", cueFields)
			}
		}
		goFields := map[string]bool{}
		collectGo(goType.Field(1).Type, "spec", goFields) // Spec
		assert.Equal(t, sortedKeys(cueFields), sortedKeys(goFields), kind)
	}
}

// collectCUE records the paths of v's fields, optional ones included,
// descending into structs and list elements.
func collectCUE(v cue.Value, prefix string, out map[string]bool) {
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		for it.Next() {
			sel := it.Selector()
			if sel.IsDefinition() || sel.PkgPath() != "" {
				continue
			}
			p := prefix + "." + sel.Unquoted()
			out[p] = true
			collectCUE(it.Value(), p, out)
		}
	case cue.ListKind:
		elem := v.LookupPath(cue.MakePath(cue.Index(0)))
		if !elem.Exists() {
			elem = v.LookupPath(cue.MakePath(cue.AnyIndex))
		}
		collectCUE(elem, prefix+"[]", out)
	}
}

// collectGo records the JSON paths of a Go type's fields, descending as
// collectCUE does; maps keyed by user-chosen names are leaves, as are
// pattern-constrained CUE structs.
func collectGo(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				collectGo(f.Type, prefix, out)
				continue
			}
			p := prefix + "." + name
			out[p] = true
			collectGo(f.Type, p, out)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			collectGo(t.Elem(), prefix+"[]", out)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestNamespaceApplier(t *testing.T) {
	assert.Equal(t, "", Namespace{}.Applier(), "trellis's own identity")
	assert.Equal(t, "deployer", Namespace{ServiceAccount: "deployer"}.Applier())
	assert.Equal(t, DefaultApplier, Namespace{Paths: []string{"teams/a"}}.Applier(), "a tenant is always impersonated")
	assert.Equal(t, "deployer", Namespace{ServiceAccount: "deployer", Paths: []string{"teams/a"}}.Applier())
}
