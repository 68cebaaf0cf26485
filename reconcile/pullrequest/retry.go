package pullrequest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of requests that GitHub answered with a
// rate limit.
type RetryPolicy struct {
	// Attempts is the most requests sent for one call, the first one
	// included (default 5).
	Attempts int
	// Backoff is the first wait when GitHub gives no hint (no Retry-After,
	// no exhausted X-RateLimit-Remaining); it doubles with each attempt.
	// GitHub asks for at least a minute (the default).
	Backoff time.Duration
	// MaxWait is the longest single wait (default 10 minutes): an answer
	// that asks for longer is returned at once, so that a check never
	// holds its caller for an hour.
	MaxWait time.Duration
	// RequestTimeout bounds each request sent, its body read included
	// (default DefaultRequestTimeout): an API that accepts connections and
	// never answers fails the call, never holds it.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout bounds one request to GitHub when
// RetryPolicy.RequestTimeout is zero.
const DefaultRequestTimeout = 30 * time.Second

// withDefaults fills the zero fields of p.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Backoff <= 0 {
		p.Backoff = time.Minute
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 10 * time.Minute
	}
	if p.RequestTimeout <= 0 {
		p.RequestTimeout = DefaultRequestTimeout
	}
	return p
}

// retryTransport retries requests that GitHub refused for a rate limit:
// 429, or 403 with Retry-After, an exhausted X-RateLimit-Remaining or a
// message about a rate limit (a 403 for missing permissions is not
// retried). It waits as GitHub documents: Retry-After seconds, else until
// X-RateLimit-Reset when no request is left, else an exponential backoff;
// the wait ends early when the request's context does.
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
	// sleep waits d or until ctx is done (sleepContext); tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

var _ http.RoundTripper = (*retryTransport)(nil)

// newRetryTransport wraps next (http.DefaultTransport when nil).
func newRetryTransport(next http.RoundTripper, p RetryPolicy) *retryTransport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &retryTransport{next: next, policy: p.withDefaults(), sleep: sleepContext, now: time.Now}
}

// RoundTrip sends req, and again after a wait while GitHub answers with a
// rate limit and attempts are left. A request whose body cannot be sent
// twice is not retried.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	attempt := req
	for n := 1; ; n++ {
		resp, err := t.send(attempt)
		if err != nil {
			return nil, err
		}
		wait, limited := t.rateLimitWait(resp, n)
		if !limited || n >= t.policy.Attempts || wait > t.policy.MaxWait || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		attempt = req.Clone(req.Context())
		if req.GetBody != nil {
			if attempt.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// send sends one request, bounded by the policy's RequestTimeout; the
// deadline holds until the answer's body is closed.
func (t *retryTransport) send(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.policy.RequestTimeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's context when its answer's body is
// closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// rateLimitWait says whether resp is a rate limit and, if so, how long to
// wait before attempt n+1.
func (t *retryTransport) rateLimitWait(resp *http.Response, n int) (time.Duration, bool) {
	h := resp.Header
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
	case resp.StatusCode != http.StatusForbidden:
		return 0, false
	case h.Get("Retry-After") != "", h.Get("X-RateLimit-Remaining") == "0":
	case !mentionsRateLimit(resp):
		return 0, false
	}
	if d, ok := retryAfter(h.Get("Retry-After"), t.now()); ok {
		return d, true
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(0, time.Unix(reset, 0).Sub(t.now())), true
		}
	}
	return t.policy.Backoff << (n - 1), true
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(max(0, s)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now)), true
	}
	return 0, false
}

// mentionsRateLimit reports whether the body of resp (a 403) speaks of a
// rate limit, as GitHub's secondary rate limit messages do. The body is
// put back for the caller.
func mentionsRateLimit(resp *http.Response) bool {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return err == nil && strings.Contains(strings.ToLower(string(body)), "rate limit")
}

// sleepContext waits d, or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
