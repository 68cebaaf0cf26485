package pullrequest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedTransport answers with its responses in turn and records the
// bodies it was sent.
type scriptedTransport struct {
	responses []*http.Response
	bodies    []string
}

func (s *scriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body := ""
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = string(b)
	}
	s.bodies = append(s.bodies, body)
	resp := s.responses[len(s.bodies)-1]
	resp.Request = req
	return resp, nil
}

// answer is a response with status, headers (name, value, ...) and body.
func answer(status int, body string, headers ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestGitHubRetryTransport(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	const secondary = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`
	tests := []struct {
		name      string
		policy    RetryPolicy
		responses []*http.Response
		waits     []time.Duration
		status    int
	}{
		{"success", RetryPolicy{}, []*http.Response{answer(200, "{}")}, nil, 200},
		{"403 with Retry-After", RetryPolicy{},
			[]*http.Response{answer(403, secondary, "Retry-After", "3"), answer(201, "{}")}, []time.Duration{3 * time.Second}, 201},
		{"Retry-After 0 retries at once", RetryPolicy{},
			[]*http.Response{answer(403, secondary, "Retry-After", "0"), answer(201, "{}")}, []time.Duration{0}, 201},
		{"Retry-After as a date", RetryPolicy{},
			[]*http.Response{answer(429, "", "Retry-After", now.Add(10*time.Second).Format(http.TimeFormat)), answer(200, "{}")}, []time.Duration{10 * time.Second}, 200},
		{"429 without hints backs off exponentially", RetryPolicy{},
			[]*http.Response{answer(429, ""), answer(429, ""), answer(200, "{}")}, []time.Duration{time.Minute, 2 * time.Minute}, 200},
		{"403 secondary message without headers", RetryPolicy{Backoff: time.Second},
			[]*http.Response{answer(403, secondary), answer(201, "{}")}, []time.Duration{time.Second}, 201},
		{"403 primary limit waits until the reset", RetryPolicy{},
			[]*http.Response{answer(403, `{"message":"API rate limit exceeded"}`, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(now.Add(30*time.Second).Unix(), 10)), answer(200, "{}")},
			[]time.Duration{30 * time.Second}, 200},
		{"403 for permissions is not retried", RetryPolicy{},
			[]*http.Response{answer(403, `{"message":"Resource not accessible by integration"}`)}, nil, 403},
		{"500 is not retried", RetryPolicy{}, []*http.Response{answer(500, "")}, nil, 500},
		{"attempts are bounded", RetryPolicy{Attempts: 3},
			[]*http.Response{answer(429, ""), answer(429, ""), answer(429, "")}, []time.Duration{time.Minute, 2 * time.Minute}, 429},
		{"a wait beyond MaxWait gives up", RetryPolicy{},
			[]*http.Response{answer(403, secondary, "Retry-After", "3600")}, nil, 403},
		{"the primary reset beyond MaxWait gives up", RetryPolicy{MaxWait: time.Minute},
			[]*http.Response{answer(403, "", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))}, nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &scriptedTransport{responses: tt.responses}
			rt := newRetryTransport(next, tt.policy)
			var waits []time.Duration
			rt.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			rt.now = func() time.Time { return now }
			req, err := http.NewRequest(http.MethodPost, "https://api.github.com/repos/o/r/issues/1/comments", strings.NewReader(`{"body":"hi"}`))
			require.NoError(t, err)

			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.waits, waits)
			assert.Len(t, next.bodies, len(tt.waits)+1)
			for _, b := range next.bodies {
				assert.Equal(t, `{"body":"hi"}`, b, "the body is sent again on each attempt")
			}
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.NotNil(t, body, "the last answer's body is left to read")
		})
	}
}

func TestGitHubRetryTransportStopsWithItsContext(t *testing.T) {
	next := &scriptedTransport{responses: []*http.Response{answer(429, "", "Retry-After", "5"), answer(200, "")}}
	rt := newRetryTransport(next, RetryPolicy{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.github.com/", nil)
	require.NoError(t, err)
	_, err = rt.RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, next.bodies, 1, "no retry after the context ended")
}

func TestGitHubRetryTransportKeepsTheBodyOfAPermissionError(t *testing.T) {
	const msg = `{"message":"Resource not accessible by integration"}`
	rt := newRetryTransport(&scriptedTransport{responses: []*http.Response{answer(403, msg)}}, RetryPolicy{})
	req, err := http.NewRequest(http.MethodGet, "https://api.github.com/", nil)
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, msg, string(body))
}
