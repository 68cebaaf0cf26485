package render

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Renderer, in process or with its render child, renders each revision
// as a render from scratch does, byte for byte, loading again only what
// changed.
func TestRendererSameAsScratch(t *testing.T) {
	for _, isolated := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "isolated"}[isolated], func(t *testing.T) {
			var b Bounds
			if isolated {
				b.Isolation = &Isolation{}
			}
			r := NewRenderer(b)
			defer r.Close()
			dir := t.TempDir()
			files := writeScaleRepo(t, dir, 100, "yaml")
			revision := 0
			check := func() {
				t.Helper()
				revision++ // each render a new revision, as the daemon's
				rev := fmt.Sprintf("%040d", revision)
				want, err := Dir(t.Context(), dir, Options{Revision: rev})
				require.NoError(t, err)
				got, err := r.Dir(t.Context(), dir, Options{Revision: rev})
				require.NoError(t, err)
				assert.Equal(t, resultBytes(t, want), resultBytes(t, got))
			}
			fileStats := func() CacheStats { s := r.Stats(); return CacheStats{Hits: s.Hits, Misses: s.Misses} }
			check()
			assert.Equal(t, CacheStats{Misses: len(files) + 1}, fileStats())
			assert.Equal(t, 100, r.Stats().RenderMisses)
			check()
			assert.Equal(t, CacheStats{Hits: len(files) + 1, Misses: len(files) + 1}, fileStats())
			assert.Equal(t, 100, r.Stats().RenderHits, "every declaration rendered from the cache")

			changed := filepath.Join(dir, files[3])

			data, err := os.ReadFile(changed)
			require.NoError(t, err)
			write(t, changed, strings.Replace(string(data), "name: p-35}", "name: p-35b}", 1))
			check()
			assert.Equal(t, CacheStats{Hits: 2*len(files) + 1, Misses: len(files) + 2}, fileStats(), "the changed file, and only it, is loaded again")
			assert.Equal(t, 101, r.Stats().RenderMisses, "the changed declaration, and only it, is rendered again")

			// Changes of metadata only, of the Cluster, a new manifest:
			// each rendered (and, isolated, sent) as from scratch.
			for _, edit := range []struct{ file, old, new string }{
				{files[5], "metadata: {name: p-52}", "metadata: {name: p-52, labels: {team: x}, annotations: {note: y}}"},
				{files[5], "metadata: {name: p-52, labels: {team: x}, annotations: {note: y}}", "metadata: {name: p-52, labels: {team: z}}"},
				{"clusters.yaml", "gpu: {nodeSelector: {pool: gpu}}", "gpu: {nodeSelector: {pool: a100}}"},
				{"clusters.yaml", "team-3: {quota:", "team-3: {labels: {tier: gold}, quota:"},
			} {
				path := filepath.Join(dir, edit.file)
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				require.Contains(t, string(data), edit.old)
				write(t, path, strings.Replace(string(data), edit.old, edit.new, 1))
				check()
			}
			write(t, filepath.Join(dir, "manifests", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: team-1, annotations: {trellis.dev/cluster: alpha}}\ndata: {a: b}\n")
			check()
			check()

			// A broken revision is reported as Dir reports it.
			write(t, changed, strings.Replace(string(data), "name: p-35}", "name: P-35}", 1))
			_, wantErr := Dir(t.Context(), dir, Options{Revision: "r"})
			_, gotErr := r.Dir(t.Context(), dir, Options{Revision: "r"})
			require.Error(t, gotErr)
			assert.Equal(t, Problems(wantErr, dir, Explain()), Problems(gotErr, dir, Explain()))
		})
	}
}

// A render child killed at the render timeout is started again by the
// next render.
func TestRendererRestartsChild(t *testing.T) {
	r := NewRenderer(Bounds{Timeout: 2 * time.Second, Isolation: &Isolation{}})
	defer r.Close()
	_, err := r.Dir(t.Context(), expensiveRepo(t), Options{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrStopped), "%v", err)

	dir := t.TempDir()
	writeScaleRepo(t, dir, 10, "yaml")
	res, err := r.Dir(t.Context(), dir, Options{Revision: "r"})
	require.NoError(t, err)
	assert.Len(t, res.Declarations, 11)
}

// The examples (CUE, kustomizations, Helm charts, SOPS-less Secrets),
// rendered revision after revision with a Renderer's child, as from
// scratch; and at no revision at all.
func TestRendererExamplesSameAsScratch(t *testing.T) {
	r := NewRenderer(Bounds{Isolation: &Isolation{}})
	defer r.Close()
	examples := filepath.Join("..", "examples")
	for _, rev := range []string{"a", "b", "", "c"} {
		want, err := Dir(t.Context(), examples, Options{Revision: rev})
		require.NoError(t, err)
		got, err := r.Dir(t.Context(), examples, Options{Revision: rev})
		require.NoError(t, err)
		assert.Equal(t, resultBytes(t, want), resultBytes(t, got), "revision %q", rev)
	}
}
