package examples

import (
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/render"
)

// corpusDir holds upstream examples, each next to the trellis declaration
// that expresses it: corpus/SYSTEM/NAME/upstream.yaml and trellis.yaml.
var corpusDir = filepath.Join("testdata", "corpus")

// corpusKinds is the kind of the object each system's example is.
var corpusKinds = map[string]string{
	"argo":   "WorkflowTemplate",
	"katib":  "Experiment",
	"kserve": "InferenceService",
}

// corpusExample is one upstream example and what trellis renders from its
// declaration.
type corpusExample struct {
	System, Name string
	Upstream     map[string]any
	Rendered     *unstructured.Unstructured
	// Hatch is true when the declaration uses the upstream escape hatch
	// (upstream: or task:).
	Hatch bool
}

// loadCorpus renders the corpus and pairs each upstream example with its
// rendered object.
func loadCorpus(t *testing.T) (*render.Result, []corpusExample) {
	t.Helper()
	res, err := render.Dir(t.Context(), corpusDir, render.Options{Revision: "r1", UpstreamSchemas: true})
	require.NoError(t, err, render.Problems(err, corpusDir, nil))
	byDir := map[string]*unstructured.Unstructured{}
	for _, c := range res.Clusters {
		for _, o := range c.Objects {
			dir := path.Dir(o.GetAnnotations()[render.AnnotationPath])
			system := strings.Split(dir, "/")[0]
			if o.GetKind() == corpusKinds[system] {
				byDir[dir] = o
			}
		}
	}
	var out []corpusExample
	for _, system := range []string{"argo", "katib", "kserve"} {
		entries, err := os.ReadDir(filepath.Join(corpusDir, system))
		require.NoError(t, err)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(corpusDir, system, e.Name())
			decl, err := os.ReadFile(filepath.Join(dir, "trellis.yaml"))
			require.NoError(t, err)
			ex := corpusExample{
				System:   system,
				Name:     e.Name(),
				Upstream: readUpstream(t, filepath.Join(dir, "upstream.yaml")),
				Rendered: byDir[system+"/"+e.Name()],
				Hatch:    usesHatch(t, decl),
			}
			require.NotNil(t, ex.Rendered, "%s renders no %s", dir, corpusKinds[system])
			out = append(out, ex)
		}
	}
	return res, out
}

// usesHatch reports whether a declaration sets an upstream or task field
// anywhere.
func usesHatch(t *testing.T, decl []byte) bool {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal(decl, &v))
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "upstream" || k == "task" || walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// readUpstream returns the first object of an upstream example.
func readUpstream(t *testing.T, file string) map[string]any {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s holds no object", file)
		}
		require.NoError(t, err, file)
		if len(obj) > 0 {
			return obj
		}
	}
}

// TestCorpusMatchesUpstream renders the declaration written for each
// upstream example of testdata/corpus (Argo Workflows, Katib and KServe
// examples, copied with their source) and checks that the rendered object
// means what the upstream one does: equal field by field after the
// normalisation of normalize_test.go. Every rendered object also passes
// the offline schema check and a strict server-side dry-run against the
// real CRDs.
func TestCorpusMatchesUpstream(t *testing.T) {
	cp.Require(t)
	res, corpus := loadCorpus(t)
	perSystem := map[string]int{}
	for _, ex := range corpus {
		perSystem[ex.System]++
		t.Run(ex.System+"/"+ex.Name, func(t *testing.T) {
			want := normalize(ex.System, ex.Upstream)
			got := normalize(ex.System, ex.Rendered.Object)
			if diff := fieldDiff("", want, got); len(diff) > 0 {
				sort.Strings(diff)
				t.Errorf("%s/%s differs from upstream after normalising:\n  %s", ex.System, ex.Name, strings.Join(diff, "\n  "))
			}
		})
	}
	assert.GreaterOrEqual(t, len(corpus), 30)
	for system := range corpusKinds {
		assert.GreaterOrEqual(t, perSystem[system], 8, system)
	}
	dryRunAll(t, res)
}

// TestCorpusNormalisationCanFail checks that the comparison sees a change
// of meaning: a rendered object with one field changed differs.
func TestCorpusNormalisationCanFail(t *testing.T) {
	_, corpus := loadCorpus(t)
	for _, ex := range corpus {
		if ex.System != "argo" || ex.Name != "dag-diamond" {
			continue
		}
		changed := ex.Rendered.DeepCopy()
		tasks := changed.Object["spec"].(map[string]any)["templates"].([]any)[0].(map[string]any)["dag"].(map[string]any)["tasks"].([]any)
		tasks[3].(map[string]any)["depends"] = "B || C"
		diff := fieldDiff("", normalize("argo", ex.Upstream), normalize("argo", changed.Object))
		require.Equal(t, []string{`.spec.main[3].depends: upstream "B && C", trellis "B || C"`}, diff)
		return
	}
	t.Fatal("no argo/dag-diamond in the corpus")
}
