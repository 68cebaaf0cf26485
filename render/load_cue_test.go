package render

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/schema"
)

// TestCUEImportsInsideRepo: a CUE package of the repo imports another one
// by the module path trellis lends a repo without cue.mod
// (trellis.local/config), and the schema; declarations sit in a struct and
// in a list.
func TestCUEImportsInsideRepo(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "lib", "defaults.cue"), `package lib

team: {cluster: "dev", namespace: "ml"}
image: "python:3.12-slim"
`)
	write(t, filepath.Join(dir, "platform", "cluster.cue"), `package platform

import "trellis.dev/schema"

dev: schema.#Cluster & {metadata: name: "dev", spec: namespaces: ml: {}}
`)
	write(t, filepath.Join(dir, "teams", "ml.cue"), `package teams

import (
	"trellis.dev/schema"
	"trellis.local/config/lib"
)

pipelines: [...schema.#Pipeline]
pipelines: [for n in ["a", "b"] {
	metadata: name: "train-" + n
	spec: lib.team & {steps: [{name: "run", image: lib.image}]}
}]
`)
	repo, err := Load(t.Context(), dir, Limits{})
	require.NoError(t, err, Problems(err, dir, nil))
	var names []string
	for _, d := range repo.Declarations {
		names = append(names, d.Kind+"/"+d.Name+"@"+d.Path)
	}
	assert.Equal(t, []string{
		schema.KindCluster + "/dev@platform/cluster.cue",
		schema.KindPipeline + "/train-a@teams/ml.cue",
		schema.KindPipeline + "/train-b@teams/ml.cue",
	}, names)
}

// TestCUEOwnModule: a repo with its own cue.mod imports its packages by
// its own module path.
func TestCUEOwnModule(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cue.mod", "module.cue"), "module: \"example.com/platform\"\nlanguage: version: \"v0.12.0\"\n")
	write(t, filepath.Join(dir, "lib", "lib.cue"), "package lib\n\nname: \"dev\"\n")
	write(t, filepath.Join(dir, "c.cue"), `package c

import (
	"trellis.dev/schema"
	"example.com/platform/lib"
)

cluster: schema.#Cluster & {metadata: name: lib.name}
`)
	repo, err := Load(t.Context(), dir, Limits{})
	require.NoError(t, err, Problems(err, dir, nil))
	require.Len(t, repo.Declarations, 1)
	assert.Equal(t, "dev", repo.Declarations[0].Name)
}
