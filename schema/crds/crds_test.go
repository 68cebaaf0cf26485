package crds

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVendoredFilesAreUpstream checks that every vendored file, uncompressed,
// is byte for byte the upstream file whose SHA-256 Upstream records.
func TestVendoredFilesAreUpstream(t *testing.T) {
	for _, src := range Upstream {
		t.Run(src.File, func(t *testing.T) {
			data, err := Read(src.File)
			require.NoError(t, err)
			sum := sha256.Sum256(data)
			assert.Equal(t, src.SHA256, hex.EncodeToString(sum[:]),
				"%s differs from %s/%s at %s", src.File, src.Repo, src.Path, src.Commit)
		})
	}
}

// TestEveryFileIsListed checks that no file is embedded without provenance.
func TestEveryFileIsListed(t *testing.T) {
	entries, err := fs.ReadDir(files, ".")
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, src := range Upstream {
		listed[src.File+".gz"] = true
	}
	var embedded []string
	for _, e := range entries {
		embedded = append(embedded, e.Name())
		assert.True(t, listed[e.Name()], "%s is embedded but not in Upstream", e.Name())
	}
	assert.Len(t, embedded, len(Upstream))
}

// TestReadmeTable checks that README.md's table says what Upstream says.
func TestReadmeTable(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `([^`]+)\\.gz` \\| ([^ ]+) \\| `([^`]+)` \\| `([^`]+)` \\| `([0-9a-f]{64})` \\|$")
	var got []Source
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		got = append(got, Source{File: m[1], Repo: m[2], Path: m[3], Commit: m[4], SHA256: m[5]})
	}
	assert.Equal(t, Upstream, got, "README.md's table and Upstream disagree")
}

func TestRead(t *testing.T) {
	data, err := Read("kubeflow.org_experiments.yaml")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(data), "kind: CustomResourceDefinition"))
	_, err = Read("nothing.yaml")
	assert.ErrorContains(t, err, "vendored CRD nothing.yaml")
}
