package dashboard

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"trellis.dev/trellis/reconcile/lineage"
)

// Branch reads a lineage branch (lineage.Open) for the dashboard, at most
// once per TTL however many pages ask: a page that refreshes itself every
// few seconds costs one fetch per TTL, not one per reader.
type Branch struct {
	// Repo is a local directory or a URL; Branch the lineage branch
	// (default lineage.DefaultBranch); Auth its credentials.
	Repo   string
	Branch string
	Auth   transport.AuthMethod
	// TTL is how long a read is reused. Default 3s.
	TTL time.Duration

	mu    sync.Mutex
	store *lineage.Store
	read  time.Time
	err   error
}

var _ Lineage = (*Branch)(nil)

// open returns the branch as last read, reading it again past the TTL.
func (b *Branch) open(ctx context.Context) (*lineage.Store, error) {
	ttl := b.TTL
	if ttl <= 0 {
		ttl = 3 * time.Second
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.read.IsZero() && time.Since(b.read) < ttl {
		return b.store, b.err
	}
	store, err := lineage.Open(ctx, b.Repo, b.Branch, b.Auth)
	if err != nil && ctx.Err() != nil {
		return nil, err // not kept: the reader gave up, not the branch
	}
	b.store, b.err, b.read = store, err, time.Now()
	return store, err
}

// Records returns the branch's records, newest first; none while the
// branch does not exist yet.
func (b *Branch) Records(ctx context.Context) ([]lineage.Record, error) {
	store, err := b.open(ctx)
	if err != nil {
		if isNoBranch(err) {
			return nil, nil
		}
		return nil, err
	}
	return store.Records()
}

// Log returns a run's log.
func (b *Branch) Log(ctx context.Context, runID string) ([]byte, error) {
	store, err := b.open(ctx)
	if err != nil {
		return nil, err
	}
	return store.Log(runID)
}

// isNoBranch reports whether err says the lineage branch is not there
// yet (no run recorded).
func isNoBranch(err error) bool {
	return errors.Is(err, transport.ErrEmptyRemoteRepository) || strings.Contains(err.Error(), "reference not found") || strings.Contains(err.Error(), "couldn't find remote ref")
}
