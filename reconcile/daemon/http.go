package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the daemon's HTTP endpoints:
//
//	/healthz       200 while the process runs
//	/readyz        200 once a revision has rendered, else 503
//	/metrics       Prometheus metrics from g
//	/hooks/github  GitHub webhooks (see WebhookHandler), when hook is set
func Handler(d *Daemon, g prometheus.Gatherer, hook *WebhookHandler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.Ready() {
			http.Error(w, "no revision rendered yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	if hook != nil {
		mux.Handle("/hooks/github", hook)
	}
	return mux
}
