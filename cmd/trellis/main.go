// Command trellis is a GitOps reconciler for machine-learning platforms on
// Kubernetes. See README.md for every command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"trellis.dev/trellis/render"
)

func main() {
	if render.IsRenderChild() {
		// serve and pr render what pull requests propose in a child
		// process of this binary, bounded in time and memory.
		os.Exit(render.ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
