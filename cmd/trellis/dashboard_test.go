package main

// The dashboard of `trellis serve`, in a real headless Chromium (see
// test/browser), against serve in-process on the loopback Git server and
// the test control plane, with two clusters.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/test/browser"
	"trellis.dev/trellis/test/gitserver"
)

var (
	dashboardURL   = regexp.MustCompile(`msg=dashboard url=(\S+)`)
	workflowsGVR   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}
	inferenceGVR   = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	browserTimeout = 2 * time.Minute
)

// dashboardFiles is a config repo of two clusters, a and b, on the test
// control plane: a trains a model and serves it, and holds a Secret with
// the canary; b holds a ConfigMap.
func dashboardFiles(ns, canary, setting string) map[string]string {
	cluster := func(name string) string {
		return fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec: {context: trellis-test, namespaces: {%s-%s: {}}}\n", name, ns, name)
	}
	return map[string]string{
		"clusters/a.yaml": cluster("a"),
		"clusters/b.yaml": cluster("b"),
		"train.yaml": fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: train}
spec:
  cluster: a
  namespace: %s-a
  runOnChange: true
  steps:
  - name: train
    image: python:3.12-slim
    command: [python, -c, "print('training')"]
    outputs: {artifacts: [{name: model, path: /out/model}]}
`, ns),
		"serve.yaml": fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata: {name: serve}
spec:
  cluster: a
  namespace: %s-a
  model: {format: sklearn, fromPipeline: {pipeline: train, step: train, artifact: model}}
  replicas: {min: 1, max: 1}
`, ns),
		"clusters/a/secret.yaml":   fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: registry, namespace: %s-a}\nstringData: {token: %s}\n", ns, canary),
		"clusters/b/settings.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: %s-b}\ndata: {v: %q}\n", ns, setting),
	}
}

// graphData is what the page's lineage graph draws: each node's text by
// its id, each edge, and whether each edge's ends touch its nodes' boxes.
type graphData struct {
	Nodes map[string]string `json:"nodes"`
	Edges [][2]string       `json:"edges"`
	// Attached lists, per edge, whether it starts on the right side of
	// its first node's box and ends at the left side of the second's.
	Attached []bool `json:"attached"`
}

const graphJS = `(() => {
  const nodes = {}, boxes = {};
  document.querySelectorAll("svg.graph g.node").forEach(g => {
    nodes[g.dataset.node] = g.textContent;
    boxes[g.dataset.node] = g.querySelector("rect").getBBox();
  });
  const edges = [], attached = [];
  document.querySelectorAll("svg.graph path.edge").forEach(p => {
    const from = boxes[p.dataset.from], to = boxes[p.dataset.to];
    const a = p.getPointAtLength(0), b = p.getPointAtLength(p.getTotalLength());
    edges.push([p.dataset.from, p.dataset.to]);
    attached.push(!!from && !!to &&
      Math.abs(a.x - (from.x + from.width)) < 1 && a.y > from.y && a.y < from.y + from.height &&
      Math.abs(b.x - to.x) < 10 && b.y > to.y && b.y < to.y + to.height);
  });
  return {nodes, edges, attached};
})()`

