package main

// Tests of `trellis diff` against the real control plane of main_test.go:
// the small repo in testdata/diff/repo (a Cluster and an Endpoint) is
// diffed before it is applied, after, and after a hand edit, and the
// output is pinned by golden files in testdata/diff (UPDATE=1 rewrites
// them).

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/controlplane"
)

// diffRepoNamespace is the namespace testdata/diff/repo declares.
const diffRepoNamespace = "diff-demo"

// diffCase is where the diff tests run and what they pass.
type diffCase struct {
	dir          string // testdata/diff, absolute
	kubeconfig   string
	placeholders map[string]string
}

func newDiffCase(t *testing.T) diffCase {
	cp := needControlPlane(t)
	dir := absolute(t, filepath.Join("testdata", "diff"))
	return diffCase{
		dir:          dir,
		kubeconfig:   cp.KubeconfigPath(),
		placeholders: map[string]string{"$TESTDATA": dir, "$KUBECONFIG": cp.KubeconfigPath()},
	}
}

// run runs `trellis diff repo --kubeconfig K --context trellis-test
// --source-id diff-test --revision R extra...` in dc.dir.
func (dc diffCase) run(t *testing.T, extra ...string) cliResult {
	t.Helper()
	args := append([]string{"diff", "repo", "--kubeconfig", dc.kubeconfig, "--context", controlplane.DefaultContextName,
		"--source-id", diffSourceID, "--revision", pinnedRevision}, extra...)
	return runCLI(t, dc.dir, args, dc.placeholders)
}

// golden pins r in testdata/diff/<name>.golden.
func (dc diffCase) golden(t *testing.T, name string, r cliResult, extra ...string) {
	t.Helper()
	comment := strings.Join(append([]string{"trellis diff repo --kubeconfig $KUBECONFIG --context trellis-test --source-id diff-test --revision", pinnedRevision}, extra...), " ")
	checkGolden(t, filepath.Join(dc.dir, name+".golden"), comment+"\n(in cmd/trellis/testdata/diff)", r)
}

// diffSourceID is the source id of the diff tests' applies and diffs: an
// inventory of their own.
const diffSourceID = "diff-test"

// diffApplyRepo applies what the repo renders with reconcile.Apply, as
// trellis apply --source-id diff-test does, and deletes it (and its
// inventory) when the test ends.
func diffApplyRepo(t *testing.T, c *reconcile.Client, dir string) {
	t.Helper()
	res, err := render.Dir(t.Context(), filepath.Join(dir, "repo"), render.Options{Revision: pinnedRevision})
	require.NoError(t, err)
	require.Len(t, res.Clusters, 1)
	cs, err := reconcile.Apply(context.Background(), c, res.Clusters[0], reconcile.Options{SourceID: diffSourceID, Revision: pinnedRevision})
	require.NoError(t, err)
	require.False(t, cs.Failed(), cs.Summary())
	t.Cleanup(func() {
		objs := res.Clusters[0].Objects
		for i := len(objs) - 1; i >= 0; i-- { // namespaced objects before their namespace
			if ri, _, err := c.Resource(objs[i].GroupVersionKind(), objs[i].GetNamespace()); err == nil {
				_ = ri.Delete(context.Background(), objs[i].GetName(), metav1.DeleteOptions{})
			}
		}
		if ri, _, err := c.Resource(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, reconcile.InventoryNamespace); err == nil {
			_ = ri.DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{
				LabelSelector: "cli-utils.sigs.k8s.io/inventory-id=" + reconcile.InventoryID(diffSourceID, "dev"),
			})
		}
	})
}

