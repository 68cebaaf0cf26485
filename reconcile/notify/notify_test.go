package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func record(cluster string, result lineage.Result) lineage.Record {
	return lineage.Record{
		RunID: lineage.RunID(t0, cluster, "ab12cd34ef"), Cluster: cluster, Result: result,
		Source:  lineage.Source{URL: "https://github.com/acme/platform.git", Ref: "main", Revision: "ab12cd34ef56", Author: "Ada <ada@example.com>", Message: "train iris\n\nbody"},
		Started: t0, Finished: t0.Add(time.Minute),
	}
}

// TestEvents pins which records are worth telling, as a table.
func TestEvents(t *testing.T) {
	finished := t0.Add(5 * time.Minute)
	failed := record("prod", lineage.Failed)
	failed.Errors = []string{"cluster prod: connection refused\nmore", "second"}
	withRuns := record("staging", lineage.Succeeded)
	withRuns.Followed = []lineage.Followed{
		{Kind: lineage.KindWorkflow, Namespace: "ml", Name: "train-1", Phase: "Succeeded", Finished: &finished},
		{Kind: lineage.KindExperiment, Namespace: "ml", Name: "tune", Phase: "Failed", Finished: &finished},
		{Kind: lineage.KindWorkflow, Namespace: "ml", Name: "train-2", Phase: "Running"},
		{Kind: lineage.KindInferenceService, Namespace: "ml", Name: "iris", Phase: "Ready"},
	}
	withRuns.Pins = []lineage.Pin{
		{Namespace: "ml", Endpoint: "iris", Pipeline: "train", Step: "train", Artifact: "model", Run: "train-1", URI: "s3://m/1"},
		{Namespace: "ml", Endpoint: "old", Run: "train-0", URI: "s3://m/0", Kept: true},
	}
	for _, tc := range []struct {
		name     string
		previous lineage.Result
		rec      lineage.Record
		want     []string
	}{
		{"a failure", "", failed, []string{"failed: apply of ab12cd3 to cluster prod failed: cluster prod: connection refused"}},
		{"a failure again", lineage.Failed, failed, []string{"failed: apply of ab12cd3 to cluster prod failed: cluster prod: connection refused"}},
		{"a success", lineage.Succeeded, record("prod", lineage.Succeeded), nil},
		{"a first success", "", record("prod", lineage.Succeeded), nil},
		{"a recovery", lineage.Failed, record("prod", lineage.Succeeded), []string{"recovered: cluster prod recovered: ab12cd3 applied"}},
		{"a no-op recovery", lineage.Failed, record("prod", lineage.NoOp), []string{"recovered: cluster prod recovered: ab12cd3 applied"}},
		{"runs and pins", lineage.Succeeded, withRuns, []string{
			"run-finished: Workflow ml/train-1 on cluster staging: Succeeded",
			"run-finished: Experiment ml/tune on cluster staging: Failed",
			"pinned: endpoint ml/iris on cluster staging now serves s3://m/1 (run train-1)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range Events(tc.previous, tc.rec) {
				got = append(got, e.Kind+": "+e.Title)
				assert.Equal(t, tc.rec.RunID, e.RunID)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestSlackMessage pins a Slack message, markup in user text escaped.
func TestSlackMessage(t *testing.T) {
	rec := record("prod", lineage.Failed)
	rec.Source.Message = "fix <!channel> & co"
	rec.Errors = []string{"a", "b", "c", "d", "e"}
	body, err := Message(TypeSlack, Events("", rec)[0])
	require.NoError(t, err)
	var msg map[string]string
	require.NoError(t, json.Unmarshal(body, &msg))
	assert.Equal(t, ":x: *trellis*: apply of ab12cd3 to cluster prod failed: a\n"+
		"commit fix &lt;!channel&gt; &amp; co · by Ada &lt;ada@example.com&gt; · run 20261201T090000.000Z-prod-ab12cd3\n"+
		"> a\n> b\n> c\n… and 2 more errors", msg["text"])
}

// receiver is a local HTTP server that records what it received; fail
// answers the first requests with 503; hang holds every request until
// the test ends.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	heads  []http.Header
	got    chan string
}

func newReceiver(t *testing.T, fail int, hang bool) *receiver {
	r := &receiver{got: make(chan string, 100)}
	release := make(chan struct{})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if hang {
			select {
			case <-release:
			case <-req.Context().Done():
			}
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.bodies)
		r.bodies = append(r.bodies, string(body))
		r.heads = append(r.heads, req.Header.Clone())
		r.mu.Unlock()
		if n < fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.got <- string(body)
	}))
	t.Cleanup(func() { close(release); r.Close() })
	return r
}

func (r *receiver) next(t *testing.T) string {
	t.Helper()
	select {
	case b := <-r.got:
		return b
	case <-time.After(time.Minute):
		t.Fatal("no notification received")
		return ""
	}
}

