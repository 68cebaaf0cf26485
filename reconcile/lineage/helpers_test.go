package lineage

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/test/gitserver"
)

// t0 is the start of the first test run.
var t0 = time.Date(2026, 11, 26, 18, 15, 0, 0, time.UTC)

// testRecord is a record of run i, started i minutes after t0.
func testRecord(i int, cluster string) Record {
	rev := fmt.Sprintf("%040x", 0xab12cd3+i)
	started := t0.Add(time.Duration(i) * time.Minute)
	return Record{
		SchemaVersion: SchemaVersion,
		RunID:         RunID(started, cluster, rev),
		Source:        Source{URL: "https://example.com/platform.git", Ref: "main", Revision: rev, Author: "Ada <ada@example.com>", Message: "train iris"},
		Cluster:       cluster,
		Started:       started,
		Finished:      started.Add(30 * time.Second),
		Result:        Succeeded,
		Declarations:  []Declaration{{Kind: "Pipeline", Name: "train-iris", Path: "pipelines/iris.cue", Hash: "sha256:aa"}},
		Objects: []Object{{Group: "argoproj.io", Version: "v1alpha1", Kind: "WorkflowTemplate", Namespace: "ml", Name: "train-iris",
			Action: reconcile.Configured, Hash: "sha256:bb"}},
	}
}

// branchRepo clones the branch of url into memory.
func branchRepo(t *testing.T, srv *gitserver.Server, url, branch string) (*git.Repository, *object.Commit) {
	t.Helper()
	repo, err := git.Clone(memory.NewStorage(), nil, &git.CloneOptions{
		URL: url, Auth: srv.Auth(), ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true,
	})
	require.NoError(t, err, "clone %s", branch)
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	require.NoError(t, err)
	tip, err := repo.CommitObject(ref.Hash())
	require.NoError(t, err)
	return repo, tip
}

// gitCmd runs the git CLI in dir with a fixed identity and no user
// configuration, and returns its trimmed output.
func gitCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=racer", "GIT_AUTHOR_EMAIL=racer@example.com",
		"GIT_COMMITTER_NAME=racer", "GIT_COMMITTER_EMAIL=racer@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %v: %w: %s", args, err, out)
	}
	return string(trimNewline(out)), nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// followFixture reads ../mlkind/testdata/follow/<name>.yaml, the status
// shapes mlkind is tested with, as the cluster would return it (JSON
// numbers as int64).
func followFixture(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "mlkind", "testdata", "follow", name+".yaml"))
	require.NoError(t, err)
	js, err := yaml.YAMLToJSON(data)
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, obj.UnmarshalJSON(js))
	return obj
}

func at(s string) *time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &tm
}
