// Package kubeproxy is a loopback HTTP proxy in front of the test control
// plane's kube-apiserver, for fault tests. A client reaches the real
// apiserver through it (plain HTTP on 127.0.0.1; the proxy holds the
// credentials), and the test can make it hang: requests that match Hold
// (or every request, after Stall) are held, unanswered, until Resume or
// until their client gives up. Every request is recorded with a sequence
// number shared by all proxies of the test binary, so that the requests of
// two proxies can be ordered.
package kubeproxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// seq orders the events of every proxy of the process.
var seq atomic.Int64

// Event is the beginning or the end of one request.
type Event struct {
	// Seq orders events across every proxy of the process.
	Seq    int64
	Method string
	Path   string
	Query  string
	// End is false when the request arrived, true when its answer was
	// written (or its client gave up).
	End bool
	// Held is true on the end of a request that was held.
	Held bool
}

// Proxy forwards to a kube-apiserver.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:PORT.
	URL string

	mu      sync.Mutex
	hold    func(*http.Request) bool
	stalled bool
	resume  chan struct{}
	events  []Event
	holding int
	// changed is closed and replaced whenever events or holding change.
	changed chan struct{}
}

// Start starts a proxy to the apiserver of cfg, stopped when t ends.
func Start(t testing.TB, cfg *rest.Config) *Proxy {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	require.NoError(t, err)
	transport, err := rest.TransportFor(cfg)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // watches stream
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p := &Proxy{resume: make(chan struct{}), changed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: p.handler(rp)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		p.Resume()
		_ = srv.Close()
	})
	return p
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.record(Event{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
		held := false
		// The end is recorded even when the reverse proxy panics with
		// http.ErrAbortHandler, as it does when the client went away
		// (a replica killed) while its answer was copied.
		defer func() {
			p.record(Event{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, End: true, Held: held})
		}()
		p.mu.Lock()
		if p.stalled || (p.hold != nil && p.hold(r)) {
			held = true
			p.holding++
			resume := p.resume
			p.notifyLocked()
			p.mu.Unlock()
			select {
			case <-resume:
			case <-r.Context().Done():
			}
			p.mu.Lock()
			p.holding--
			p.notifyLocked()
		}
		p.mu.Unlock()
		if r.Context().Err() == nil {
			next.ServeHTTP(w, r)
		}
	})
}

func (p *Proxy) record(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Seq = seq.Add(1)
	p.events = append(p.events, e)
	p.notifyLocked()
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Hold holds, from now on, the requests for which match is true (nil:
// none), until Resume or until their client gives up.
func (p *Proxy) Hold(match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = match
}

// Stall holds every request from now on: the apiserver hangs.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Resume answers the held requests and holds none any more.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled, p.hold = false, nil
	close(p.resume)
	p.resume = make(chan struct{})
}

// Events returns a copy of the events so far.
func (p *Proxy) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// Holding is the number of requests held now.
func (p *Proxy) Holding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding
}

// Changed returns a channel closed at the next event or change of the
// requests held, to wait on conditions without polling.
func (p *Proxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// RESTConfig reaches the apiserver through the proxy.
func (p *Proxy) RESTConfig() *rest.Config {
	return &rest.Config{Host: p.URL, QPS: 200, Burst: 400}
}

// Kubeconfig writes a kubeconfig whose one context, contextName (also
// its current context), reaches the apiserver through the proxy, and
// returns its path.
func (p *Proxy) Kubeconfig(t testing.TB, contextName string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: p.URL}
	cfg.AuthInfos[contextName] = &clientcmdapi.AuthInfo{}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	cfg.CurrentContext = contextName
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// Count is how many requests of events (their starts) match.
func Count(events []Event, match func(Event) bool) int {
	n := 0
	for _, e := range events {
		if !e.End && match(e) {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds, looking again at each request or change
// of the requests held (no polling); after two minutes it fails t with msg.
func (p *Proxy) WaitFor(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	guard := time.After(2 * time.Minute)
	for {
		changed := p.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-guard:
			t.Fatal(msg)
		}
	}
}
