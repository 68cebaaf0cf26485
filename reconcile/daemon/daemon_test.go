package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
	"trellis.dev/trellis/test/gitserver"
)

// harness runs a daemon over a repo of the loopback Git server, applying to
// the test control plane.
type harness struct {
	t       testing.TB
	git     *gitserver.Server
	url     string
	ns      string // the tenant namespace the repo declares
	d       *Daemon
	metrics *Metrics
	applied chan *reconcile.ChangeSet
	logs    *syncBuffer
	client  *reconcile.Client
}

func newHarness(t testing.TB, interval time.Duration) *harness {
	return newHarnessWith(t, interval, nil)
}

func newHarnessWith(t testing.TB, interval time.Duration, configure func(*harness, *Config)) *harness {
	ns := cp.Namespace(t) + "-t"
	h := &harness{t: t, git: gitserver.Start(t, gitserver.Options{Username: "u", Password: "p"}), ns: ns,
		applied: make(chan *reconcile.ChangeSet, 64), logs: &syncBuffer{}}
	h.url = h.git.NewRepo(t, "config")
	h.git.Commit(t, h.url, map[string]string{"cluster.yaml": h.clusterYAML(), "endpoint.yaml": h.endpointYAML(1)}, "initial")
	passFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, passFile, "p")
	src, err := source.New(source.Spec{URL: h.url, Auth: source.Auth{Username: "u", PasswordFile: passFile}, CacheDir: t.TempDir()})
	require.NoError(t, err)
	c, err := reconcile.NewClient(cp.RESTConfig())
	require.NoError(t, err)
	h.client = c
	reg := prometheus.NewRegistry()
	h.metrics = NewMetrics(reg)
	cfg := Config{
		Source: adapter{src}, SourceID: ns, Interval: interval,
		Connect: func(context.Context, render.Cluster) (*reconcile.Client, error) { return c, nil },
		Metrics: h.metrics,
		// No controller runs here: endpoints never become ready, and
		// runs only end when a test says so.
		FollowInterval: 20 * time.Millisecond, FollowTimeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(h.logs, nil)),
		Applied: func(ctx context.Context, cs *reconcile.ChangeSet, _ error) {
			select { // a test that stopped reading (it failed) must not hold up the daemon's stop
			case h.applied <- cs:
			case <-ctx.Done():
			}
		},
	}
	if configure != nil {
		configure(h, &cfg)
	}
	h.d = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return h
}

func (h *harness) clusterYAML() string {
	return fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {namespaces: {%s: {}}}\n", h.ns)
}

