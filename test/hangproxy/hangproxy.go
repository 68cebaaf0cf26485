// Package hangproxy is a loopback HTTP reverse proxy for fault tests: in
// front of a real server (the Git server of test/gitserver, the GitHub
// fake of test/githubapi), it forwards every request until told to hang,
// then accepts connections and requests and never answers them — until
// Answer, or until the client gives up — or to answer every request with
// a status of the test's choice (a 5xx). It counts the requests it got,
// and lets a test wait on them without polling.
package hangproxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proxy forwards to one server.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:PORT.
	URL    string
	target *url.URL

	mu       sync.Mutex
	hanging  bool
	status   int // answer every request with it when not 0
	answer   chan struct{}
	held     int
	requests int
	changed  chan struct{}
}

// Start starts a proxy to target (scheme://host[:port]), stopped when t
// ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	u.Path, u.RawQuery = "", ""
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p := &Proxy{target: u, answer: make(chan struct{}), changed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: p.handler(rp)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		p.Answer()
		_ = srv.Close()
	})
	return p
}

// Rewrite returns u (a URL of the target) with the proxy's scheme and
// host instead, keeping user info, path and query.
func (p *Proxy) Rewrite(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	front, _ := url.Parse(p.URL)
	parsed.Scheme, parsed.Host = front.Scheme, front.Host
	return parsed.String()
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		hanging, answer := p.hanging, p.answer
		if hanging {
			p.held++
		}
		p.notifyLocked()
		p.mu.Unlock()
		if hanging {
			select {
			case <-answer:
			case <-r.Context().Done():
			}
			p.mu.Lock()
			p.held--
			p.notifyLocked()
			p.mu.Unlock()
			if r.Context().Err() != nil {
				return
			}
		}
		p.mu.Lock()
		status := p.status // held requests answer as the proxy does now
		p.mu.Unlock()
		if status != 0 {
			http.Error(w, strings.ToLower(http.StatusText(status)), status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Hang makes every request from now on wait, unanswered, until Answer or
// until its client gives up.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hanging = true
}

// Fail answers every request from now on, and those held, with status.
func (p *Proxy) Fail(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hanging, p.status = false, status
	close(p.answer)
	p.answer = make(chan struct{})
}

// Answer forwards the requests held, and every request from now on.
func (p *Proxy) Answer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hanging, p.status = false, 0
	close(p.answer)
	p.answer = make(chan struct{})
}

// Requests is the number of requests received so far.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Held is the number of requests hanging now.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Changed returns a channel closed at the next request, or when a held
// request ends.
func (p *Proxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}
