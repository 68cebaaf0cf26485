package clusterrun

import (
	"time"

	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile"
)

// The defaults of every run, whoever starts it. (The author of lineage
// commits is lineage.DefaultAuthor, the lineage writer's own.)
const (
	// RequestTimeout bounds each request to a cluster (apply, diff, wait,
	// follow, the pull-request check's dry run, reading a kubeconfig
	// Secret), so that an unreachable cluster fails instead of hanging.
	RequestTimeout = 30 * time.Second
	// FollowInterval is the time between two reads of a followed run.
	FollowInterval = 2 * time.Second
	// FollowTimeout bounds how long the daemon follows the runs an apply
	// started (`trellis serve --follow-timeout`); `apply --wait` follows
	// within its own --timeout.
	FollowTimeout = 30 * time.Minute
)

// NewClient is the client of the cluster cfg reaches, each request bounded
// by RequestTimeout unless cfg sets a timeout of its own.
func NewClient(cfg *rest.Config) (*reconcile.Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = RequestTimeout
	}
	return reconcile.NewClient(cfg)
}
