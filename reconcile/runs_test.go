package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/render"
)

// TestRunsKept creates a pipeline's run once, never patches it, keeps it
// when the pipeline changes and a new run is rendered, and deletes the
// runs beyond keep-runs (2 in testdata/repo).
func TestRunsKept(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	repo := repoFrom(t, "repo", base)
	opts := Options{SourceID: base}
	run1 := runOf(t, applyRepo(t, c, repo, "r1", opts))

	// A run is never patched: a hand edit survives, and it is unchanged.
	live := get(t, c, run1)
	live.SetLabels(map[string]string{"edited": "by-hand", render.LabelRunOf: "pipeline-train"})
	_, err := c.Dynamic.Resource(gvrOf(t, c, run1)).Namespace(run1.GetNamespace()).Update(context.Background(), live, metav1.UpdateOptions{})
	require.NoError(t, err)
	cl := renderRepo(t, repo, "r1")
	cs := applyOK(t, c, cl, opts)
	assert.Equal(t, len(cl.Objects), cs.Count(Unchanged), cs.Summary())
	assert.Equal(t, "by-hand", get(t, c, run1).GetLabels()["edited"])

	setEpochs(t, repo, "2")
	run2 := runOf(t, applyRepo(t, c, repo, "r2", opts))
	require.NotEqual(t, run1.GetName(), run2.GetName())
	get(t, c, run1) // not pruned with its template's change

	setEpochs(t, repo, "3")
	cl = renderRepo(t, repo, "r3")
	cs = applyOK(t, c, cl, opts)
	run3 := runOf(t, cl)
	assert.Equal(t, []string{
		run3.GetNamespace() + "/workflowtemplate.argoproj.io/train configured",
		run3.GetNamespace() + "/workflow.argoproj.io/" + run3.GetName() + " created",
		run1.GetNamespace() + "/workflow.argoproj.io/" + run1.GetName() + " pruned: older than the last 2 runs",
	}, changesExcept(cs, Unchanged))
	assertGone(t, c, run1)
	get(t, c, run2)
	inv := inventoryOf(t, c, base, "test")
	assert.Contains(t, inv, idOf(run2).String())
	assert.NotContains(t, inv, idOf(run1).String())
}

// TestRunsNotPrunedWithTemplate removes a pipeline: its template is
// pruned, its runs stay.
func TestRunsNotPrunedWithTemplate(t *testing.T) {
	base := cp.Namespace(t)
	c := newClient(t)
	repo := repoFrom(t, "repo", base)
	opts := Options{SourceID: base}
	run := runOf(t, applyRepo(t, c, repo, "r1", opts))

	require.NoError(t, os.Remove(filepath.Join(repo, "pipeline.yaml")))
	cs := applyOK(t, c, renderRepo(t, repo, "r2"), opts)
	assert.Equal(t, []string{base + "-a/workflowtemplate.argoproj.io/train pruned"}, changesExcept(cs, Unchanged))
	get(t, c, run)
	assert.Contains(t, inventoryOf(t, c, base, "test"), idOf(run).String())
}

func applyRepo(t *testing.T, c *Client, repo, revision string, opts Options) render.Cluster {
	t.Helper()
	cl := renderRepo(t, repo, revision)
	applyOK(t, c, cl, opts)
	return cl
}

// runOf returns the Workflow run of cl.
func runOf(t *testing.T, cl render.Cluster) *unstructured.Unstructured {
	t.Helper()
	for _, o := range cl.Objects {
		if o.GetKind() == "Workflow" && IsRun(o) {
			return o
		}
	}
	t.Fatal("no Workflow run is rendered")
	return nil
}

// setEpochs changes the pipeline's epochs parameter, which renders a new
// run.
func setEpochs(t *testing.T, repo, epochs string) {
	t.Helper()
	path := filepath.Join(repo, "pipeline.yaml")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "epochs:") {
			lines[i] = "    epochs: " + epochs
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
}
