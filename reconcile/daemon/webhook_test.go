package daemon

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var secret = []byte("s3cret")

func TestWebhook(t *testing.T) {
	push := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
	pr := []byte(`{"action":"synchronize","number":7}`)
	for _, tc := range []struct {
		name      string
		method    string
		event     string
		body      []byte
		signature string
		code      int
		want      *Event
	}{
		{"valid push", "POST", "push", push, Sign(secret, push), 202, &Event{Kind: "push", Ref: "refs/heads/main"}},
		{"valid pull request", "POST", "pull_request", pr, Sign(secret, pr), 202, &Event{Kind: "pull_request", PR: 7, Action: "synchronize"}},
		{"wrong secret", "POST", "push", push, Sign([]byte("other"), push), 401, nil},
		{"no signature", "POST", "push", push, "", 401, nil},
		{"sha1 signature", "POST", "push", push, "sha1=" + strings.Repeat("0", 40), 401, nil},
		{"not hex", "POST", "push", push, "sha256=zz", 401, nil},
		{"body changed after signing", "POST", "push", append(push, ' '), Sign(secret, push), 401, nil},
		{"other event", "POST", "issues", push, Sign(secret, push), 202, nil},
		{"signed garbage", "POST", "push", []byte("not json"), Sign(secret, []byte("not json")), 202, nil},
		{"GET", "GET", "push", nil, "", 405, nil},
		{"too large", "POST", "push", bytes.Repeat([]byte("a"), MaxWebhookBody+1), "", 413, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			h := &WebhookHandler{Secret: secret, Trigger: func(e Event) { got = append(got, e) }}
			req := httptest.NewRequest(tc.method, "/hooks/github", bytes.NewReader(tc.body))
			req.Header.Set("X-GitHub-Event", tc.event)
			if tc.signature != "" {
				req.Header.Set("X-Hub-Signature-256", tc.signature)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
			if tc.want == nil {
				assert.Empty(t, got, "nothing triggered")
			} else {
				require.Len(t, got, 1)
				assert.Equal(t, *tc.want, got[0])
			}
		})
	}
}

// A client that announces a body and sends half of it gets 408 once the
// read deadline passes, and the connection is closed: a slow body holds
// nothing for long.
func TestWebhookSlowBody(t *testing.T) {
	triggered := false
	h := &WebhookHandler{Secret: secret, Trigger: func(Event) { triggered = true }, ReadTimeout: 100 * time.Millisecond}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	body := `{"ref":"refs/heads/main"}`
	_, err = fmt.Fprintf(conn, "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n%s",
		Sign(secret, []byte(body)), len(body), body[:10])
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute))) // a guard, not a measure
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.False(t, triggered)
}

func TestWebhookWithoutSecretRefusesAll(t *testing.T) {
	h := &WebhookHandler{Trigger: func(Event) { t.Fatal("triggered") }}
	body := []byte(`{"ref":"refs/heads/main"}`)
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", Sign(nil, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

// FuzzWebhook: arbitrary bodies and headers never panic, and nothing
// unsigned ever triggers.
func FuzzWebhook(f *testing.F) {
	f.Add("push", []byte(`{"ref":"refs/heads/main"}`), "sha256=00")
	f.Add("pull_request", []byte(`{"number":1}`), "")
	f.Add("pull_request", []byte(`[`), "sha256=")
	f.Fuzz(func(t *testing.T, event string, body []byte, signature string) {
		h := &WebhookHandler{Secret: secret, Trigger: func(Event) {
			if !ValidSignature(secret, body, signature) {
				t.Fatalf("triggered by an unsigned body")
			}
		}}
		req := httptest.NewRequest(http.MethodPost, "/hooks/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-Hub-Signature-256", signature)
		h.ServeHTTP(httptest.NewRecorder(), req)
		_, _ = ParseEvent(event, body)
	})
}

// TestValidSignature: only X-Hub-Signature-256's sha256 counts; a correct
// HMAC-SHA1 (the old X-Hub-Signature) or SHA-512 is refused, and so is any
// signature when there is no secret.
func TestValidSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := func(h func() hash.Hash, key []byte) string {
		m := hmac.New(h, key)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	assert.True(t, ValidSignature(secret, body, Sign(secret, body)))
	assert.True(t, ValidSignature(secret, body, "sha256="+mac(sha256.New, secret)))
	assert.False(t, ValidSignature(secret, body, "sha1="+mac(sha1.New, secret)))
	assert.False(t, ValidSignature(secret, body, "sha512="+mac(sha512.New, secret)))
	assert.False(t, ValidSignature(secret, append(body, ' '), Sign(secret, body)))
	assert.False(t, ValidSignature(nil, body, "sha256="+mac(sha256.New, nil)), "no secret, no valid signature")
	assert.False(t, ValidSignature(secret, body, "sha256=zz"))
}
