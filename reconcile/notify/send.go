package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"trellis.dev/trellis/reconcile/lineage"
)

// Message is the body of one event for a provider's type: the Event as
// JSON for a webhook, a Slack message (text in Slack's mrkdwn, with
// Slack's three control characters escaped) for slack.
func Message(providerType string, e Event) ([]byte, error) {
	if providerType != TypeSlack {
		return json.Marshal(e)
	}
	icon := map[string]string{KindFailed: ":x:", KindRecovered: ":white_check_mark:", KindPinned: ":rocket:"}[e.Kind]
	if e.Kind == KindRunFinished {
		icon = ":checkered_flag:"
		if e.Run != nil && e.Run.Phase != "Succeeded" {
			icon = ":warning:"
		}
	}
	text := fmt.Sprintf("%s *trellis*: %s", icon, slackEscape(e.Title))
	var ctx []string
	if e.Source.Message != "" {
		ctx = append(ctx, "commit "+slackEscape(lineage.FirstLine(e.Source.Message)))
	}
	if e.Source.Author != "" {
		ctx = append(ctx, "by "+slackEscape(e.Source.Author))
	}
	ctx = append(ctx, "run "+slackEscape(e.RunID))
	text += "\n" + strings.Join(ctx, " · ")
	for i, msg := range e.Errors {
		if i == 3 {
			text += fmt.Sprintf("\n… and %d more errors", len(e.Errors)-3)
			break
		}
		text += "\n> " + slackEscape(lineage.FirstLine(msg))
	}
	return json.Marshal(map[string]string{"text": text})
}

// slackEscape escapes what Slack reads as markup: &, < and >.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Retry bounds the attempts of one event to one provider.
type Retry struct {
	// Attempts is the most requests for one event (default 5).
	Attempts int
	// Backoff is the first wait after a failure (default 2s); it doubles,
	// up to MaxWait (default 1m). A 429's Retry-After is honoured up to
	// MaxWait.
	Backoff, MaxWait time.Duration
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Backoff <= 0 {
		r.Backoff = 2 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = time.Minute
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
	return r
}

// errPermanent marks an answer that another attempt will not change (a 4xx
// other than 408 and 429).
var errPermanent = errors.New("refused")

// send posts body to p, retrying as r says; it returns the last error.
// Errors name the provider and the HTTP status, never the URL.
func send(ctx context.Context, client *http.Client, p Provider, body []byte, r Retry) error {
	wait := r.Backoff
	var err error
	for attempt := 1; attempt <= r.Attempts; attempt++ {
		var retryAfter time.Duration
		retryAfter, err = post(ctx, client, p, body, r.Timeout)
		if err == nil || errors.Is(err, errPermanent) || attempt == r.Attempts {
			return err
		}
		d := min(max(wait, retryAfter), r.MaxWait)
		wait *= 2
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped while retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}

// post sends one request and says how long the receiver asked to wait.
func post(ctx context.Context, client *http.Client, p Provider, body []byte, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: a bad request", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "trellis")
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) { // *url.Error quotes the URL: keep only its cause
			err = ue.Unwrap()
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(secs) * time.Second, fmt.Errorf("HTTP %d", code)
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout:
		return 0, fmt.Errorf("%w: HTTP %d", errPermanent, code)
	default:
		return 0, fmt.Errorf("HTTP %d", code)
	}
}
