package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkWebhookToApplied measures, per op, the time from a push of a
// 10-object change to the end of its apply: the webhook, one poll (ref
// listing and shallow fetch), the render of the revision, and the apply of
// the 10 changed objects. The push itself is not timed. Target: under 2 s.
func BenchmarkWebhookToApplied(b *testing.B) {
	h := newHarness(b, time.Hour)
	if cs := h.next(); cs.Failed() {
		b.Fatal(cs.Error)
	}
	srv := httptest.NewServer(Handler(h.d, prometheus.NewRegistry(), &WebhookHandler{Secret: secret, Trigger: func(Event) { h.d.Trigger() }}))
	defer srv.Close()
	body := []byte(`{"ref":"refs/heads/main"}`)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		rev := h.git.Commit(b, h.url, map[string]string{"clusters/dev/cms.yaml": tenConfigMaps(h.ns, i)}, fmt.Sprint("change ", i))
		b.StartTimer()
		if code := postHook(b, srv.URL, body, Sign(secret, body)); code != http.StatusAccepted {
			b.Fatalf("webhook: %d", code)
		}
		cs := h.waitRevision(rev)
		if cs.Failed() {
			b.Fatal(cs.Error)
		}
	}
}

func tenConfigMaps(ns string, value int) string {
	var s strings.Builder
	for j := 0; j < 10; j++ {
		fmt.Fprintf(&s, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: bench-%d, namespace: %s}\ndata: {v: \"%d\"}\n", j, ns, value)
	}
	return s.String()
}
