package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/test/githubapi"
)

// mergedRev is the merge commit of pull request 7 in the summary tests.
var mergedRev = strings.Repeat("4", 40)

// newMergedAPI is a GitHub API with pull request 7 merged as mergedRev.
func newMergedAPI(t *testing.T) (*githubapi.Server, *GitHub) {
	t.Helper()
	api, gh := newGitHubAPI(t, 0, rootURL)
	api.AddPullRequest(testRepo, githubapi.PullRequest{Number: 7, Title: "Add iris", State: "closed", Merged: true, MergeCommitSHA: mergedRev,
		Base: githubapi.Branch{Ref: "main", SHA: strings.Repeat("1", 40), Repo: testRepo},
		Head: githubapi.Branch{Ref: "iris", SHA: strings.Repeat("2", 40), Repo: testRepo}})
	return api, gh
}

// summaryEvent is one record Summaries handled.
type summaryEvent struct {
	rec lineage.Record
	err error
}

// startSummaries runs Summaries until the test ends; the records it
// handled come on the channel.
func startSummaries(t *testing.T, gh *GitHub, o SummaryOptions) (*Summaries, <-chan summaryEvent) {
	t.Helper()
	events := make(chan summaryEvent, 10000)
	o.GitHub, o.Log = gh, quietLog()
	o.Done = func(rec lineage.Record, err error) {
		select {
		case events <- summaryEvent{rec, err}:
		default:
		}
	}
	s, err := NewSummaries(o)
	require.NoError(t, err)
	runInBackground(t, s.Run)
	return s, events
}

// nextSummary waits for the next record Summaries handled.
func nextSummary(t *testing.T, events <-chan summaryEvent) summaryEvent {
	t.Helper()
	return next(t, events, "record handled")
}

// appliedRecord is the record of cluster's run of rev: objects applied,
// a pipeline run with its outputs, an endpoint pinned to its model.
func appliedRecord(cluster, rev string) lineage.Record {
	started := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	finished := started.Add(95 * time.Second)
	run := "train-3f9a1c2"
	return lineage.Record{
		SchemaVersion: lineage.SchemaVersion,
		RunID:         lineage.RunID(started, cluster, rev),
		Source:        lineage.Source{URL: "https://github.com/acme/platform.git", Ref: "main", Revision: rev, Author: "Ada <ada@example.com>", Message: "Add iris (#7)"},
		Cluster:       cluster, Started: started, Finished: finished, Result: lineage.Succeeded,
		Objects: []lineage.Object{
			{Version: "v1", Kind: "Namespace", Name: "ml", Action: reconcile.Unchanged},
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "WorkflowTemplate", Namespace: "ml", Name: "train", Action: reconcile.Configured},
			{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: "ml", Name: "iris", Action: reconcile.Created},
			{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow", Namespace: "ml", Name: run, Action: reconcile.Created},
		},
		Followed: []lineage.Followed{
			{Kind: "Workflow", Namespace: "ml", Name: run, RunOf: "pipeline-train", Phase: "Succeeded", Started: &started, Finished: &finished,
				Outputs: []lineage.Output{
					{Step: "train", Kind: lineage.OutputArtifact, Name: "model", Value: "s3://models/iris/" + run + "/model.joblib"},
					{Step: "train", Kind: lineage.OutputParameter, Name: "accuracy", Value: "0.97"},
				}},
			{Kind: "InferenceService", Namespace: "ml", Name: "iris", Phase: "Ready",
				URL: "http://iris.ml.example.com", ModelURI: "s3://models/iris/" + run + "/model.joblib"},
		},
		Pins: []lineage.Pin{{Namespace: "ml", Endpoint: "iris", Pipeline: "train", Step: "train", Artifact: "model", Run: run,
			URI: "s3://models/iris/" + run + "/model.joblib"}},
	}
}

