package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
	"trellis.dev/trellis/test/hangproxy"
	"trellis.dev/trellis/test/kubeproxy"
)

// Fault tests: one dependency of the daemon accepts connections and never
// answers, and the daemon goes on reconciling what does not need it.

// waitFor waits until cond holds, looking again whenever changed() says
// something happened (a guard of two minutes fails the test).
func waitFor(t *testing.T, changed func() <-chan struct{}, cond func() bool, msg string, args ...any) {
	t.Helper()
	guard := time.After(2 * time.Minute)
	for {
		ch := changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-guard:
			t.Fatalf(msg, args...)
		}
	}
}

// TestDaemonLineageRemoteHangs: the lineage remote accepts connections
// and never answers. Each push attempt gives up at its deadline and is
// retried; meanwhile drift corrections run at every interval and a new
// revision is applied; the records wait on disk. Once the remote answers
// again, every record is pushed.
func TestDaemonLineageRemoteHangs(t *testing.T) {
	var front *hangproxy.Proxy
	var lw *lineage.Writer
	h := newHarnessWith(t, 200*time.Millisecond, func(h *harness, cfg *Config) {
		withLineage(t)(h, cfg)
		cfg.FollowTimeout = 10 * time.Millisecond // the endpoint never becomes ready here
		front = hangproxy.Start(t, h.url)
		front.Hang()
		lw = cfg.Lineage
		lw.RepoURL = front.Rewrite(h.url)
		// Long enough for a push to a loopback remote that answers on a
		// busy machine under the race detector (git http-backend is a
		// process per request): with 100ms, every attempt after the
		// remote came back could miss its deadline too.
		lw.AttemptTimeout = 2 * time.Second
		lw.Backoff = lineage.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Attempts: 2}
	})
	first := h.next()
	require.False(t, first.Failed(), first.Error)
	waitFor(t, front.Changed, func() bool { return front.Requests() >= 3 },
		"the push was not retried after its attempt's deadline")
	for range 3 { // drift corrections go on at every interval
		cs := h.next()
		require.False(t, cs.Failed(), cs.Error)
	}
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.d.Trigger()
	require.False(t, h.waitRevision(second).Failed(), "a hanging lineage remote holds up no apply")
	assert.EqualValues(t, 2, h.maxReplicas())
	require.Eventually(t, func() bool { n, _ := lw.Pending(); return n >= 2 }, time.Minute, 10*time.Millisecond,
		"the records of both revisions wait on disk")
	assert.Contains(t, h.logs.String(), "did not answer within 2s")

	front.Answer()
	revs := map[string]bool{}
	for _, r := range h.records(2, func(lineage.Record) bool { return true }) {
		revs[r.Source.Revision] = true
	}
	assert.True(t, revs[first.Revision] && revs[second], "a record of each revision once the remote answers: %v", revs)
}

// TestDaemonGitRemoteHangs: the config repo's remote accepts connections
// and never answers. Each poll gives up at its deadline, the revision
// last applied stays in force and drift is still corrected at every
// interval; once the remote answers, a revision pushed meanwhile is
// applied.
func TestDaemonGitRemoteHangs(t *testing.T) {
	var front *hangproxy.Proxy
	h := newHarnessWith(t, 200*time.Millisecond, func(h *harness, cfg *Config) {
		front = hangproxy.Start(t, h.url)
		passFile := filepath.Join(t.TempDir(), "password")
		writeFile(t, passFile, "p")
		src, err := source.New(source.Spec{URL: front.Rewrite(h.url), Auth: source.Auth{Username: "u", PasswordFile: passFile},
			CacheDir: t.TempDir(), Timeout: 2 * time.Second})
		require.NoError(t, err)
		cfg.Source = adapter{src}
	})
	first := h.next()
	require.False(t, first.Failed(), first.Error)

	front.Hang()
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.d.Trigger()
	waitFor(t, front.Changed, func() bool {
		return front.Requests() > 0 && front.Held() == 0 && strings.Contains(h.logs.String(), "poll failed")
	},
		"the poll of a hanging remote did not time out")
	assert.Contains(t, h.logs.String(), "the last revision stays in force")
	for range 3 { // drift corrections at the last revision go on
		cs := h.next()
		require.Equal(t, first.Revision, cs.Revision)
		require.False(t, cs.Failed(), cs.Error)
	}
	assert.EqualValues(t, 1, h.maxReplicas())

	front.Answer()
	h.d.Trigger()
	require.False(t, h.waitRevision(second).Failed())
	assert.EqualValues(t, 2, h.maxReplicas())
}

// TestDaemonKubeAPIServerHangs: of two clusters, one's kube-apiserver
// hangs (a proxy in front of the real one holds every request). Its
// applies time out and are retried with backoff, while the other cluster
// is corrected at every interval and gets a new revision; once its
// apiserver answers, the hanging cluster converges too.
func TestDaemonKubeAPIServerHangs(t *testing.T) {
	proxy := kubeproxy.Start(t, cp.RESTConfig())
	var slowNS string
	h := newHarnessWith(t, 200*time.Millisecond, func(h *harness, cfg *Config) {
		slowNS = h.ns + "-slow"
		h.git.Commit(t, h.url, map[string]string{
			"slow.yaml":                fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: slow}\nspec: {namespaces: {%s: {}}}\n", slowNS),
			"clusters/slow/hello.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello, namespace: %s}\ndata: {k: v}\n", slowNS),
		}, "a second cluster")
		pcfg := proxy.RESTConfig()
		pcfg.Timeout = 300 * time.Millisecond
		slow, err := reconcile.NewClient(pcfg)
		require.NoError(t, err)
		direct := cfg.Connect
		cfg.Connect = func(ctx context.Context, c render.Cluster) (*reconcile.Client, error) {
			if c.Name == "slow" {
				return slow, nil
			}
			return direct(ctx, c)
		}
		cfg.MaxBackoff = time.Hour // capped at the interval
		proxy.Stall()
	})
	failures, devApplies := 0, 0
	for failures < 3 || devApplies < 3 {
		cs := h.next()
		switch cs.Cluster {
		case "slow":
			require.True(t, cs.Failed(), "the hanging cluster applied: %s", cs.Summary())
			failures++
		case "dev":
			require.False(t, cs.Failed(), cs.Error)
			devApplies++
		}
	}
	assert.Contains(t, h.logs.String(), "apply failed; retrying with backoff")
	second := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "scale")
	h.d.Trigger()
	for {
		cs := h.next()
		if cs.Cluster == "dev" && cs.Revision == second {
			require.False(t, cs.Failed(), cs.Error)
			break
		}
	}
	assert.EqualValues(t, 2, h.maxReplicas(), "the other cluster gets the new revision")

	proxy.Resume()
	for {
		cs := h.next()
		if cs.Cluster == "slow" && !cs.Failed() {
			break
		}
	}
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	_, err := h.client.Dynamic.Resource(cms).Namespace(slowNS).Get(context.Background(), "hello", metav1.GetOptions{})
	require.NoError(t, err, "the cluster converges once its apiserver answers")
}
