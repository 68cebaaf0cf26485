package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueyaml "cuelang.org/go/encoding/yaml"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"trellis.dev/trellis/schema"
)

// The fast path of loading (check.go) must give what CUE gives: for
// every document it accepts, the same defaulted declaration and the same
// decoded spec; and it must accept nothing CUE rejects.

// agreement compares the two paths on every document of a YAML stream.
// It returns how many declarations the fast path accepted, by kind.
func agreement(t testing.TB, s *schema.Schema, name string, data []byte) map[string]int {
	t.Helper()
	accepted := map[string]int{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	cdec := cueyaml.NewDecoder(name, bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		expr, cerr := cdec.Extract()
		if errors.Is(err, io.EOF) || err != nil || cerr != nil {
			return accepted
		}
		v, ok := yamlData(&n, 0)
		m, isMap := v.(map[string]any)
		if !ok || !isMap || m["apiVersion"] != schema.APIVersion {
			continue
		}
		kind, _ := m["kind"].(string)
		fast, ok := s.Checker().Check(kind, m)
		if !ok {
			continue
		}
		accepted[kind]++
		fastDecl, err := newDeclaration(kind, name, fast, nil)
		if err != nil {
			t.Fatalf("%s#%d: the fast path accepted a %s its spec type refuses: %v", name, doc, kind, err)
		}

		def, _ := s.Kind(kind)
		u := def.Unify(s.Value.Context().BuildExpr(expr))
		if err := u.Validate(cue.Concrete(true)); err != nil {
			t.Fatalf("%s#%d: the fast path accepted a %s CUE rejects: %v", name, doc, kind, err)
		}
		raw, err := u.MarshalJSON()
		require.NoError(t, err)
		var canon map[string]any
		require.NoError(t, json.Unmarshal(raw, &canon))
		if !reflect.DeepEqual(fast, canon) {
			a, _ := json.Marshal(fast)
			t.Fatalf("%s#%d: defaulted %s differs:\nfast: %s\ncue:  %s", name, doc, kind, a, raw)
		}
		cueDecl, err := newDeclaration(kind, name, canon, raw)
		require.NoError(t, err)
		if !reflect.DeepEqual(fastDecl.spec, cueDecl.spec) || fastDecl.sum != cueDecl.sum || fastDecl.Hash != cueDecl.Hash ||
			fastDecl.Name != cueDecl.Name || fastDecl.Cluster != cueDecl.Cluster || fastDecl.Namespace != cueDecl.Namespace {
			t.Fatalf("%s#%d: %s decoded differently:\nfast: %+v\ncue:  %+v", name, doc, kind, fastDecl, cueDecl)
		}
	}
}

// repoYAML returns the YAML files of the project that hold declarations:
// the examples and every test fixture.
func repoYAML(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, root := range []string{"../examples", "testdata", "../test"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".json")) {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, []byte(schema.APIVersion)) {
				out[p] = data
			}
			return err
		})
		require.NoError(t, err)
	}
	// and a generated repo as the scale benchmarks write it
	dir := t.TempDir()
	for _, rel := range append(writeScaleRepo(t, dir, 20, "yaml"), "clusters.yaml") {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		require.NoError(t, err)
		out[rel] = data
	}
	return out
}

func TestFastPathAgreesWithCUE(t *testing.T) {
	s, err := schema.Load(cuecontext.New())
	require.NoError(t, err)
	total := map[string]int{}
	for name, data := range repoYAML(t) {
		for k, n := range agreement(t, s, name, data) {
			total[k] += n
		}
	}
	t.Logf("declarations taken by the fast path: %v", total)
	// The kinds whose definitions the Checker models in full must be
	// taken, or the fast path has silently stopped working.
	for _, k := range []string{schema.KindCluster, schema.KindPipeline} {
		require.True(t, s.Checker().Decides(k), "the Checker no longer models %s", k)
		require.Positive(t, total[k], "the fast path took no %s", k)
	}
}

