// Command trellis is a GitOps reconciler for machine-learning platforms on
// Kubernetes. See README.md for every command.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"trellis.dev/trellis/render"
)

func main() {
	if render.IsRenderChild() {
		// serve and pr render what pull requests propose in a child
		// process of this binary, bounded in time and memory.
		os.Exit(render.ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	routeKlog(os.Stderr, slog.LevelWarn)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// routeKlog sends what client-go logs through klog ("E1201 ...
// memcache.go:265] couldn't get resource list", "Unhandled Error") to a
// slog text handler on w, from level up, instead of raw to stderr.
// trellis serve routes it to its own logger (see useKlog).
func routeKlog(w io.Writer, level slog.Level) {
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("source", "client-go"))
}

// useKlog sends klog's lines to log, the daemon's logger, in its format.
func useKlog(log *slog.Logger) {
	klog.SetSlogLogger(log.With("source", "client-go"))
}
