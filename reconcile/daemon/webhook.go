package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
)

// MaxWebhookBody bounds the body of a webhook request; GitHub caps its
// payloads at 25 MB, but a push or pull_request event trellis reads is far
// smaller, and the body only triggers a poll.
const MaxWebhookBody = 1 << 20

// DefaultWebhookReadTimeout bounds the reading of a webhook's body: a
// client that sends it slowly, or not at all, gets 408 and holds nothing
// longer.
const DefaultWebhookReadTimeout = 10 * time.Second

// Event is what a verified webhook asks of the daemon.
type Event struct {
	// Kind is the GitHub event: "push" or "pull_request".
	Kind string
	// Ref is the pushed ref (push events).
	Ref string
	// PR is the pull request number (pull_request events).
	PR int
	// Action is the pull_request action (opened, synchronize, closed...).
	Action string
}

// WebhookHandler verifies GitHub webhooks (X-Hub-Signature-256, HMAC-SHA256
// of the body with the shared secret, compared in constant time before the
// body is parsed) and passes each valid push or pull_request event to
// trigger. Anything else is answered without side effects: a bad signature
// 401, a body over MaxWebhookBody 413, a body not read within ReadTimeout
// 408, other events 202 and ignored.
type WebhookHandler struct {
	Secret  []byte
	Trigger func(Event)
	Log     *slog.Logger
	// ReadTimeout bounds the reading of the body (default
	// DefaultWebhookReadTimeout).
	ReadTimeout time.Duration
}

var _ http.Handler = (*WebhookHandler)(nil)

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	timeout := h.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultWebhookReadTimeout
	}
	// Where the server cannot set a deadline (a recorder in tests), the
	// body is read without one.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		case errors.As(err, &netErr) && netErr.Timeout():
			h.logger().Warn("webhook refused: body not read in time", "remote", r.RemoteAddr, "timeout", timeout.String())
			http.Error(w, "body not received in time", http.StatusRequestTimeout)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if len(h.Secret) == 0 || !ValidSignature(h.Secret, body, r.Header.Get("X-Hub-Signature-256")) {
		h.logger().Warn("webhook refused: invalid signature", "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	ev, ok := ParseEvent(r.Header.Get("X-GitHub-Event"), body)
	if !ok {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	h.logger().Info("webhook accepted", "event", ev.Kind, "ref", ev.Ref, "pr", ev.PR, "action", ev.Action)
	if h.Trigger != nil {
		h.Trigger(ev)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *WebhookHandler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// ValidSignature reports whether header is "sha256=" followed by the hex
// HMAC-SHA256 of body under secret (go-github's ValidateSignature, which
// compares in constant time). An empty secret validates nothing, and the
// weaker sha1 of the old X-Hub-Signature header is refused.
func ValidSignature(secret, body []byte, header string) bool {
	if len(secret) == 0 || !strings.HasPrefix(header, "sha256=") {
		return false
	}
	return github.ValidateSignature(header, body, secret) == nil
}

// Sign returns the X-Hub-Signature-256 header value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ParseEvent reads the fields trellis uses from a push or pull_request
// payload (go-github's ParseWebHook); other events, and payloads that do
// not parse, are not events.
func ParseEvent(kind string, body []byte) (Event, bool) {
	if kind != "push" && kind != "pull_request" {
		return Event{}, false
	}
	payload, err := github.ParseWebHook(kind, body)
	if err != nil {
		return Event{}, false
	}
	switch p := payload.(type) {
	case *github.PushEvent:
		return Event{Kind: kind, Ref: p.GetRef()}, true
	case *github.PullRequestEvent:
		return Event{Kind: kind, PR: p.GetNumber(), Action: p.GetAction()}, true
	}
	return Event{}, false
}