// Two clusters' runs of a merged revision make one comment on its pull
// request, with a section per cluster by name; a later run of the same
// revision (a drift correction) changes nothing and asks GitHub nothing.
func TestSummariesTwoClustersOneComment(t *testing.T) {
	api, gh := newMergedAPI(t)
	s, events := startSummaries(t, gh, SummaryOptions{})

	prod := appliedRecord("prod", mergedRev)
	prod.Result = lineage.Failed
	prod.Errors = []string{"InferenceService.serving.kserve.io \"iris\" is invalid: spec.predictor.minReplicas: Invalid value: -1"}
	prod.Objects[2].Action, prod.Objects[2].Reason = reconcile.Failed, "admission webhook denied the request"
	prod.Followed, prod.Pins = prod.Followed[:1], nil
	s.Record(context.Background(), prod)
	require.NoError(t, nextSummary(t, events).err)
	comments := api.Comments(testRepo, 7)
	require.Len(t, comments, 1)
	assert.True(t, strings.HasPrefix(comments[0].Body, AppliedMarker(mergedRev)+"\n"))
	assert.Contains(t, comments[0].Body, "### ❌ Cluster <code>prod</code>: failed")

	s.Record(context.Background(), appliedRecord("dev", mergedRev))
	require.NoError(t, nextSummary(t, events).err)
	comments = api.Comments(testRepo, 7)
	require.Len(t, comments, 1, "one comment for the revision, updated")
	body := comments[0].Body
	assert.Contains(t, body, "2 clusters applied it")
	assert.Less(t, strings.Index(body, "Cluster <code>dev</code>"), strings.Index(body, "Cluster <code>prod</code>"), "sorted by cluster")
	assert.Contains(t, body, "Objects: 3 changed (2 created, 1 configured), 1 unchanged.")
	assert.Contains(t, body, "```mermaid\nflowchart LR\n", "the lineage graph, drawn by GitHub")
	assert.Contains(t, body, "n2 -->|\"serves, pinned by run 20240301T100000.000Z-dev-4444444\"| n3", "model to endpoint")
	assert.Contains(t, body, "artifact <code>train/model</code>: <code>s3://models/iris/train-3f9a1c2/model.joblib</code>")
	assert.NotContains(t, body, "accuracy", "a Workflow's parameters are left to the lineage record")
	checkGolden(t, "applied", body)

	asked := len(api.Requests())
	drift := appliedRecord("dev", mergedRev)
	drift.Result, drift.RunID, drift.Followed, drift.Pins = lineage.NoOp, "20240301T110000Z-dev-4444444", nil, nil
	s.Record(context.Background(), drift)
	require.NoError(t, nextSummary(t, events).err)
	assert.Len(t, api.Requests(), asked, "a drift correction of the revision asks GitHub nothing")
	assert.Equal(t, body, api.Comments(testRepo, 7)[0].Body)

	fixed := appliedRecord("prod", mergedRev)
	fixed.RunID = "20240301T100500Z-prod-4444444"
	s.Record(context.Background(), fixed)
	require.NoError(t, nextSummary(t, events).err)
	body = api.Comments(testRepo, 7)[0].Body
	assert.Contains(t, body, "### ✅ Cluster <code>prod</code>: succeeded", "the retry of a failed run replaces it")
	assert.Contains(t, body, "<code>20240301T100500Z-prod-4444444</code>")
	assert.Len(t, api.Comments(testRepo, 7), 1)
}

// A revision whose pull request is not merged, or that has none, gets no
// comment.
func TestSummariesPostNothingWithoutAMergedPullRequest(t *testing.T) {
	api, gh := newMergedAPI(t)
	openHead := strings.Repeat("5", 40)
	api.AddPullRequest(testRepo, githubapi.PullRequest{Number: 8, Title: "Open",
		Base: githubapi.Branch{Ref: "main", SHA: strings.Repeat("1", 40), Repo: testRepo},
		Head: githubapi.Branch{Ref: "wip", SHA: openHead, Repo: testRepo}})
	s, events := startSummaries(t, gh, SummaryOptions{})

	s.Record(context.Background(), appliedRecord("dev", openHead))
	require.NoError(t, nextSummary(t, events).err)
	s.Record(context.Background(), appliedRecord("dev", strings.Repeat("6", 40)))
	require.NoError(t, nextSummary(t, events).err)
	s.Record(context.Background(), appliedRecord("dev", ""))
	require.NoError(t, nextSummary(t, events).err)

	assert.Empty(t, api.Comments(testRepo, 8))
	assert.Empty(t, api.Comments(testRepo, 7))
	for _, r := range api.Requests() {
		assert.Equal(t, http.MethodGet, r.Method, "%s", r)
	}
}

