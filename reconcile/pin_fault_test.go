package reconcile

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/test/kubeproxy"
)

// TestPinModelDiscoveryFails: when discovery of Argo's Workflows fails
// (the apiserver does not answer it in time), the endpoint is not taken
// for one whose pipeline never ran: the error fails it, so the apply is
// retried; once discovery answers, the endpoint waits for its first run
// as before.
func TestPinModelDiscoveryFails(t *testing.T) {
	ns := cp.Namespace(t)
	proxy := kubeproxy.Start(t, cp.RESTConfig())
	proxy.Hold(func(r *http.Request) bool {
		return r.URL.Path == "/api" || r.URL.Path == "/apis" || strings.HasPrefix(r.URL.Path, "/apis/argoproj.io")
	})
	cfg := proxy.RESTConfig()
	cfg.Timeout = 300 * time.Millisecond
	c, err := NewClient(cfg)
	require.NoError(t, err)

	pin, waiting, err := pinModel(context.Background(), c, pinEndpoint(ns))
	require.Error(t, err, "a discovery that failed is not \"no Argo here\"")
	assert.Nil(t, pin)
	assert.Empty(t, waiting)
	assert.Contains(t, err.Error(), "runs of pipeline train")

	proxy.Resume()
	c, err = NewClient(proxy.RESTConfig()) // no short timeout: the machine may be busy
	require.NoError(t, err)
	_, waiting, err = pinModel(context.Background(), c, pinEndpoint(ns))
	require.NoError(t, err)
	assert.Equal(t, "waiting for a successful run of pipeline train with output train.model", waiting)
}
