package pullrequest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

const commentsPath = "/repos/" + testRepo + "/issues/7/comments"

// A pull request that adds an endpoint gets one comment listing the new
// InferenceService with its diff, and success; a new head updates the
// same comment in place.
func TestPRCheckAddEndpoint(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))

	res := f.mustCheck(7, Options{})
	assert.True(t, res.Valid())
	require.Len(t, res.Clusters, 1)
	assert.Equal(t, 1, res.Clusters[0].Count(reconcile.Created))
	assert.Contains(t, res.Body, "added <code>ml/inferenceservice.serving.kserve.io/iris</code>")
	assert.Contains(t, res.Body, "+kind: InferenceService\n")
	checkGolden(t, "add-endpoint", res.Body)
	comments := f.api.Comments(testRepo, 7)
	require.Len(t, comments, 1)
	assert.Equal(t, res.Body, comments[0].Body)
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(pr.Head.SHA))
	assert.Equal(t, "created", res.Comment.Action)

	head := f.push(7, with(map[string]string{"endpoint.yaml": endpointFile(4)}))
	res = f.mustCheck(7, Options{})
	assert.Equal(t, "updated", res.Comment.Action)
	checkGolden(t, "add-endpoint-new-head", res.Body)
	comments = f.api.Comments(testRepo, 7)
	require.Len(t, comments, 1, "the same comment, updated")
	assert.Equal(t, res.Body, comments[0].Body)
	assert.Contains(t, comments[0].Body, "+    maxReplicas: 4\n")
	assert.Equal(t, 1, f.count(http.MethodPost, commentsPath))
	assert.Equal(t, 1, f.count(http.MethodPatch, fmt.Sprintf("/repos/%s/issues/comments/%d", testRepo, comments[0].ID)))
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(head))

	res = f.mustCheck(7, Options{})
	assert.Equal(t, "unchanged", res.Comment.Action, "the same head again writes nothing new")
	assert.Len(t, f.api.Comments(testRepo, 7), 1)
}

// A pull request with an invalid declaration: the comment shows its
// path:line:col errors, both statuses fail.
func TestPRCheckInvalidDeclaration(t *testing.T) {
	f := newFixture(t)
	bad := strings.Replace(baseFiles["pipeline.yaml"], "  steps:", "  schedule: \"0 25 * * *\"\n  steps:", 1)
	pr := f.openPR(7, with(map[string]string{"pipeline.yaml": bad}))

	res := f.mustCheck(7, Options{})
	assert.False(t, res.Valid())
	require.NotEmpty(t, res.Problems)
	assert.Equal(t, render.Problem{Path: "pipeline.yaml", Line: 8, Column: 13, Message: res.Problems[0].Message}, res.Problems[0])
	assert.Contains(t, res.Body, "```text\npipeline.yaml:8:13: spec.schedule: invalid value \"0 25 * * *\"")
	checkGolden(t, "invalid", res.Body)
	assert.Equal(t, map[string]string{ContextValidate: StateFailure, ContextPlan: StateFailure}, f.states(pr.Head.SHA))
	st := f.api.LatestStatuses(testRepo, pr.Head.SHA)[ContextValidate]
	assert.True(t, strings.HasPrefix(st.Description, "1 problem; first: pipeline.yaml:8:13: "), st.Description)
}

// A pull request that deletes everything: the plan shows the prune
// guard's refusal.
func TestPRCheckDeleteEverything(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, map[string]string{"README.md": "nothing here\n"})

	res := f.mustCheck(7, Options{})
	assert.True(t, res.Valid())
	require.Len(t, res.Clusters, 1)
	assert.Contains(t, res.Clusters[0].PruneRefusal, "prune refused: the render is empty")
	assert.Contains(t, res.Body, "⛔ **Prune guard:** prune refused: the render is empty and would prune all")
	checkGolden(t, "delete-everything", res.Body)
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateFailure}, f.states(pr.Head.SHA))
}

