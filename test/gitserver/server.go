// Package gitserver runs a real Git HTTP server on loopback for tests:
// `git http-backend` behind net/http/cgi, with optional basic auth, push
// enabled, and request counts by service so that tests can assert how many
// ref listings and fetches a client made.
package gitserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Services counted by the server (keys of Counts).
const (
	// ListUploadPack is a ref listing before a fetch or clone
	// (GET info/refs?service=git-upload-pack).
	ListUploadPack = "info/refs?service=git-upload-pack"
	// UploadPack is a fetch or clone (POST git-upload-pack).
	UploadPack = "git-upload-pack"
	// ListReceivePack is a ref listing before a push.
	ListReceivePack = "info/refs?service=git-receive-pack"
	// ReceivePack is a push (POST git-receive-pack).
	ReceivePack = "git-receive-pack"
	// Other is any other request that passed authentication.
	Other = "other"
	// Unauthorized is a request refused for missing or wrong credentials.
	Unauthorized = "unauthorized"
)

// Options configures a Server.
type Options struct {
	// Username and Password enable basic auth when either is set.
	Username, Password string
	// AllowReachableSHA1InWant sets uploadpack.allowReachableSHA1InWant, so
	// that clients may fetch a commit by its hash (GitHub allows it; a
	// default git http-backend does not).
	AllowReachableSHA1InWant bool
}

// Server is a Git HTTP server on 127.0.0.1. Its repositories live in a
// temporary directory (GIT_PROJECT_ROOT) that outlives Stop and Start.
type Server struct {
	t       testing.TB
	opts    Options
	root    string
	addr    string
	backend http.Handler
	clock   time.Time

	mu     sync.Mutex
	srv    *http.Server
	counts map[string]int
}

// Start starts a server on a random loopback port; it stops when the test
// ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	require.NoError(t, err, "git --exec-path")
	root := t.TempDir()
	s := &Server{
		t:      t,
		opts:   opts,
		root:   root,
		addr:   "127.0.0.1:0",
		counts: map[string]int{},
		clock:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	s.backend = &cgi.Handler{
		Path:   filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Root:   "/",
		Env:    s.env(),
		Stderr: os.Stderr,
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// env is the environment of git http-backend: isolated from the user's
// and the system's Git configuration.
func (s *Server) env() []string {
	env := []string{
		"GIT_PROJECT_ROOT=" + s.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"HOME=" + s.root,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_KEY_0=http.receivepack",
		"GIT_CONFIG_VALUE_0=true",
	}
	if s.opts.AllowReachableSHA1InWant {
		return append(env, "GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_1=uploadpack.allowReachableSHA1InWant",
			"GIT_CONFIG_VALUE_1=true")
	}
	return append(env, "GIT_CONFIG_COUNT=1")
}

// Start (re)starts serving on the server's address: after Stop, on the
// same port, so that clients see the remote come back.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	require.NoError(s.t, err, "gitserver: listen on %s", s.addr)
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "gitserver: %v\n", err)
		}
	}()
}

// Stop closes the listener and every open connection; the repositories
// stay. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	s.srv = nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the clone URL of the repository name (with or without ".git").
func (s *Server) URL(name string) string {
	return "http://" + s.addr + "/" + repoName(name)
}

// RepoDir is the bare repository of name on disk (for file:// tests).
func (s *Server) RepoDir(name string) string {
	return filepath.Join(s.root, repoName(name))
}

func repoName(name string) string {
	if strings.HasSuffix(name, ".git") {
		return name
	}
	return name + ".git"
}

// NewRepo creates an empty bare repository whose default branch is main
// and returns its URL.
func (s *Server) NewRepo(t testing.TB, name string) string {
	t.Helper()
	cmd := exec.Command("git", "init", "--quiet", "--bare", "--initial-branch=main", s.RepoDir(name))
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git init --bare %s: %s", name, out)
	return s.URL(name)
}

// ServeHTTP checks basic auth, counts the request by service and hands it
// to git http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.count(Unauthorized)
		w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.count(service(r))
	s.backend.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.Password == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1
	return ok && userOK && passOK
}

// service names the Git service of a request (one of the constants).
func service(r *http.Request) string {
	switch {
	case strings.HasSuffix(r.URL.Path, "/info/refs"):
		switch r.URL.Query().Get("service") {
		case UploadPack:
			return ListUploadPack
		case ReceivePack:
			return ListReceivePack
		}
	case strings.HasSuffix(r.URL.Path, "/"+UploadPack):
		return UploadPack
	case strings.HasSuffix(r.URL.Path, "/"+ReceivePack):
		return ReceivePack
	}
	return Other
}

func (s *Server) count(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[service]++
}

// Count is the number of requests for service since the start or the last
// ResetCounts.
func (s *Server) Count(service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[service]
}

// Counts is a copy of every count.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// ResetCounts sets every count to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
}
