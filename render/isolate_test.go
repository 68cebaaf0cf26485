package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// An isolated render gives what an in-process one gives: the objects, the
// declarations, the problems (explained) and the Secret values of an
// invalid repo.
func TestDirIsolatedSameAsDir(t *testing.T) {
	examples := filepath.Join("..", "examples")
	want, err := Dir(t.Context(), examples, Options{Revision: "r"})
	require.NoError(t, err)
	got, err := DirIsolated(t.Context(), examples, Options{Revision: "r"}, Isolation{})
	require.NoError(t, err)
	require.Len(t, got.Declarations, len(want.Declarations))
	for i, d := range want.Declarations {
		d.origin, d.spec, d.pkgDir, d.sum = got.Declarations[i].origin, got.Declarations[i].spec, got.Declarations[i].pkgDir, got.Declarations[i].sum // not carried, not needed once rendered
		assert.Equal(t, d, got.Declarations[i])
	}
	assert.Equal(t, want.Manifests, got.Manifests)
	require.Len(t, got.Clusters, len(want.Clusters))
	for i := range want.Clusters {
		assert.Equal(t, want.Clusters[i].Name, got.Clusters[i].Name)
		assert.Equal(t, want.Clusters[i].Spec, got.Clusters[i].Spec)
		assert.Equal(t, objectsYAML(t, want.Clusters[i]), objectsYAML(t, got.Clusters[i]))
	}

	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	write(t, filepath.Join(repo, "clusters/dev/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ml}\nstringData: {token: "+canary+"}\n")
	write(t, filepath.Join(repo, "bad.yaml"), "apiVersion: trellis.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: Bad}\n")
	_, wantErr := Dir(t.Context(), repo, Options{})
	_, gotErr := DirIsolated(t.Context(), repo, Options{}, Isolation{})
	require.Error(t, gotErr)
	assert.Equal(t, Problems(wantErr, repo, Explain()), Problems(gotErr, repo, Explain()))
	assert.Contains(t, SecretValues(gotErr), canary)
	assert.ElementsMatch(t, SecretValues(wantErr), SecretValues(gotErr))
}

func objectsYAML(t *testing.T, c Cluster) string {
	t.Helper()
	var out string
	for _, o := range c.Objects {
		b, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		out += "---\n" + string(b)
	}
	return out
}

// expensiveRepo holds a CUE evaluation that takes hours and gigabytes.
func expensiveRepo(t *testing.T) string {
	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	write(t, filepath.Join(repo, "teams/slow.cue"), "package teams\n\nimport \"list\"\n\nn: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n")
	return repo
}

// An isolated render that passes its time is killed: it returns with the
// timeout's cause, and nothing of it keeps running.
func TestDirIsolatedTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(t.Context(), 2*time.Second, errors.New("it took longer than the render timeout of 2s"))
	defer cancel()
	_, err := DirIsolated(ctx, expensiveRepo(t), Options{}, Isolation{})
	require.ErrorIs(t, err, ErrStopped)
	assert.EqualError(t, err, "render stopped: it took longer than the render timeout of 2s")
}

// An isolated render that passes its memory limit ends, and says so.
func TestDirIsolatedMemoryLimit(t *testing.T) {
	_, err := DirIsolated(t.Context(), expensiveRepo(t), Options{}, Isolation{MemoryBytes: 128 << 20})
	require.ErrorIs(t, err, ErrStopped)
	assert.EqualError(t, err, "render stopped: it used more than 128 MiB of memory, the limit for one render")
}

// writeResponse writes what json.Encoder would, the objects' JSON made
// as it goes.
func TestWriteResponseAsEncoder(t *testing.T) {
	res, err := Dir(t.Context(), "../examples", Options{Revision: "0123456789abcdef0123456789abcdef01234567"})
	require.NoError(t, err)
	segments, err := newWireEncoder().encode(res)
	require.NoError(t, err)
	for _, resp := range []isolatedResponse{
		{Result: res, Objects: segments, Cache: &CacheStats{RenderHits: 3}},
		{Result: res},
		{Problems: []Problem{{Path: "a.yaml", Line: 1, Column: 2, Message: "<bad> & \"worse\""}}},
		{},
	} {
		var got bytes.Buffer
		require.NoError(t, writeResponse(&got, resp))
		want := resp
		want.Objects = nil
		for _, segs := range resp.Objects {
			var with []wireSegment
			for _, seg := range segs {
				if seg.obj != nil {
					seg.JSON, err = json.Marshal(seg.obj)
					require.NoError(t, err)
				}
				with = append(with, seg)
			}
			want.Objects = append(want.Objects, with)
		}
		var encoded bytes.Buffer
		require.NoError(t, json.NewEncoder(&encoded).Encode(want))
		require.Equal(t, encoded.String(), got.String())
	}
	require.NotEmpty(t, segments)
}