// TestDashboardInBrowser drives the dashboard in Chromium: both clusters
// with their revision; a push shown without a reload; suspension; a
// run's change set and log; the lineage graph's connected nodes from the
// commit to the endpoint; an invalid revision's position; and the Secret
// canary on no page. Each page's screenshot goes to the test's artifact
// directory.
func TestDashboardInBrowser(t *testing.T) {
	cp := needControlPlane(t)
	tab := browser.Start(t)
	ns := cp.Namespace(t)
	const canary = "canary-dash-5e1f9c0b7d"
	const secret = "webhook-secret"
	shots := browser.ScreenshotDir(t)

	git := gitserver.Start(t, gitserver.Options{})
	url := git.NewRepo(t, "config")
	rev1 := git.Commit(t, url, dashboardFiles(ns, canary, "1"), "train and serve the iris model")

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--repo", url, "--kubeconfig", cp.KubeconfigPath(), "--interval", "1h",
			"--listen", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
			"--source-id", ns, "--webhook-secret-file", secretFile, "--follow-timeout", "10m"}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-exited, "stderr: %s", stderr.String())
		assert.NotContains(t, stdout.String(), canary)
	})
	require.Eventually(t, func() bool {
		return dashboardURL.MatchString(stdout.String()) && listenAddr.MatchString(stdout.String())
	}, time.Minute, 5*time.Millisecond, "stdout: %s", &stdout)
	ui := dashboardURL.FindStringSubmatch(stdout.String())[1]
	listen := listenAddr.FindStringSubmatch(stdout.String())[1]
	require.True(t, strings.HasPrefix(ui, "http://127.0.0.1:") && strings.HasSuffix(ui, "/ui/"), ui)

	visited := map[string]bool{}
	open := func(page string) {
		t.Helper()
		visited[page] = true
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(ui+page)))
	}
	waitFor := func(what, js string) {
		t.Helper()
		_, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(browserTimeout)))
		require.NoError(t, err, "%s; stdout: %s", what, &stdout)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		require.NoError(t, err, js)
		return v
	}
	shoot := func(name string) {
		t.Helper()
		path, err := browser.Screenshot(tab, shots, name)
		require.NoError(t, err)
		t.Logf("screenshot %s", path)
	}
	revisionIs := func(cluster, rev string) string {
		return fmt.Sprintf(`document.querySelector('[data-cluster=%q] [data-field=revision]')?.textContent === %q`, cluster, rev[:7])
	}

	// Both clusters, at the first revision.
	open("")
	waitFor("both clusters at the first revision", revisionIs("a", rev1)+" && "+revisionIs("b", rev1))
	assert.Equal(t, "a,b", eval(`Array.from(document.querySelectorAll("[data-cluster]")).map(e => e.dataset.cluster).join()`))
	assert.Contains(t, eval(`document.querySelector('[data-cluster="b"]').textContent`), "train and serve the iris model")

	// A push, announced by a webhook: the page shows it without a reload
	// (a mark left on the window survives). Its message is hostile.
	require.Equal(t, "1", eval(`window.__sameDocument = "1"`))
	hostile := `<img src=x onerror="window.__pwned=1"> settings v2`
	rev2 := git.Commit(t, url, dashboardFiles(ns, canary, "2"), hostile)
	pushWebhook(t, listen, secret)
	waitFor("the new revision, without a reload", revisionIs("a", rev2)+" && "+revisionIs("b", rev2))
	assert.Equal(t, "1", eval(`window.__sameDocument`), "the page was not reloaded")
	assert.Equal(t, "undefined", eval(`typeof window.__pwned`), "the hostile message ran nothing")
	assert.Contains(t, eval(`document.querySelector('[data-cluster="b"] .msg').textContent`), `<img src=x onerror=`, "shown as text")
	assert.Equal(t, "0", eval(`String(document.querySelectorAll("main img").length)`), "no image of the message's")

	// Suspension, as trellis suspend writes it, shows on the next refresh.
	client, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	_, err = reconcile.Suspend(context.Background(), client, "b", ns, time.Now())
	require.NoError(t, err)
	waitFor("b suspended", `document.querySelector('[data-cluster="b"]')?.textContent.includes("suspended")`)
	shoot("clusters.png")

	// A narrow window: the cards stack, nothing scrolls sideways.
	require.NoError(t, chromedp.Do(tab, chromedp.EmulateViewport(480, 900)))
	waitFor("the narrow layout", `window.innerWidth === 480`)
	assert.Equal(t, "true", eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`), "no sideways scroll")
	assert.Equal(t, "true", eval(`(() => { const [a, b] = document.querySelectorAll(".card"); return String(b.getBoundingClientRect().top >= a.getBoundingClientRect().bottom); })()`), "stacked")
	shoot("clusters-narrow.png")
	require.NoError(t, chromedp.Do(tab, chromedp.EmulateViewport(1360, 900)))

	// The pipeline run the first revision started succeeds (as Argo's
	// controller would say), the endpoint is pinned to its model and
	// becomes ready (as KServe would say); the records reach the branch.
	dyn, err := dynamic.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	wf := onlyWorkflow(t, dyn, ns+"-a")
	uri := "s3://models/train/" + wf.GetName() + "/model.tgz"
	succeedWorkflow(t, dyn, wf, "train/"+wf.GetName()+"/model.tgz")
	require.Eventually(t, func() bool {
		isvc, err := dyn.Resource(inferenceGVR).Namespace(ns+"-a").Get(context.Background(), "serve", metav1.GetOptions{})
		if err != nil {
			return false
		}
		got, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "storageUri")
		return got == uri
	}, browserTimeout, 20*time.Millisecond, "the endpoint is pinned to the run's model; stdout: %s", &stdout)
	readyEndpoint(t, dyn, ns+"-a", "serve")
	var created lineage.Record
	require.Eventually(t, func() bool {
		store, err := lineage.Open(context.Background(), url, "", nil)
		if err != nil {
			return false
		}
		recs, err := store.Records()
		if err != nil {
			return false
		}
		_, err = lineage.Trace(recs, "serve", "a")
		for _, r := range recs {
			if r.Cluster == "a" && r.Source.Revision == rev1 {
				created = r
			}
		}
		return err == nil && created.RunID != ""
	}, browserTimeout, 50*time.Millisecond, "records of the run and of the endpoint; stdout: %s", &stdout)

	// The cluster's runs, and the run that created the pipeline run: its
	// change set, the run it followed, its log.
	open("clusters/a")
	waitFor("a's runs", fmt.Sprintf(`document.querySelector('a[href$=%q]') !== null`, created.RunID))
	shoot("cluster.png")
	open("runs/" + created.RunID)
	waitFor("the run's page", `document.querySelector("pre.log") !== null`)
	changes := eval(`Array.from(document.querySelectorAll("table.changes tr[data-action]")).map(r => r.dataset.action + " " + r.cells[1].textContent + " " + r.cells[3].textContent).join("\n")`)
	assert.Contains(t, changes, "created Workflow "+wf.GetName())
	assert.Contains(t, changes, "created Secret registry")
	followed := eval(`document.querySelector("table.followed").textContent`)
	assert.Contains(t, followed, wf.GetName())
	assert.Contains(t, followed, "Succeeded")
	assert.Contains(t, followed, uri, "its outputs")
	log := eval(`document.querySelector("pre.log").textContent`)
	assert.Contains(t, log, "run="+created.RunID, "the run's log, as committed")
	assert.Contains(t, log, "created")
	shoot("run.png")

	// The lineage graph of the endpoint: commit → pipeline run → model →
	// endpoint, as connected nodes.
	open("lineage/endpoints/a/serve")
	waitFor("the graph", `document.querySelectorAll("svg.graph g.node").length === 4`)
	g, err := chromedp.Run(tab, chromedp.Evaluate[graphData](graphJS))
	require.NoError(t, err)
	commit, runNode, model, endpoint := "commit:"+rev1[:7], "run:a/"+ns+"-a/"+wf.GetName(), "model:"+uri, "endpoint:a/"+ns+"-a/serve"
	assert.Contains(t, g.Nodes[commit], rev1[:7])
	assert.Contains(t, g.Nodes[commit], "train and serve the iris model")
	assert.Contains(t, g.Nodes[runNode], wf.GetName())
	assert.Contains(t, g.Nodes[model], uri)
	assert.Contains(t, g.Nodes[endpoint], "serve")
	assert.ElementsMatch(t, [][2]string{{commit, runNode}, {runNode, model}, {model, endpoint}}, g.Edges, "connected, in order")
	assert.Equal(t, []bool{true, true, true}, g.Attached, "each edge drawn from box to box")
	assert.Equal(t, "/ui/runs/"+created.RunID, eval(`document.querySelector('[data-node^="run:"] a').getAttribute("href")`), "the run links to its record")
	shoot("lineage-endpoint.png")
	open("lineage/commits/" + rev1)
	waitFor("the commit's graph", `document.querySelectorAll("svg.graph g.node").length === 4`)
	g, err = chromedp.Run(tab, chromedp.Evaluate[graphData](graphJS))
	require.NoError(t, err)
	assert.ElementsMatch(t, [][2]string{{commit, runNode}, {runNode, model}, {model, endpoint}}, g.Edges, "the same walk, the other way")
	shoot("lineage-commit.png")
	open("lineage")
	waitFor("the lineage index", `document.querySelector('a[href$="lineage/endpoints/a/serve"]') !== null`)
	shoot("lineage.png")

	// An invalid revision: the clusters page says where, path:line:col.
	bad := dashboardFiles(ns, canary, "2")
	bad["serve.yaml"] = strings.Replace(bad["serve.yaml"], "  replicas:", "  replicaz: 3\n  replicas:", 1)
	git.Commit(t, url, bad, "a typo")
	pushWebhook(t, listen, secret)
	open("")
	waitFor("the problem's position", `/serve\.yaml:\d+:\d+/.test(document.querySelector('[data-cluster="a"]').textContent)`)
	shoot("clusters-invalid.png")
	open("pulls")
	shoot("pulls.png")

	// The canary is on no page: not as the browser shows it, nor as served.
	encoded := base64.StdEncoding.EncodeToString([]byte(canary))
	for page := range visited {
		open(page)
		html := eval(`document.documentElement.outerHTML`)
		assert.NotContains(t, html, canary, page)
		assert.NotContains(t, html, encoded, page)
		resp, err := http.Get(ui + page)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, page)
		assert.False(t, bytes.Contains(body, []byte(canary)) || bytes.Contains(body, []byte(encoded)), page)
	}
	assert.Len(t, visited, 7)
}

// pushWebhook sends serve a signed push webhook for main.
func pushWebhook(t *testing.T, listen, secret string) {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main"}`)
	req, err := http.NewRequest(http.MethodPost, "http://"+listen+"/hooks/github", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", daemon.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
}

