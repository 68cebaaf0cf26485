package render

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resultBytes is everything a render gives, as bytes.
func resultBytes(t *testing.T, res *Result) string {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	out := string(b)
	for _, c := range res.Clusters {
		out += objectsYAML(t, c)
	}
	return out
}

// renderBoth renders dir from scratch and with cache, and checks that
// they give the same bytes (or the same problems).
func renderBoth(t *testing.T, dir string, cache *Cache) string {
	t.Helper()
	want, wantErr := Dir(t.Context(), dir, Options{Revision: "r"})
	got, gotErr := Dir(t.Context(), dir, Options{Revision: "r", Cache: cache})
	if wantErr != nil {
		require.Error(t, gotErr)
		assert.Equal(t, Problems(wantErr, dir, Explain()), Problems(gotErr, dir, Explain()))
		return ""
	}
	require.NoError(t, gotErr, "%v", Problems(gotErr, dir, nil))
	w := resultBytes(t, want)
	assert.Equal(t, w, resultBytes(t, got))
	return w
}

// A render with a cache is the render without one, byte for byte: the
// first time (the cache empty) and the next (every file from it), for the
// examples (YAML, JSON, CUE, kustomizations, Helm charts).
func TestCacheSameAsScratchExamples(t *testing.T) {
	examples := filepath.Join("..", "examples")
	cache := NewCache()
	renderBoth(t, examples, cache)
	first := cache.Stats()
	assert.Zero(t, first.Hits)
	assert.NotZero(t, first.Misses)
	renderBoth(t, examples, cache)
	second := cache.Stats()
	assert.Equal(t, first.Misses, second.Misses, "nothing changed: nothing parsed again")
	assert.Equal(t, first.Misses, second.Hits)
}

// A changed file is read and loaded again, and only it: YAML and CUE.
func TestCacheRereadsChangedFile(t *testing.T) {
	for _, format := range []string{"yaml", "cue"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			files := writeScaleRepo(t, dir, 100, format)
			cache := NewCache()
			renderBoth(t, dir, cache)
			before := cache.Stats()

			// p-42 moves to another namespace.
			changed := filepath.Join(dir, files[4])
			data, err := os.ReadFile(changed)
			require.NoError(t, err)
			old := map[string]string{"yaml": "metadata: {name: p-42}\nspec:\n  cluster: alpha\n  namespace: team-2", "cue": "\"p-42\"\n\tspec: {\n\t\tcluster:   \"alpha\"\n\t\tnamespace: \"team-2\""}[format]
			require.Contains(t, string(data), old)
			write(t, changed, strings.Replace(string(data), old, strings.Replace(old, "team-2", "team-7", 1), 1))

			out := renderBoth(t, dir, cache)
			assert.Contains(t, out, `"trellis.dev/declaration":"Pipeline/p-42"`)
			after := cache.Stats()
			assert.Equal(t, before.Misses+1, after.Misses, "only the changed file (or package) is loaded again")
			assert.Contains(t, out, "team-7")
		})
	}
}

// A change that breaks the repo is reported as without a cache, with the
// positions of declarations that come from the cache.
func TestCacheProblemsSameAsScratch(t *testing.T) {
	dir := t.TempDir()
	files := writeScaleRepo(t, dir, 100, "yaml")
	cache := NewCache()
	renderBoth(t, dir, cache)

	// A second p-3, in another file: the duplicate's first declaration
	// comes from the cache.
	changed := filepath.Join(dir, files[7])
	data, err := os.ReadFile(changed)
	require.NoError(t, err)
	write(t, changed, strings.Replace(string(data), "name: p-71}", "name: p-3}", 1))
	renderBoth(t, dir, cache)
	_, err = Dir(t.Context(), dir, Options{Revision: "r", Cache: cache})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "first declared at decls/g000/p00000.yaml:")

	// Fixed again: the broken file was not kept, the render is clean.
	write(t, changed, string(data))
	renderBoth(t, dir, cache)
}

// The checks of a declaration that passed are kept only while neither it
// nor its Cluster changes: a Cluster that loses the node pool, or the
// quota, that unchanged pipelines need fails them, with their positions.
func TestCacheChecksFollowTheCluster(t *testing.T) {
	dir := t.TempDir()
	writeScaleRepo(t, dir, 100, "yaml")
	cache := NewCache()
	renderBoth(t, dir, cache)
	clusters := filepath.Join(dir, "clusters.yaml")
	data, err := os.ReadFile(clusters)
	require.NoError(t, err)
	for _, broken := range []struct{ old, new, want string }{
		{"gpu: {nodeSelector: {pool: gpu}}", "cpu: {nodeSelector: {pool: cpu}}", `decls/g000/p00000.yaml:14:7: spec.steps[1].nodePool: node pool "gpu" is not declared by Cluster "alpha"`},
		{"team-0: {quota: {cpu: 100000", "team-0: {quota: {cpu: 2", `decls/g000/p00000.yaml:15:19: spec.steps[1].resources.cpu: requests 4 cpu, over the quota of 2`},
	} {
		require.Contains(t, string(data), broken.old)
		write(t, clusters, strings.Replace(string(data), broken.old, broken.new, 1))
		renderBoth(t, dir, cache)
		_, err = Dir(t.Context(), dir, Options{Revision: "r", Cache: cache})
		require.Error(t, err)
		assert.Contains(t, fmt.Sprint(Problems(err, dir, nil)), broken.want)
		write(t, clusters, string(data))
		renderBoth(t, dir, cache)
	}
}

// A CUE package is loaded again when a package it imports changed,
// though its own files did not.
func TestCacheCUEImports(t *testing.T) {
	dir := t.TempDir()
	writeScaleRepo(t, dir, 10, "yaml")
	write(t, filepath.Join(dir, "lib", "lib.cue"), "package lib\n\nns: \"team-1\"\n")
	write(t, filepath.Join(dir, "team", "p.cue"), `package team

import "trellis.local/config/lib"

p: {
	apiVersion: "trellis.dev/v1alpha1"
	kind:       "Pipeline"
	metadata: name: "imported"
	spec: {
		cluster:   "alpha"
		namespace: lib.ns
		steps: [{name: "a", image: "busybox"}]
	}
}
`)
	cache := NewCache()
	renderBoth(t, dir, cache)
	renderBoth(t, dir, cache)
	write(t, filepath.Join(dir, "lib", "lib.cue"), "package lib\n\nns: \"team-2\"\n")
	out := renderBoth(t, dir, cache)
	assert.True(t, strings.Contains(out, `"name":"imported","cluster":"alpha","namespace":"team-2","path":"team/p.cue"`), "the importing package is loaded again")
}