// A pull request that adds a Secret: its value is in no request that
// reached GitHub, in no form.
func TestPRCheckSecretCanary(t *testing.T) {
	const canary = "CANARY-7d1e"
	encoded := base64.StdEncoding.EncodeToString([]byte(canary))
	secret := `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: ml
type: Opaque
data:
  password: ` + encoded + `
stringData:
  token: ` + canary + `
  dsn: postgres://app:` + canary + `@db:5432/app
`
	f := newFixture(t)
	f.openPR(7, with(map[string]string{"clusters/dev/secret.yaml": secret}))

	res := f.mustCheck(7, Options{})
	assert.True(t, res.Valid(), "%v", res.Problems)
	assert.Contains(t, res.Body, "added <code>ml/secret/db</code>")
	checkGolden(t, "secret", res.Body)
	requests := f.api.Requests()
	require.NotEmpty(t, requests)
	for _, r := range requests {
		for _, v := range []string{canary, encoded} {
			assert.NotContains(t, r.Body, v, "%s", r)
			assert.NotContains(t, r.Query, v, "%s", r)
		}
	}
	assert.NotContains(t, res.Body, canary)
}

// Two Secrets whose values are a prefix of each other, and a ConfigMap
// that quotes the longer one: neither value appears, in part or whole, in
// the comment or in any request.
func TestPRCheckPrefixSecrets(t *testing.T) {
	const short, long = "hunter2x", "hunter2xTAILSECRET"
	secret := func(name, value string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: ml\ntype: Opaque\nstringData:\n  password: " + value + "\n"
	}
	f := newFixture(t)
	f.openPR(7, with(map[string]string{
		"clusters/dev/a.yaml":  secret("a", short),
		"clusters/dev/b.yaml":  secret("b", long),
		"clusters/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n  namespace: ml\ndata:\n  note: the token is " + long + " and " + short + "\n",
	}))
	res := f.mustCheck(7, Options{})
	assert.True(t, res.Valid(), "%v", res.Problems)
	assert.Contains(t, res.Body, "ml/configmap/notes")
	texts := []string{res.Body}
	for _, r := range f.api.Requests() {
		texts = append(texts, r.Body, r.Query)
	}
	for _, text := range texts {
		for _, part := range []string{short, "TAILSECRET", base64.StdEncoding.EncodeToString([]byte(long))} {
			assert.NotContains(t, text, part)
		}
	}
}

// A change of 600 objects: the comment stays under GitHub's limit and
// says what it left out.
func TestPRCheckLargeChange(t *testing.T) {
	var b strings.Builder
	for i := range 600 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-%03d\n  namespace: ml\ndata:\n  index: %q\n  note: %q\n",
			i, fmt.Sprint(i), strings.Repeat("x", i%50))
	}
	f := newFixture(t)
	f.openPR(7, with(map[string]string{"clusters/dev/settings.yaml": b.String()}))

	res := f.mustCheck(7, Options{})
	require.Len(t, res.Clusters, 1)
	assert.Equal(t, 600, res.Clusters[0].Count(reconcile.Created))
	assert.Less(t, len(res.Body), MaxCommentChars)
	assert.Regexp(t, `\*\*\d+ diffs omitted to stay within GitHub's comment size limit\*\*\.\n$`, res.Body)
	assert.Contains(t, res.Body, "Diffs omitted from this comment:\n\n- added <code>ml/configmap/settings-")
	omitted := strings.Count(res.Body, "\n- added <code>ml/configmap/settings-")
	shown := strings.Count(res.Body, "<details><summary>added <code>ml/configmap/settings-")
	assert.Equal(t, 600, omitted+shown, "every object is shown or listed")
	assert.Contains(t, res.Body, fmt.Sprintf("**%d diffs omitted", omitted))
	assert.Contains(t, res.Body, "<details><summary>added <code>ml/configmap/settings-000</code>", "the smallest diffs are kept")
	checkGolden(t, "large-change", res.Body)
	assert.Len(t, f.api.Comments(testRepo, 7), 1)
}

