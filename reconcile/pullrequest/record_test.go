package pullrequest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// A check's lineage records: one per cluster, a dry run of the head with
// the plan's changes as objects; an invalid head's one record fails with
// the problems.
func TestPRCheckRecords(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	res := f.mustCheck(7, Options{})
	recs := res.Records()
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, lineage.SchemaVersion, rec.SchemaVersion)
	assert.Equal(t, lineage.DryRun, rec.Result)
	assert.Equal(t, pr.Head.SHA, rec.Source.Revision)
	assert.Equal(t, "refs/pull/7/head", rec.Source.Ref)
	assert.Equal(t, res.Clusters[0].Cluster, rec.Cluster)
	assert.True(t, strings.Contains(rec.RunID, "-pr7-"+rec.Cluster+"-"+pr.Head.SHA[:7]), rec.RunID)
	assert.NotEmpty(t, rec.Declarations)
	require.Len(t, rec.Objects, 1)
	assert.Equal(t, "InferenceService", rec.Objects[0].Kind)
	assert.Equal(t, reconcile.Created, rec.Objects[0].Action)
	assert.False(t, rec.Finished.Before(rec.Started))

	bad := strings.Replace(baseFiles["pipeline.yaml"], "  steps:", "  schedule: \"0 25 * * *\"\n  steps:", 1)
	f.push(7, with(map[string]string{"pipeline.yaml": bad}))
	res = f.mustCheck(7, Options{})
	recs = res.Records()
	require.Len(t, recs, 1)
	assert.Equal(t, lineage.Failed, recs[0].Result)
	require.NotEmpty(t, recs[0].Errors)
	assert.True(t, strings.HasPrefix(recs[0].Errors[0], "pipeline.yaml:8:13: "), recs[0].Errors[0])
}

// With Path, a check reads the config repo in that directory of the Git
// repository only, and reports positions relative to it.
func TestPRCheckPath(t *testing.T) {
	f := newFixture(t)
	f.openPR(7, with(map[string]string{
		"pipeline.yaml":          "kind: [broken", // outside the config repo: never read
		"platform/cluster.yaml":  baseFiles["cluster.yaml"],
		"platform/endpoint.yaml": strings.Replace(endpointFile(2), "max: 2", "max: 0", 1),
	}))
	res := f.mustCheck(7, Options{Path: "platform"})
	require.False(t, res.Valid())
	require.Len(t, res.Problems, 1, "%v", res.Problems)
	assert.Equal(t, "endpoint.yaml", res.Problems[0].Path, "relative to the config repo")

	f.push(7, with(map[string]string{
		"pipeline.yaml":          "kind: [broken",
		"platform/cluster.yaml":  baseFiles["cluster.yaml"],
		"platform/endpoint.yaml": endpointFile(2),
	}))
	res = f.mustCheck(7, Options{Path: "platform/"})
	require.True(t, res.Valid(), "%v", res.Problems)
	require.Len(t, res.Clusters, 1)
	assert.Contains(t, res.Body, "added <code>ml/inferenceservice.serving.kserve.io/iris</code>")

	_, err := f.check(7, Options{Path: "../elsewhere"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not inside the repository")
}
