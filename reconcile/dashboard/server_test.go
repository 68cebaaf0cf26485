package dashboard

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// pages are the fixture's pages.
func pages() []string {
	recs := fixtureRecords()
	return []string{
		Prefix, Prefix + "clusters/staging", Prefix + "runs/" + recs[0].RunID, Prefix + "runs/" + recs[1].RunID,
		Prefix + "lineage", Prefix + "lineage/endpoints/staging/iris", Prefix + "lineage/commits/" + revA, Prefix + "pulls",
	}
}

// TestPagesRenderHostileTextInert: a commit message, an object name and a
// log line holding markup are shown as text on every page: no script
// element, no attribute, no image of theirs reaches the DOM.
func TestPagesRenderHostileTextInert(t *testing.T) {
	srv := serveDashboard(t, boardDaemon{
		clusters: []ClusterView{{Name: "staging", Applied: Commit{Revision: revA, Repo: repoURL}, Result: reconcile.ResultSucceeded,
			Errors: []string{`<b>bold</b> deploy.yaml:3:7: password=hunter2 refused`}}},
		prs: []PullRequestView{{Number: 7, Title: "<script>pr()</script>", URL: "javascript:alert(1)", HeadSHA: revA,
			Plans: []PlanView{{Cluster: "staging", Counts: map[reconcile.Action]int{reconcile.Created: 1}, Changes: []string{"created " + hostileName}}}}},
	}, hostileLog)
	for _, p := range pages() {
		status, _, body := get(t, srv, p)
		require.Equal(t, http.StatusOK, status, p)
		assert.Equal(t, 1, strings.Count(body, "<script"), "%s: only the dashboard's own script: %s", p, body)
		assert.NotContains(t, body, "<img", p)
		assert.NotContains(t, body, "<b>bold", p)
		assert.NotContains(t, body, "hunter2", "%s: the daemon's text is redacted", p)
		assert.NotContains(t, body, "javascript:", p)
	}
	_, _, run := get(t, srv, pages()[2])
	assert.Contains(t, run, "&lt;script&gt;alert(&#34;message&#34;)&lt;/script&gt; train iris", "the message, as text")
	assert.Contains(t, run, "&lt;/pre&gt;&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;", "the log, as text")
	assert.Contains(t, run, "x&#34;&gt;&lt;img src=x onerror=alert(1)&gt;", "the object's name, as text")
	_, _, home := get(t, srv, Prefix)
	assert.Contains(t, home, "deploy.yaml:3:7:", "the error keeps its position")
	assert.Contains(t, home, `href="https://github.com/acme/ml-config/commit/`+revA+`"`, "the commit links to its host")
}

// TestReadOnlyAndStrictHeaders: every response, pages, assets and errors,
// has the security headers; a POST, PUT or DELETE is refused.
func TestReadOnlyAndStrictHeaders(t *testing.T) {
	srv := serveDashboard(t, boardDaemon{}, "level=INFO msg=applied\n")
	for _, p := range append(pages(), Prefix+"static/style.css", Prefix+"runs/nope", "/nope") {
		_, h, _ := get(t, srv, p)
		assert.Equal(t, "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
			h.Get("Content-Security-Policy"), p)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), p)
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), p)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, err := http.NewRequest(m, srv.URL+Prefix, strings.NewReader("x=1"))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, m)
	}
	for _, p := range pages() {
		_, _, body := get(t, srv, p)
		assert.NotContains(t, body, "<form", "%s: no forms: nothing to forge", p)
		assert.NotContains(t, body, "<button", p)
	}
	status, _, _ := get(t, srv, Prefix+"runs/nope")
	assert.Equal(t, http.StatusNotFound, status)
	status, _, _ = get(t, srv, Prefix+"lineage/endpoints/staging/nope")
	assert.Equal(t, http.StatusNotFound, status)
}

