package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/notify"
	"trellis.dev/trellis/test/gitserver"
)

// TestServeNotifies runs `trellis serve --notify-config` against a local
// webhook receiver: a revision whose cluster cannot be reached is told as
// failed, the next revision, which can, as recovered.
func TestServeNotifies(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	bin := buildTrellis(t)
	events := make(chan notify.Event, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var e notify.Event
		if json.Unmarshal(body, &e) == nil {
			events <- e
		}
	}))
	defer receiver.Close()
	config := filepath.Join(t.TempDir(), "notify.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(
		"providers:\n- {name: hook, type: webhook, url: %q}\n", receiver.URL)), 0o600))

	git := gitserver.Start(t, gitserver.Options{})
	url := git.NewRepo(t, "config")
	cluster := func(context string) map[string]string {
		return map[string]string{"cluster.yaml": fmt.Sprintf(
			"apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: %s, namespaces: {%s-n: {}}}\n", context, ns)}
	}
	git.Commit(t, url, cluster("no-such-context"), "a context the kubeconfig lacks")
	srv := startServe(t, bin, []string{"serve", "--repo", url, "--kubeconfig", cp.KubeconfigPath(), "--interval", "1s",
		"--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--source-id", ns, "--notify-config", config})
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()

	next := func() notify.Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(2 * time.Minute):
			t.Fatal("no notification")
			return notify.Event{}
		}
	}
	e := next()
	assert.Equal(t, notify.KindFailed, e.Kind)
	assert.Equal(t, "dev", e.Cluster)
	assert.Contains(t, e.Title, "cluster dev failed")

	git.Commit(t, url, cluster("trellis-test"), "the right context")
	for e = next(); e.Kind == notify.KindFailed; e = next() {
		// a retry of the broken revision may come before the new one
	}
	assert.Equal(t, notify.KindRecovered, e.Kind)
	assert.Equal(t, "the right context", e.Source.Message)
}