// diffEditQuota changes the repo's ResourceQuota by hand: another field
// manager, a plain update.
func diffEditQuota(t *testing.T, c *reconcile.Client) {
	t.Helper()
	ctx := context.Background()
	ri, _, err := c.Resource(schema.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"}, diffRepoNamespace)
	require.NoError(t, err)
	quota, err := ri.Get(ctx, "trellis-quota", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(quota.Object, "99", "spec", "hard", "pods"))
	_, err = ri.Update(ctx, quota, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)
}

// TestDiffCommand follows the repo from nothing to applied to edited.
func TestDiffCommand(t *testing.T) {
	dc := newDiffCase(t)
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)

	r := dc.run(t)
	assert.Equal(t, exitFailed, r.exit, "changes exit 1\n%s", r.stderr)
	dc.golden(t, "before-apply", r)

	diffApplyRepo(t, c, dc.dir)
	r = dc.run(t)
	assert.Equal(t, exitOK, r.exit, "no changes exit 0\n%s%s", r.stdout, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "cluster dev: no changes")
	dc.golden(t, "after-apply", r)

	diffEditQuota(t, c)
	r = dc.run(t)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, "-    pods: \"99\"\n+    pods: \"20\"\n")
	dc.golden(t, "hand-change", r)

	// -o json: the same change as a report, with the same exit status.
	r = dc.run(t, "-o", "json")
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	var report diffReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	require.Len(t, report.Clusters, 1)
	assert.True(t, report.Clusters[0].Changed)
	var quota *reconcile.ObjectDiff
	for i, d := range report.Clusters[0].Objects {
		if d.Ref.Kind == "ResourceQuota" {
			quota = &report.Clusters[0].Objects[i]
		}
	}
	require.NotNil(t, quota, "the quota is in the report")
	assert.Equal(t, reconcile.Configured, quota.Action)
	assert.Contains(t, quota.Unified, "-    pods: \"99\"\n+    pods: \"20\"\n")
	dc.golden(t, "hand-change-json", r, "-o", "json")

	r = dc.run(t, "--color=always")
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Contains(t, r.stdout, ansiRed+"-    pods: \"99\""+ansiReset+"\n")
	assert.Contains(t, r.stdout, ansiGreen+"+    pods: \"20\""+ansiReset+"\n")
	assert.Contains(t, r.stdout, ansiCyan+"@@ ")

	// $KUBECTL_EXTERNAL_DIFF shows the same change with the user's program,
	// given the live and the Git versions as directories of files named as
	// kubectl diff names them.
	t.Setenv(envExternalDiff, "diff -u -N -r")
	r = dc.run(t)
	assert.Equal(t, exitFailed, r.exit, r.stderr)
	assert.Regexp(t, `(?m)^--- .*/LIVE/core\.v1\.ResourceQuota\.diff-demo\.trellis-quota`, r.stdout)
	assert.Regexp(t, `(?m)^\+\+\+ .*/MERGED/core\.v1\.ResourceQuota\.diff-demo\.trellis-quota`, r.stdout)
	assert.Contains(t, r.stdout, "-    pods: \"99\"\n+    pods: \"20\"\n")
	assert.NotContains(t, r.stdout, "--- live/", "the built-in diff is not printed too")

	t.Setenv(envExternalDiff, "/nonexistent/differ")
	r = dc.run(t)
	assert.Equal(t, exitUnknown, r.exit, r.stderr)
	assert.Contains(t, r.stderr, "$KUBECTL_EXTERNAL_DIFF (/nonexistent/differ)")
}

func TestDiffCommandUnknownContext(t *testing.T) {
	dc := newDiffCase(t)
	r := dc.run(t, "--context", "nope")
	assert.Equal(t, exitUnknown, r.exit)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, `error: cluster dev: kube context "nope" (from --context) is not in the kubeconfig`)
}

func TestDiffCommandBadColor(t *testing.T) {
	r := runCLI(t, t.TempDir(), []string{"diff", "repo", "--color=sometimes"}, nil)
	assert.Equal(t, exitUsage, r.exit)
	assert.Contains(t, r.stderr, `--color must be auto, always or never, not "sometimes"`)
}

func TestDiffCommandNoArgs(t *testing.T) {
	r := runCLI(t, t.TempDir(), []string{"diff"}, nil)
	assert.Equal(t, exitUsage, r.exit)
}

// TestDiffCommandUnreachable points the kubeconfig at a closed loopback
// port: the diff fails at once with exit 3.
func TestDiffCommandUnreachable(t *testing.T) {
	dc := newDiffCase(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	data, err := os.ReadFile(dc.kubeconfig)
	require.NoError(t, err)
	host := cp.RESTConfig().Host
	require.Contains(t, string(data), host)
	dc.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(dc.kubeconfig, []byte(strings.ReplaceAll(string(data), host, "https://"+addr)), 0o600))

	begin := time.Now()
	r := dc.run(t)
	assert.Less(t, time.Since(begin), 10*time.Second, "an unreachable cluster fails quickly")
	assert.Equal(t, exitUnknown, r.exit, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "error: cluster dev (context trellis-test): ")
	assert.Contains(t, r.stderr, "connection refused")
}

func TestDiffCommandInvalidRepo(t *testing.T) {
	r := runCLI(t, absolute(t, invalidDir), []string{"diff", "bad-name", "--kubeconfig", "unused"}, nil)
	assert.Equal(t, exitUnknown, r.exit, "an invalid repo is an error, not a change")
	assert.Contains(t, r.stderr, "pipeline.yaml:")
}
