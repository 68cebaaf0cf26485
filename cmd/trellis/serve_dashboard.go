package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/spf13/pflag"

	"trellis.dev/trellis/reconcile/dashboard"
	"trellis.dev/trellis/reconcile/lineage"
)

// defaultDashboardAddr keeps the dashboard off the port that receives
// GitHub's webhooks: on loopback, it is reached by a port-forward or an
// auth proxy in the same pod, never by whatever reaches --listen.
const defaultDashboardAddr = "127.0.0.1:8081"

func addDashboardFlag(f *pflag.FlagSet, addr *string) {
	f.StringVar(addr, "dashboard-addr", defaultDashboardAddr,
		"address of the read-only dashboard (under /ui/), a listener of its own; empty: no dashboard")
}

// startDashboard serves the dashboard on addr, nothing when addr is
// empty, and returns when the listener is bound, with the function that
// stops it.
func startDashboard(addr string, o dashboard.Options, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	h, err := dashboard.Handler(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--dashboard-addr: %w", err)
	}
	// Pages in flight end with the server: their reads are canceled.
	base, stop := context.WithCancel(context.Background())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	go func() { _ = srv.Serve(ln) }()
	log.Info("dashboard", "url", "http://"+ln.Addr().String()+dashboard.Prefix)
	return func() {
		stop()
		shutdown, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
	}, nil
}

// dashboardRefresh is how often dashboard pages refresh themselves.
const dashboardRefresh = 3 * time.Second

// serveLineageReader reads the config repo's lineage branch for the
// dashboard, with the source's credentials; without a lineage branch, a
// branch that never exists (the pages then show no run).
func serveLineageReader(o serveOptions) dashboard.Lineage {
	var auth transport.AuthMethod
	if m, err := o.auth.Method(o.repo); err == nil {
		auth = m
	}
	branch := o.lineageBranch
	if branch == "" {
		return noLineage{}
	}
	return &dashboard.Branch{Repo: o.repo, Branch: branch, Auth: auth}
}

// noLineage is the lineage of a serve without --lineage-branch: none.
type noLineage struct{}

func (noLineage) Records(context.Context) ([]lineage.Record, error) { return nil, nil }
func (noLineage) Log(_ context.Context, id string) ([]byte, error) {
	return nil, fmt.Errorf("run %s: %w: serve runs without --lineage-branch", id, lineage.ErrNotFound)
}
