package daemon

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/render"
)

// TestDaemonRenderTimeout: a commit whose CUE evaluation would take hours
// is rendered in a child process and killed at the render timeout; it is
// reported, the previous revision stays in force, and the next commit is
// applied.
func TestDaemonRenderTimeout(t *testing.T) {
	h := newHarnessWith(t, time.Hour, func(_ *harness, cfg *Config) {
		cfg.RenderBounds = render.Bounds{Timeout: 2 * time.Second, Isolation: &render.Isolation{}}
	})
	good := h.next()
	require.False(t, good.Failed(), good.Error)

	h.git.Commit(t, h.url, map[string]string{"teams/slow.cue": "package teams\n\nimport \"list\"\n\nn: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n"}, "expensive")
	h.d.Trigger()
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.RenderErrors) == 1 }, time.Minute, 20*time.Millisecond)
	assert.Contains(t, h.logs.String(), `problem="render stopped: it took longer than the render timeout of 2s (--render-timeout)"`)
	assert.EqualValues(t, 1, h.maxReplicas(), "the previous revision stays in force")

	fixed := h.git.Commit(t, h.url, map[string]string{"teams/slow.cue": "package teams\n\nn: 1\n", "endpoint.yaml": h.endpointYAML(3)}, "fix")
	h.d.Trigger()
	cs := h.waitRevision(fixed)
	require.False(t, cs.Failed(), cs.Error)
	assert.EqualValues(t, 3, h.maxReplicas())
}
