package pullrequest

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPRCheckSecretPrefixes: a pull request adds two Secrets whose values
// are a prefix of one another, and a ConfigMap that names both. Neither
// value, whole or in part (the longer one's tail), plain or base64, is in
// any request that reached GitHub (comments, statuses).
func TestPRCheckSecretPrefixes(t *testing.T) {
	const short, long, tail = "hunter2x", "hunter2xTAILSECRET", "TAILSECRET"
	secrets := `apiVersion: v1
kind: Secret
metadata: {name: a-short, namespace: ml}
stringData: {token: ` + short + `}
---
apiVersion: v1
kind: Secret
metadata: {name: b-long, namespace: ml}
stringData: {token: ` + long + `}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: note, namespace: ml, annotations: {note: "rotated to ` + long + ` and ` + short + `"}}
data: {k: v}
`
	f := newFixture(t)
	f.openPR(7, with(map[string]string{"clusters/dev/secrets.yaml": secrets}))
	res := f.mustCheck(7, Options{})
	assert.True(t, res.Valid(), "%v", res.Problems)
	requests := f.api.Requests()
	require.NotEmpty(t, requests)
	forbidden := []string{short, tail, base64.StdEncoding.EncodeToString([]byte(short)), base64.StdEncoding.EncodeToString([]byte(long))}
	for _, v := range forbidden {
		assert.NotContains(t, res.Body, v)
		for _, r := range requests {
			assert.NotContains(t, r.Body, v, "%s", r)
			assert.NotContains(t, r.Query, v, "%s", r)
		}
	}
}