// TestFastPathRefuses lists what the fast path must leave to CUE, each
// with the reason.
func TestFastPathRefuses(t *testing.T) {
	s, err := schema.Load(cuecontext.New())
	require.NoError(t, err)
	base := "apiVersion: trellis.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  cluster: c\n  namespace: n\n"
	step := "  steps: [{name: a, image: i}]\n"
	for name, doc := range map[string]string{
		"valid, for contrast":   "",
		"unknown field":         step + "  colour: red\n",
		"field of another kind": step + "  model: {format: onnx}\n",
		"no steps":              "",
		"bad enum":              step + "  concurrencyPolicy: Sometimes\n",
		"out of bound":          step + "  keepRuns: 0\n",
		"float for int":         step + "  keepRuns: 3.5\n",
		"pattern key refused":   step + "  parameters: {'1x': 2}\n",
		"null":                  step + "  timezone: null\n",
		"anchor":                "  steps: [&s {name: a, image: i}]\n",
		"yaml 1.1 octal":        step + "  parameters: {x: 0755}\n",
		"hex":                   step + "  parameters: {x: 0x1f}\n",
		"exponent":              step + "  parameters: {x: 1e3}\n",
		"trailing zero decimal": step + "  parameters: {x: 1.50}\n",
		"big int":               step + "  parameters: {x: 12345678901234567890}\n",
		"explicit tag":          step + "  parameters: {x: !!str 5}\n",
		"duplicate key":         step + "  timezone: UTC\n  timezone: UTC\n",
		"regex refused":         "  steps: [{name: a, image: 'has space'}]\n",
		"too long name":         "  steps: [{name: " + strings.Repeat("a", 64) + ", image: i}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			doc := base + doc
			if name == "valid, for contrast" {
				doc += step
			}
			var n yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(doc), &n))
			v, ok := yamlData(&n, 0)
			if ok {
				_, ok = s.Checker().Check(schema.KindPipeline, v.(map[string]any))
			}
			require.Equal(t, name == "valid, for contrast", ok, doc)
			agreement(t, s, "doc.yaml", []byte(doc))
		})
	}
}

// FuzzFastPath holds the fast path to CUE's answers on arbitrary
// documents, seeded with every declaration file of the project.
func FuzzFastPath(f *testing.F) {
	for _, data := range repoYAML(f) {
		f.Add(data)
	}
	s, err := schema.Load(cuecontext.New())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agreement(t, s, "fuzz.yaml", data)
	})
}

// TestFastPathLoadsAsCUE loads repos with the fast path and without it:
// the same declarations, sums, hashes, specs and origins, or the same
// problems. The repos are the examples, the upstream corpus and the
// generated repos of the scale benchmarks, in YAML and in CUE.
func TestFastPathLoadsAsCUE(t *testing.T) {
	yamlRepo, cueRepo := t.TempDir(), t.TempDir()
	writeScaleRepo(t, yamlRepo, 30, "yaml")
	writeScaleRepo(t, cueRepo, 30, "cue")
	for _, root := range []string{"../examples", "../test/examples/testdata/corpus", "../test/examples/testdata/upstream", yamlRepo, cueRepo} {
		t.Run(filepath.Base(root), func(t *testing.T) {
			load := func(off bool) (*Repo, []Problem) {
				fastPathOff = off
				defer func() { fastPathOff = false }()
				repo, err := Load(t.Context(), root, Limits{})
				if err != nil {
					return nil, Problems(err, root, nil)
				}
				return repo, nil
			}
			slow, slowProblems := load(true)
			before := fastTaken.Load()
			fast, fastProblems := load(false)
			taken := fastTaken.Load() - before
			t.Logf("%d declarations took the fast path", taken)
			if root == yamlRepo || root == cueRepo {
				require.EqualValues(t, 31, taken, "every declaration of a generated repo takes the fast path")
			}
			require.Equal(t, slowProblems, fastProblems)
			if slow == nil {
				return
			}
			require.Len(t, fast.Declarations, len(slow.Declarations))
			for i := range slow.Declarations {
				s, f := slow.Declarations[i], fast.Declarations[i]
				require.Equal(t, s.Kind+"/"+s.Name, f.Kind+"/"+f.Name)
				require.Equal(t, s.sum, f.sum, s.Name)
				require.Equal(t, s.Hash, f.Hash, s.Name)
				require.Equal(t, s.spec, f.spec, s.Name)
				require.Equal(t, []any{s.origin.rel, s.origin.doc, s.origin.pkg, s.origin.path.String()}, []any{f.origin.rel, f.origin.doc, f.origin.pkg, f.origin.path.String()}, s.Name)
				require.Equal(t, s.origin.value().Pos().String(), f.origin.value().Pos().String(), s.Name)
				require.Equal(t, [4]string{s.Cluster, s.Namespace, s.Path, s.pkgDir}, [4]string{f.Cluster, f.Namespace, f.Path, f.pkgDir})
			}
		})
	}
}
