package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile/dashboard"
)

// newLineageServeCommand serves the dashboard's lineage pages for a
// lineage branch, without a daemon.
func newLineageServeCommand(s streams) *cobra.Command {
	var f lineageFlags
	var addr string
	cmd := &cobra.Command{
		Use:   "serve --repo R [--addr 127.0.0.1:8081]",
		Short: "Serve the dashboard's lineage pages for a lineage branch, without a daemon",
		Long: `Serve, read-only, the pages of the dashboard of trellis serve that the lineage
branch alone can fill: each cluster as its newest record says, its runs (change
set, followed runs, log) and the lineage graphs of endpoints and commits. The
branch is read again at most every few seconds; the pages refresh themselves.
It binds to loopback by default. Stop it with Ctrl-C.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			auth, err := f.auth.Method(f.repo)
			if err != nil {
				return fmt.Errorf("--repo: %w", err)
			}
			h, err := dashboard.Handler(dashboard.Options{
				Lineage: &dashboard.Branch{Repo: f.repo, Branch: f.branch, Auth: auth},
				Refresh: dashboardRefresh, Log: slog.New(slog.NewTextHandler(s.err, nil)),
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr: %w (pass a free address)", err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			fmt.Fprintf(s.out, "dashboard: http://%s%s\n", ln.Addr(), dashboard.Prefix)
			<-cmd.Context().Done()
			_ = srv.Close()
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&addr, "addr", defaultDashboardAddr, "address to serve on")
	return cmd
}
