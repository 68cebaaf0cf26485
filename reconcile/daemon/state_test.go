package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/redact"
)

// TestDaemonState: Clusters says which revision each cluster works on;
// Rejected holds a revision that did not render, with its problems'
// positions and its Secret values hidden, until one renders again.
func TestDaemonState(t *testing.T) {
	const canary = "canary-state-93ab1c"
	h := newHarness(t, time.Hour)
	first := h.next()
	require.False(t, first.Failed(), first.Error)
	states := h.d.Clusters()
	require.Len(t, states, 1)
	assert.Equal(t, "dev", states[0].Cluster.Name)
	assert.Equal(t, first.Revision, states[0].Snapshot.Revision)
	assert.Equal(t, "initial", states[0].Snapshot.Message)
	assert.Nil(t, h.d.Rejected())

	bad := h.git.Commit(t, h.url, map[string]string{
		"clusters/dev/secret.yaml": fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: %s}\nstringData: {token: %s}\n", h.ns, canary),
		// The problem quotes the value: the Secret's, hidden.
		"endpoint.yaml": strings.Replace(h.endpointYAML(1), "min: 1", "min: "+canary, 1),
	}, "a typo")
	h.d.Trigger()
	require.Eventually(t, func() bool { return h.d.Rejected() != nil }, time.Minute, 10*time.Millisecond, "logs: %s", h.logs)
	rej := h.d.Rejected()
	assert.Equal(t, bad, rej.Revision)
	require.NotEmpty(t, rej.Problems)
	assert.Regexp(t, `^endpoint\.yaml:\d+:\d+: `, rej.Problems[0])
	assert.Contains(t, strings.Join(rej.Problems, "\n"), redact.Marker, "the problem quoted the value, hidden")
	for _, p := range rej.Problems {
		assert.NotContains(t, p, canary)
	}
	assert.Equal(t, first.Revision, h.d.Clusters()[0].Snapshot.Revision, "the previous revision stays in force")

	good := h.git.Commit(t, h.url, map[string]string{"endpoint.yaml": h.endpointYAML(2)}, "fixed")
	h.d.Trigger()
	h.waitRevision(good)
	assert.Nil(t, h.d.Rejected(), "a revision that renders clears it")
	assert.Equal(t, good, h.d.Clusters()[0].Snapshot.Revision)
}