func (h *harness) endpointYAML(maxReplicas int) string {
	return fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata: {name: mnist}
spec:
  cluster: dev
  namespace: %s
  model: {format: pytorch, storageUri: "s3://models/mnist/v1"}
  replicas: {min: 1, max: %d}
`, h.ns, maxReplicas)
}

// next returns the next apply, failing the test after a minute.
func (h *harness) next() *reconcile.ChangeSet {
	h.t.Helper()
	select {
	case cs := <-h.applied:
		return cs
	case <-time.After(time.Minute):
		h.t.Fatalf("no apply within a minute; logs:\n%s", h.logs.String())
		return nil
	}
}

// waitRevision waits for an apply of rev.
func (h *harness) waitRevision(rev string) *reconcile.ChangeSet {
	h.t.Helper()
	for {
		if cs := h.next(); cs.Revision == rev {
			return cs
		}
	}
}

// maxReplicas reads the live InferenceService's maxReplicas.
func (h *harness) maxReplicas() int64 {
	h.t.Helper()
	r, _, err := h.client.Resource(schema.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}, h.ns)
	require.NoError(h.t, err)
	obj, err := r.Get(context.Background(), "mnist", metav1.GetOptions{})
	require.NoError(h.t, err)
	n, _, _ := unstructuredInt(obj.Object, "spec", "predictor", "maxReplicas")
	return n
}

// TestDaemonFollowsCommits: the initial revision is applied; a pushed
// commit that changes the endpoint is applied within one interval; drift
// is corrected every interval with no new commit.
func TestDaemonFollowsCommits(t *testing.T) {
	h := newHarness(t, 300*time.Millisecond)
	first := h.git.Commit(t, h.url, map[string]string{"README.md": "config\n"}, "docs")
	cs := h.waitRevision(first)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 1, h.maxReplicas())

	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(3)}, "scale out")
	cs = h.waitRevision(second)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 3, h.maxReplicas())
	assert.Equal(t, 1, cs.Count(reconcile.Configured), cs.Summary())

	// Drift: nothing is pushed, and the next applies find nothing to do.
	cs = h.waitRevision(second)
	assert.Equal(t, len(cs.Changes), cs.Count(reconcile.Unchanged), cs.Summary())
	assert.Equal(t, 1.0, testutil.ToFloat64(h.metrics.LastApplied.WithLabelValues("dev", second)))
}

// TestDaemonWebhook: with a long interval, a webhook with a valid signature
// applies a pushed commit at once; an invalid signature gets 401 and
// triggers no poll.
func TestDaemonWebhook(t *testing.T) {
	h := newHarness(t, time.Hour)
	initial := h.next()
	require.False(t, initial.Failed(), initial.Error)
	srv := httptest.NewServer(Handler(h.d, prometheus.NewRegistry(), &WebhookHandler{Secret: secret, Trigger: func(Event) { h.d.Trigger() }}))
	defer srv.Close()

	rev := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	body := []byte(`{"ref":"refs/heads/main"}`)
	h.git.ResetCounts()
	assert.Equal(t, http.StatusUnauthorized, postHook(t, srv.URL, body, Sign([]byte("wrong"), body)))
	assert.Equal(t, http.StatusUnauthorized, postHook(t, srv.URL, body, ""))
	assert.Equal(t, 0, h.git.Count(gitserver.ListUploadPack), "an invalid webhook triggers no poll")

	assert.Equal(t, http.StatusAccepted, postHook(t, srv.URL, body, Sign(secret, body)))
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 2, h.maxReplicas())
}

// TestDaemonInvalidCommit: a commit with an invalid declaration applies
// nothing, the previous revision stays in force, and the error shows with
// its position in the logs and the metrics; the next good commit applies.
func TestDaemonInvalidCommit(t *testing.T) {
	h := newHarness(t, time.Hour)
	good := h.next()
	require.False(t, good.Failed(), good.Error)

	h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": strings.Replace(h.endpointYAML(4), "min: 1", "min: 9", 1)}, "broken")
	h.d.Trigger()
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.RenderErrors) == 1 }, time.Minute, 20*time.Millisecond)
	assert.Contains(t, h.logs.String(), "endpoint.yaml:8:27: spec.replicas.max: invalid value 4 (out of bound >=9)")
	assert.EqualValues(t, 1, h.maxReplicas(), "the previous revision stays in force")
	select {
	case cs := <-h.applied:
		assert.Equal(t, good.Revision, cs.Revision, "only the previous revision may be applied")
	default:
	}

	fixed := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(4)}, "fix")
	h.d.Trigger()
	cs := h.waitRevision(fixed)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 4, h.maxReplicas())
}

// TestDaemonRemoteDown: the remote goes down; the last revision stays, the
// error is reported, and the daemon recovers when the remote returns.
func TestDaemonRemoteDown(t *testing.T) {
	h := newHarness(t, time.Hour)
	require.False(t, h.next().Failed())
	h.git.Stop()
	h.d.Trigger()
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.PollErrors) >= 1 }, time.Minute, 20*time.Millisecond)
	assert.Contains(t, h.logs.String(), "poll failed; the last revision stays in force")
	assert.EqualValues(t, 1, h.maxReplicas())

	h.git.Start()
	rev := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(5)}, "after the outage")
	h.d.Trigger()
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 5, h.maxReplicas())
}

func postHook(t testing.TB, url string, body []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/hooks/github", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-GitHub-Event", "push")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// adapter makes a Git source a daemon Source.
type adapter struct{ src *source.Source }

func (a adapter) Poll(ctx context.Context) (Snapshot, error) {
	rev, err := a.src.Poll(ctx)
	return Snapshot{Revision: rev.Commit, Dir: rev.Dir, Changed: rev.Changed, Ref: rev.Ref, Author: rev.Author, Message: rev.Message}, err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemonSuspend: a cluster suspended on its inventory is not applied,
// new revisions included; resumed, it is.
func TestDaemonSuspend(t *testing.T) {
	h := newHarness(t, time.Hour)
	require.False(t, h.next().Failed())
	_, err := reconcile.Suspend(context.Background(), h.client, "dev", h.ns, time.Now())
	require.NoError(t, err)
	h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(6)}, "while suspended")
	h.d.Trigger()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.metrics.Reconciles.WithLabelValues("dev", resultSuspended)) >= 1
	}, time.Minute, 20*time.Millisecond)
	assert.EqualValues(t, 1, h.maxReplicas(), "nothing applied while suspended")

	_, err = reconcile.Resume(context.Background(), h.client, "dev", h.ns)
	require.NoError(t, err)
	rev := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(7)}, "resumed")
	h.d.Trigger()
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 7, h.maxReplicas())
}