// A Secret's value that leaked into a record's free text is hidden by
// the redaction patterns, in the comment and in every request.
func TestSummariesRedactSecrets(t *testing.T) {
	const canary = "CANARY-7d1e-93ab"
	api, gh := newMergedAPI(t)
	s, events := startSummaries(t, gh, SummaryOptions{})

	rec := appliedRecord("dev", mergedRev)
	rec.Result = lineage.Failed
	rec.Errors = []string{"Secret/ml/db: apply: stringData.password: password=" + canary + " is not valid"}
	rec.Objects[0].Reason = "token: " + canary
	rec.Objects[0].Action = reconcile.Failed
	rec.Followed[0].Message = "step failed: connecting to postgres://app:" + canary + "@db:5432/app"
	rec.Followed[1].URL = "https://admin:" + canary + "@iris.ml.example.com"
	s.Record(context.Background(), rec)
	require.NoError(t, nextSummary(t, events).err)

	comments := api.Comments(testRepo, 7)
	require.Len(t, comments, 1)
	assert.NotContains(t, comments[0].Body, canary)
	assert.Contains(t, comments[0].Body, "stringData.password: &lt;redacted&gt; is not valid")
	for _, r := range api.Requests() {
		assert.NotContains(t, r.Body, canary, "%s", r)
	}
}

// GitHub's rate limit holds the summaries' goroutine, never a caller of
// Record.
func TestSummariesRateLimitDoesNotBlockRecord(t *testing.T) {
	api, gh := newMergedAPI(t)
	api.SecondaryRateLimit(1, http.MethodGet, "/repos/"+testRepo+"/commits/"+mergedRev+"/pulls", http.StatusTooManyRequests, "600")
	s, _ := startSummaries(t, gh, SummaryOptions{})
	s.Record(context.Background(), appliedRecord("dev", mergedRev))
	require.Eventually(t, func() bool { return rateLimited(api) }, time.Minute, time.Millisecond)

	returned := make(chan struct{})
	go func() {
		for range 2 * maxQueuedRecords {
			s.Record(context.Background(), appliedRecord("prod", mergedRev))
		}
		close(returned)
	}()
	require.Eventually(t, func() bool {
		select {
		case <-returned:
			return true
		default:
			return false
		}
	}, time.Minute, time.Millisecond, "Record waited for the rate limit")
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Len(t, s.queue, maxQueuedRecords, "the queue is bounded")
}

// A summary GitHub refuses is tried a bounded number of times, with a
// backoff that doubles, then given up and logged; the next record of
// the revision tries again.
func TestSummariesRetryBoundedly(t *testing.T) {
	api, gh := newMergedAPI(t)
	api.SetReadOnly(true)
	var mu sync.Mutex
	var waits []time.Duration
	s, events := startSummaries(t, gh, SummaryOptions{Attempts: 3, Backoff: time.Second})
	s.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}

	rec := appliedRecord("dev", mergedRev)
	s.Record(context.Background(), rec)
	ev := nextSummary(t, events)
	require.Error(t, ev.err)
	assert.Contains(t, ev.err.Error(), "acme/platform#7: create comment: ")
	assert.Contains(t, ev.err.Error(), "403 Resource not accessible by integration")
	mu.Lock()
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, waits)
	mu.Unlock()
	assert.Equal(t, 3, countRequests(api, http.MethodPost, "/repos/"+testRepo+"/issues/7/comments"))

	api.SetReadOnly(false)
	drift := rec
	drift.Result = lineage.NoOp
	s.Record(context.Background(), drift)
	require.NoError(t, nextSummary(t, events).err)
	comments := api.Comments(testRepo, 7)
	require.Len(t, comments, 1)
	assert.Contains(t, comments[0].Body, "### ✅ Cluster <code>dev</code>: succeeded", "the first run of the revision is the one shown")
}

