package daemon

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/lineage"
)

// TestDaemonSecretPrefixes: two Secrets of the config repo hold values one
// of which is a prefix of the other; both values are also in the commit
// message and in an annotation of another object. Neither value appears,
// whole or in part (the longer one's tail), on the lineage branch or in
// the daemon's logs, plain or base64-encoded.
func TestDaemonSecretPrefixes(t *testing.T) {
	const short, long, tail = "hunter2x", "hunter2xTAILSECRET", "TAILSECRET"
	h := newHarnessWith(t, time.Hour, withLineage(t))
	require.False(t, h.next().Failed())
	rev := h.git.Commit(t, h.url, map[string]string{
		"clusters/dev/secrets.yaml": fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: a-short, namespace: %[1]s}
stringData: {token: %[2]s}
---
apiVersion: v1
kind: Secret
metadata: {name: b-long, namespace: %[1]s}
stringData: {token: %[3]s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: note, namespace: %[1]s, annotations: {note: "rotated to %[3]s and %[2]s"}}
data: {k: v}
`, h.ns, short, long),
	}, "rotate the tokens to "+long+" and "+short)
	h.d.Trigger()
	cs := h.waitRevision(rev)
	require.False(t, cs.Failed(), cs.Error)
	h.records(1, func(r lineage.Record) bool { return r.Source.Revision == rev })

	texts := branchTexts(t, h.url)
	texts["the daemon's logs"] = h.logs.String()
	for name, text := range texts {
		for _, secret := range []string{short, tail} {
			assert.NotContains(t, text, secret, name)
		}
		for _, secret := range []string{short, long} {
			assert.NotContains(t, text, base64.StdEncoding.EncodeToString([]byte(secret)), name)
		}
	}
}