// onlyWorkflow waits for the one Workflow run of namespace.
func onlyWorkflow(t *testing.T, dyn dynamic.Interface, namespace string) *unstructured.Unstructured {
	t.Helper()
	var wf *unstructured.Unstructured
	require.Eventually(t, func() bool {
		l, err := dyn.Resource(workflowsGVR).Namespace(namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(l.Items) != 1 {
			return false
		}
		wf = &l.Items[0]
		return true
	}, browserTimeout, 20*time.Millisecond, "the pipeline's run")
	return wf
}

// succeedWorkflow moves a Workflow run to Succeeded as Argo's controller
// would, its train step having saved the model under key.
func succeedWorkflow(t *testing.T, dyn dynamic.Interface, wf *unstructured.Unstructured, key string) {
	t.Helper()
	start := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	end := time.Now().UTC().Format(time.RFC3339)
	name := wf.GetName()
	wf.Object["status"] = map[string]any{
		"phase": "Succeeded", "startedAt": start, "finishedAt": end,
		"artifactRepositoryRef": map[string]any{"artifactRepository": map[string]any{"s3": map[string]any{"bucket": "models"}}},
		"nodes": map[string]any{
			name: map[string]any{"id": name, "name": name, "displayName": name, "type": "DAG", "phase": "Succeeded", "startedAt": start, "finishedAt": end},
			name + "-1": map[string]any{"id": name + "-1", "name": name + ".train", "displayName": "train", "type": "Pod",
				"templateName": "step-train", "phase": "Succeeded", "startedAt": start, "finishedAt": end,
				"outputs": map[string]any{
					"artifacts":  []any{map[string]any{"name": "model", "path": "/out/model", "s3": map[string]any{"key": key}}},
					"parameters": []any{map[string]any{"name": "accuracy", "value": "0.98"}},
				}},
		},
	}
	_, err := dyn.Resource(workflowsGVR).Namespace(wf.GetNamespace()).Update(context.Background(), wf, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// readyEndpoint marks an InferenceService Ready as KServe would.
func readyEndpoint(t *testing.T, dyn dynamic.Interface, namespace, name string) {
	t.Helper()
	res := dyn.Resource(inferenceGVR).Namespace(namespace)
	isvc, err := res.Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	isvc.Object["status"] = map[string]any{
		"observedGeneration": isvc.GetGeneration(),
		"url":                "http://" + name + "." + namespace + ".example.com",
		"conditions":         []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}},
		"components": map[string]any{"predictor": map[string]any{
			"traffic": []any{map[string]any{"revisionName": name + "-predictor-00001", "percent": int64(100), "latestRevision": true}},
		}},
	}
	_, err = res.UpdateStatus(context.Background(), isvc, metav1.UpdateOptions{})
	require.NoError(t, err)
}