// A daemon restarted adds to the summary it posted before, and does not
// replace a cluster's run with a later one of the same revision.
func TestSummariesAddToTheCommentOfAnEarlierProcess(t *testing.T) {
	api, gh := newMergedAPI(t)
	first, events := startSummaries(t, gh, SummaryOptions{})
	first.Record(context.Background(), appliedRecord("dev", mergedRev))
	require.NoError(t, nextSummary(t, events).err)
	before := api.Comments(testRepo, 7)[0].Body

	second, events := startSummaries(t, gh, SummaryOptions{})
	again := appliedRecord("dev", mergedRev)
	again.Result, again.RunID = lineage.NoOp, "20240301T120000Z-dev-4444444"
	second.Record(context.Background(), again)
	require.NoError(t, nextSummary(t, events).err)
	assert.Equal(t, before, api.Comments(testRepo, 7)[0].Body)

	second.Record(context.Background(), appliedRecord("staging", mergedRev))
	require.NoError(t, nextSummary(t, events).err)
	comments := api.Comments(testRepo, 7)
	require.Len(t, comments, 1)
	assert.Contains(t, comments[0].Body, "2 clusters applied it")
	assert.Contains(t, comments[0].Body, "Cluster <code>staging</code>")
	assert.NotContains(t, comments[0].Body, "20240301T120000Z-dev-4444444")
}

func TestReplacesSection(t *testing.T) {
	for _, tt := range []struct {
		old, next lineage.Result
		want      bool
	}{
		{lineage.Failed, lineage.Succeeded, true},
		{lineage.Failed, lineage.NoOp, true},
		{lineage.Failed, lineage.Failed, true},
		{lineage.Succeeded, lineage.NoOp, false},
		{lineage.Succeeded, lineage.Succeeded, false},
		{lineage.Succeeded, lineage.Failed, false},
		{lineage.NoOp, lineage.Succeeded, false},
	} {
		assert.Equal(t, tt.want, replacesSection(tt.old, tt.next), "%s then %s", tt.old, tt.next)
	}
}

// A summary read back gives the sections it was written from.
func TestParseAppliedSections(t *testing.T) {
	redactor, err := redact.New(nil)
	require.NoError(t, err)
	sections := map[string]appliedSection{}
	for _, c := range []string{"prod", "dev", "staging"} {
		addSection(sections, renderAppliedSection(appliedRecord(c, mergedRev), redactor))
	}
	pr := PullRequest{Number: 7}
	body := renderApplied(&pr, appliedRecord("dev", mergedRev).Source, sections)
	assert.Equal(t, sections, parseAppliedSections(body))
	assert.Equal(t, body, renderApplied(&pr, appliedRecord("dev", mergedRev).Source, parseAppliedSections(body)))
	assert.Empty(t, parseAppliedSections(""))
	assert.Empty(t, parseAppliedSections("> "+sectionMarker+"dev succeeded -->\nquoted"))
}

// countRequests is the number of requests with method and path.
func countRequests(api *githubapi.Server, method, path string) int {
	n := 0
	for _, r := range api.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// A summary too long for GitHub keeps each cluster's heading only.
func TestRenderAppliedFitsGitHubsLimit(t *testing.T) {
	redactor, err := redact.New(nil)
	require.NoError(t, err)
	sections := map[string]appliedSection{}
	for i := range 100 {
		rec := appliedRecord(fmt.Sprintf("cluster-%03d", i), mergedRev)
		rec.Result = lineage.Failed
		for j := range 15 {
			rec.Errors = append(rec.Errors, fmt.Sprintf("error %d: %s", j, strings.Repeat("x", 400)))
		}
		addSection(sections, renderAppliedSection(rec, redactor))
	}
	body := renderApplied(&PullRequest{Number: 7}, lineage.Source{Revision: mergedRev}, sections)
	assert.Less(t, len(body), MaxCommentChars)
	assert.Contains(t, body, "Details are left out to stay within GitHub's comment size limit")
	assert.Contains(t, body, "### ❌ Cluster <code>cluster-099</code>: failed\n")
	assert.Len(t, parseAppliedSections(body), 100)

	one := renderAppliedSection(appliedRecord("dev", mergedRev), redactor)
	assert.Len(t, parseAppliedSections(renderApplied(&PullRequest{Number: 7}, lineage.Source{Revision: mergedRev},
		map[string]appliedSection{"dev": one})), 1)
}
