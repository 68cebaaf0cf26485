package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
)

// Prefix is the path under which the dashboard is served.
const Prefix = "/ui/"

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure the dashboard.
type Options struct {
	// Lineage reads the lineage branch; required.
	Lineage Lineage
	// Daemon is the running daemon; nil shows the lineage pages only
	// (`trellis lineage serve`).
	Daemon Daemon
	// Redactor hides secrets in the daemon's free text (errors,
	// problems); default: redact.Default().
	Redactor *redact.Redactor
	// Refresh is how often pages refresh themselves where JavaScript
	// runs. Default 5s.
	Refresh time.Duration
	// Timeout bounds the reads of one page. Default 10s.
	Timeout time.Duration
	// Log receives the errors of pages; default slog.Default().
	Log *slog.Logger
}

// server is the dashboard.
type server struct {
	o     Options
	pages map[string]*template.Template
	links linker
}

// Handler returns the dashboard, which serves GET and HEAD under Prefix
// and redirects "/" there; every other method is refused.
func Handler(o Options) (http.Handler, error) {
	if o.Lineage == nil {
		return nil, errors.New("dashboard: no lineage reader")
	}
	if o.Redactor == nil {
		o.Redactor = redact.Default()
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &server{o: o, links: linker{prefix: Prefix}, pages: map[string]*template.Template{}}
	if err := s.parse(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"{$}", s.clusters)
	mux.HandleFunc("GET "+Prefix+"clusters/{cluster}", s.cluster)
	mux.HandleFunc("GET "+Prefix+"runs/{run}", s.run)
	mux.HandleFunc("GET "+Prefix+"lineage", s.lineageIndex)
	mux.HandleFunc("GET "+Prefix+"lineage/endpoints/{cluster}/{endpoint}", s.endpointGraph)
	mux.HandleFunc("GET "+Prefix+"lineage/commits/{revision}", s.commitGraph)
	mux.HandleFunc("GET "+Prefix+"pulls", s.pulls)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	return secure(mux), nil
}

// securityHeaders are sent with every response: only the dashboard's own
// scripts, styles and images load, no page frames it, nothing is cached.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-store",
}

// secure sets the security headers and refuses every method but GET and
// HEAD: the dashboard changes nothing.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only: GET only", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// parse reads the templates: each page is the layout with its content.
func (s *server) parse() error {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(s.funcs()).ParseFS(assets, "templates/layout.html", name)
		if err != nil {
			return err
		}
		s.pages[base] = t
	}
	return nil
}

// page is what the layout needs besides a page's own data.
type page struct {
	Title string
	// Nav is the section highlighted: clusters, lineage, pulls.
	Nav     string
	Prefix  string
	Daemon  bool
	Refresh int
	Now     time.Time
	Data    any
}

// render writes page name with data.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	var buf bytes.Buffer
	p := page{Title: title, Nav: nav, Prefix: Prefix, Daemon: s.o.Daemon != nil,
		Refresh: int(s.o.Refresh / time.Second), Now: time.Now().UTC(), Data: data}
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.o.Log.Error("dashboard page failed", "page", name, "error", err)
		http.Error(w, "the page could not be drawn; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// fail shows an error page; msg is redacted.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", http.StatusText(status), "", struct {
		Status  int
		Message string
	}{status, s.o.Redactor.Redact(msg)})
}

// ctx bounds the reads of one page.
func (s *server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.o.Timeout)
}

// records reads the lineage branch; a branch not created yet has none.
func (s *server) records(ctx context.Context) ([]lineage.Record, string) {
	recs, err := s.o.Lineage.Records(ctx)
	if err != nil {
		return nil, s.o.Redactor.Redact(err.Error())
	}
	return recs, ""
}

// redact hides secrets in the daemon's free text.
func (s *server) redact(in []string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = s.o.Redactor.Redact(v)
	}
	return out
}