// A pull request from a fork gets no cluster client, and its cluster no
// request.
func TestPRCheckFork(t *testing.T) {
	var reached atomic.Int32
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(cluster.Close)
	dialed := 0
	dial := func(context.Context, render.Cluster, bool) (*reconcile.Client, error) {
		dialed++
		return reconcile.NewClient(&rest.Config{Host: cluster.URL})
	}

	f := newFixture(t)
	f.git.Commit("fork", with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	pr := f.git.PullRequest(testRepo, 7, "fork")
	pr.Head.Repo, pr.Head.CloneURL = "someone/platform", "https://github.com/someone/platform.git"
	f.api.AddPullRequest(testRepo, pr)

	res := f.mustCheck(7, Options{Dial: dial})
	assert.True(t, res.Fork)
	assert.Zero(t, dialed, "no cluster client for a fork")
	assert.Zero(t, reached.Load(), "no request reaches the cluster")
	assert.False(t, res.Clusters[0].LiveRan)
	assert.Contains(t, res.Body, "comes from a fork (<code>someone/platform</code>)")
	checkGolden(t, "fork", res.Body)
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateSuccess}, f.states(pr.Head.SHA))
}

// A secondary rate limit on the comment's POST is waited out, and the
// comment is posted once.
func TestPRCheckSecondaryRateLimit(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFixture(t)
			f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
			f.api.SecondaryRateLimit(2, http.MethodPost, commentsPath, status, "0")

			res := f.mustCheck(7, Options{})
			assert.Equal(t, "created", res.Comment.Action)
			assert.Len(t, f.api.Comments(testRepo, 7), 1)
			var codes []int
			for _, r := range f.api.Requests() {
				if r.Method == http.MethodPost && r.Path == commentsPath {
					codes = append(codes, r.Status)
				}
			}
			assert.Equal(t, []int{status, status, http.StatusCreated}, codes)
		})
	}
}

// The sticky comment is found past the first page of comments.
func TestPRCheckFindsCommentOnALaterPage(t *testing.T) {
	f := newFixture(t)
	f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))
	for i := range 130 {
		f.api.AddComment(testRepo, 7, "reviewer", fmt.Sprintf("looks good %d", i))
	}
	id := f.api.AddComment(testRepo, 7, "github-actions[bot]", CommentMarker+"\nan old plan")
	f.api.AddComment(testRepo, 7, "reviewer", "> "+CommentMarker+" quoted, not ours")

	res := f.mustCheck(7, Options{})
	assert.Equal(t, "updated", res.Comment.Action)
	assert.Equal(t, id, res.Comment.ID)
	assert.Equal(t, 0, f.count(http.MethodPost, commentsPath))
	assert.Equal(t, 2, f.count(http.MethodGet, commentsPath), "two pages of 100")
	comments := f.api.Comments(testRepo, 7)
	assert.Len(t, comments, 132)
	assert.Equal(t, res.Body, comments[130].Body)
}

// A cluster that cannot be reached makes the plan's status an error; the
// comment is still posted.
func TestPRCheckLiveDryRunUnreachable(t *testing.T) {
	cluster := httptest.NewServer(http.NotFoundHandler())
	url := cluster.URL
	cluster.Close()
	dial := func(context.Context, render.Cluster, bool) (*reconcile.Client, error) {
		return reconcile.NewClient(&rest.Config{Host: url})
	}
	f := newFixture(t)
	pr := f.openPR(7, with(map[string]string{"endpoint.yaml": endpointFile(2)}))

	res := f.mustCheck(7, Options{Dial: dial})
	require.Len(t, res.Clusters, 1)
	assert.NotEmpty(t, res.Clusters[0].LiveError)
	assert.Contains(t, res.Body, "⚠️ **Live dry-run failed:** ")
	assert.Equal(t, map[string]string{ContextValidate: StateSuccess, ContextPlan: StateError}, f.states(pr.Head.SHA))
}

// A head that cannot be fetched sets both statuses to error.
func TestPRCheckFetchFailure(t *testing.T) {
	f := newFixture(t)
	pr := f.openPR(7, with(nil))
	pr.Head.SHA = strings.Repeat("ab", 20)
	f.api.AddPullRequest(testRepo, pr)

	_, err := f.check(7, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "head "+pr.Head.SHA+": commit not fetched")
	assert.Equal(t, map[string]string{ContextValidate: StateError, ContextPlan: StateError}, f.states(pr.Head.SHA))
}

func TestPRCheckUnknownPullRequest(t *testing.T) {
	f := newFixture(t)
	_, err := f.check(99, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "acme/platform#99: get pull request: ")
	assert.Contains(t, err.Error(), "404")
}