// TestNotifier sends real HTTP requests to local receivers: a webhook
// that fails twice before it answers (retried), a Slack receiver for prod
// only, and a receiver that hangs, which delays nobody else. A Secret's
// value in an error reaches no receiver.
func TestNotifier(t *testing.T) {
	const canary = "s3cr3t-canary-value"
	hook, slack, hung := newReceiver(t, 2, false), newReceiver(t, 0, false), newReceiver(t, 0, true)
	redactor, err := redact.New(nil)
	require.NoError(t, err)
	var logs strings.Builder
	var logMu sync.Mutex
	n, err := New(Config{Providers: []Provider{
		{Name: "hung", Type: TypeWebhook, URL: hung.URL},
		{Name: "audit", Type: TypeWebhook, URL: hook.URL, Headers: map[string]string{"Authorization": "Bearer t0ken"}},
		{Name: "ops", Type: TypeSlack, URL: slack.URL, Clusters: []string{"prod"}, Events: []string{KindFailed, KindRecovered}},
	}}, Options{
		Redactor: redactor.WithValues(canary),
		Retry:    Retry{Backoff: time.Millisecond, MaxWait: time.Millisecond, Timeout: time.Hour},
		Log:      slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()

	failed := record("prod", lineage.Failed)
	failed.Errors = []string{"Secret ml/db: token " + canary + " refused"}
	n.Record(ctx, failed)
	n.Record(ctx, record("staging", lineage.Succeeded)) // nothing to tell
	n.Record(ctx, record("prod", lineage.Succeeded))

	var e Event
	require.NoError(t, json.Unmarshal([]byte(hook.next(t)), &e))
	assert.Equal(t, KindFailed, e.Kind)
	assert.Equal(t, "prod", e.Cluster)
	assert.Equal(t, []string{"Secret ml/db: token <redacted> refused"}, e.Errors)
	require.NoError(t, json.Unmarshal([]byte(hook.next(t)), &e))
	assert.Equal(t, KindRecovered, e.Kind)

	slackText := func() string {
		var msg map[string]string
		require.NoError(t, json.Unmarshal([]byte(slack.next(t)), &msg))
		return msg["text"]
	}
	assert.True(t, strings.HasPrefix(slackText(), ":x: *trellis*: apply of ab12cd3 to cluster prod failed: Secret ml/db: token &lt;redacted&gt; refused\n"))
	assert.Contains(t, slackText(), "cluster prod recovered")

	hook.mu.Lock()
	assert.Len(t, hook.bodies, 4, "the first event was sent three times: two 503s, then accepted")
	assert.Equal(t, "Bearer t0ken", hook.heads[0].Get("Authorization"))
	for _, b := range append(append([]string{}, hook.bodies...), slack.bodies...) {
		assert.NotContains(t, b, canary)
		assert.NotContains(t, b, canary[:8], "no part of the Secret either")
	}
	hook.mu.Unlock()

	cancel()
	<-done
	logMu.Lock()
	defer logMu.Unlock()
	assert.NotContains(t, logs.String(), hung.URL, "provider URLs are credentials: never logged")
	assert.NotContains(t, logs.String(), "t0ken")
}

// TestPermanentRefusal: a 4xx is not retried.
func TestPermanentRefusal(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	err := send(context.Background(), srv.Client(), Provider{Name: "x", URL: srv.URL}, []byte("{}"), Retry{Backoff: time.Millisecond}.withDefaults())
	require.ErrorIs(t, err, errPermanent)
	assert.NotContains(t, err.Error(), srv.URL)
	assert.Equal(t, 1, calls)
}

// TestLoadConfig pins the configuration's checks.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "notify.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	c, err := LoadConfig(write("providers:\n- {name: ops, type: slack, url: 'https://hooks.slack.com/services/T/B/X', events: [failed]}\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{KindFailed}, c.Providers[0].Events)

	for body, want := range map[string]string{
		"providers:\n- {name: a, type: email, url: 'https://x'}\n":                                             `providers[0].type: "email": want webhook or slack`,
		"providers:\n- {name: a, type: slack, url: 'http://hooks.example.com/x'}\n":                            "providers[0].url: must be https (http only to a loopback host)",
		"providers:\n- {name: a, type: slack, url: 'https://x', events: [boom]}\n":                             `providers[0].events[0]: "boom": want one of failed, recovered, run-finished, pinned`,
		"providers:\n- {name: a, type: slack, url: 'https://x'}\n- {name: a, type: slack, url: 'https://y'}\n": `providers[1].name: "a" is used twice`,
		"providers:\n- {name: a, type: slack, url: 'https://x', channel: ops}\n":                               `unknown field "channel"`,
	} {
		_, err := LoadConfig(write(body))
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want)
	}
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
