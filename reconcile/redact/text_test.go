package redact

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedactor(t *testing.T) {
	r, err := New(DefaultPatterns)
	require.NoError(t, err)
	r = r.WithValues(redactCanary, "")
	tests := []struct {
		in, want string
	}{
		{"nothing to hide here", "nothing to hide here"},
		{"value " + redactCanary + " leaked", "value <redacted> leaked"},
		{"Authorization: Bearer abc.def-ghi", "Authorization: Bearer <redacted>"},
		{"clone https://bot:s3cr3t@github.com/org/repo", "clone https://bot:<redacted>@github.com/org/repo"},
		{"password=hunter2 user=bob", "password=<redacted> user=bob"},
		{`{"token": "xyz", "name": "n"}`, `{"token": "<redacted>", "name": "n"}`},
		{"api_key: k-123", "api_key: <redacted>"},
		{"using ghp_" + strings.Repeat("a", 36), "using <redacted>"},
		{"aws AKIAABCDEFGHIJKLMNOP done", "aws <redacted> done"},
		{"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n", "key:\n<redacted>\n"},
		{"twice " + redactCanary + redactCanary, "twice <redacted><redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, r.Redact(tt.in))
		})
	}
}

func TestRedactorGroups(t *testing.T) {
	r, err := New([]string{`(a)-(b)`, `x(y)?z`})
	require.NoError(t, err)
	assert.Equal(t, "<redacted>-<redacted> <redacted>-<redacted>", r.Redact("a-b a-b"))
	assert.Equal(t, "xz x<redacted>z", r.Redact("xz xyz"), "a group that does not take part is left alone")
}

func TestNewBadPattern(t *testing.T) {
	_, err := New([]string{"("})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), `redact pattern "("`), err.Error())
}

func TestRedactorWithValuesKeepsOriginal(t *testing.T) {
	r, err := New(nil)
	require.NoError(t, err)
	_ = r.WithValues(redactCanary)
	assert.Equal(t, redactCanary, r.Redact(redactCanary))
}

// TestRedactorPrefixValues: two Secrets whose values are a prefix of each
// other, given in either order, leave nothing of either behind.
func TestRedactorPrefixValues(t *testing.T) {
	for _, values := range [][]string{{"hunter2x", "hunter2xTAILSECRET"}, {"hunter2xTAILSECRET", "hunter2x"}} {
		r := Default().WithValues(values...)
		got := r.Redact("a hunter2xTAILSECRET b hunter2x c")
		assert.Equal(t, "a <redacted> b <redacted> c", got, "values %q", values)
	}
}

// TestRedactorOverlappingValues: values that overlap without one holding
// the other are hidden as one span, whichever is found first.
func TestRedactorOverlappingValues(t *testing.T) {
	r := Default().WithValues("abcdX", "Xyz1234")
	assert.Equal(t, "<redacted>!", r.Redact("abcdXyz1234!"))
	r = Default().WithValues("s3cr3t-value")
	assert.Equal(t, "password=<redacted> done", r.Redact("password=s3cr3t-value done"),
		"a value inside a pattern's match is hidden once")
}

func TestRedactorShortValues(t *testing.T) {
	r := Default().WithValues("abc", "", "abcd")
	assert.Equal(t, "abc <redacted>", r.Redact("abc abcd"), "values shorter than MinValueLen are left")
}

func TestRedactorNil(t *testing.T) {
	var r *Redactor
	assert.Equal(t, "password=x", r.Redact("password=x"))
	assert.Equal(t, "<redacted>", r.WithValues("hunter2x").Redact("hunter2x"))
}

// TestDefaultPatternsStayOnTheLine: an assignment hides its value on its
// own line; a key at the end of a line hides nothing of the next.
func TestDefaultPatternsStayOnTheLine(t *testing.T) {
	r := Default()
	tests := []struct{ in, want string }{
		{"passwd:\n  user: bob", "passwd:\n  user: bob"},
		{"password:\n  valueFrom: {secretKeyRef: db}", "password:\n  valueFrom: {secretKeyRef: db}"},
		{"Bearer\nnext line", "Bearer\nnext line"},
		{"passwd: hunter2 # same line", "passwd: <redacted> # same line"},
		{"/etc/passwd is not a secret", "/etc/passwd is not a secret"},
		{"kind: Secret", "kind: Secret"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.Redact(tt.in), tt.in)
	}
}