// TestWithoutDaemon: `lineage serve` shows the clusters as their newest
// records say, and no pull requests.
func TestWithoutDaemon(t *testing.T) {
	srv := serveDashboard(t, nil, "level=INFO msg=applied\n")
	_, _, home := get(t, srv, Prefix)
	assert.Contains(t, home, `data-cluster="staging"`)
	assert.Contains(t, home, `>`+revA[:7]+`</code>`)
	assert.NotContains(t, home, "Pull requests", "no daemon, no pull requests")
	status, _, _ := get(t, srv, Prefix+"pulls")
	assert.Equal(t, http.StatusNotFound, status)
}

// svgOf cuts the lineage graph out of a page.
var svgOf = regexp.MustCompile(`(?s)<svg class="graph".*</svg>`)

// TestGraphGolden: the SVG of the endpoint's and the commit's graphs
// (UPDATE=1 rewrites testdata/*.svg).
func TestGraphGolden(t *testing.T) {
	srv := serveDashboard(t, nil, "")
	for name, p := range map[string]string{"endpoint.svg": pages()[5], "commit.svg": pages()[6]} {
		_, _, body := get(t, srv, p)
		svg := svgOf.FindString(body)
		require.NotEmpty(t, svg, p)
		golden := filepath.Join("testdata", name)
		if os.Getenv("UPDATE") != "" {
			require.NoError(t, os.WriteFile(golden, []byte(svg+"\n"), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		assert.Equal(t, string(want), svg+"\n", name)
	}
}

// TestGraphEdges: the graphs connect commit → pipeline run → model →
// endpoint, and commit → experiment → optimal trial.
func TestGraphEdges(t *testing.T) {
	recs := fixtureRecords()
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i] // newest first, as read
	}
	links := linker{prefix: Prefix}
	chain, err := lineage.Trace(recs, "iris", "staging")
	require.NoError(t, err)
	out, err := lineage.Forward(recs, revA[:7])
	require.NoError(t, err)
	commit, run, model, ep := "commit:"+revA[:7], "run:staging/ml/train-7h2kd", "model:"+modelURI, "endpoint:staging/ml/iris"
	for _, tc := range []struct {
		name string
		g    Graph
		want [][2]string
	}{
		{"trace", draw(chain.Graph(), links), [][2]string{{commit, run}, {run, model}, {model, ep}}},
		{"forward", draw(out.Graph(), links), [][2]string{{commit, run}, {run, model}, {model, ep},
			{commit, "experiment:staging/ml/tune"}, {"experiment:staging/ml/tune", "trial:staging/ml/tune-x7k2"}}},
	} {
		var got [][2]string
		for _, e := range tc.g.Edges {
			got = append(got, [2]string{e.From, e.To})
		}
		assert.ElementsMatch(t, tc.want, got, tc.name)
		xs := map[string]int{}
		for _, n := range tc.g.Nodes {
			xs[n.Key] = n.X
			assert.LessOrEqual(t, n.X+nodeWidth, tc.g.Width, "%s: %s inside", tc.name, n.Key)
			assert.LessOrEqual(t, n.Y+nodeHeight, tc.g.Height, "%s: %s inside", tc.name, n.Key)
		}
		for _, e := range tc.g.Edges {
			assert.Less(t, xs[e.From], xs[e.To], "%s: left to right: %s → %s", tc.name, e.From, e.To)
		}
	}
	trace := draw(chain.Graph(), links)
	assert.Equal(t, "https://github.com/acme/ml-config/commit/"+revA, trace.Nodes[0].Href, "the commit, first, links to its host")
	for _, n := range trace.Nodes[1:] {
		want := ""
		if n.RunID != "" {
			want = Prefix + "runs/" + n.RunID
		}
		assert.Equal(t, want, n.Href, "%s links to the record of its run, if any", n.Key)
	}
}

// TestShorten: a card lists at most five errors and says how many more
// its last run has.
func TestShorten(t *testing.T) {
	errs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a' + i))
		}
		return out
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{0, errs(0)},
		{5, errs(5)},
		{6, errs(6)}, // one more line is no shorter than the sum-up
		{9, append(errs(5), "… and 4 more: see the last run")},
	} {
		assert.Equal(t, tc.want, shorten(errs(tc.n)), tc.n)
	}
}
