package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/source"
)

// serveSource adapts a Git source to the daemon.
type serveSource struct {
	src *source.Source
	ref source.Ref // what it follows
}

var _ daemon.Source = serveSource{}

func (s serveSource) Poll(ctx context.Context) (daemon.Snapshot, error) {
	rev, err := s.src.Poll(ctx)
	if err != nil {
		return daemon.Snapshot{}, err
	}
	return daemon.Snapshot{Revision: rev.Commit, Dir: rev.Dir, Changed: rev.Changed,
		Ref: rev.Ref, Author: rev.Author, Message: rev.Message}, nil
}

func newServeSource(o serveOptions) (serveSource, error) {
	ref, err := source.ParseRef(o.ref)
	if err != nil {
		return serveSource{}, usageError{fmt.Errorf("--ref: %w", err)}
	}
	var keys []string
	for _, f := range o.verifyKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return serveSource{}, fmt.Errorf("--verify-key-file: %w", err)
		}
		keys = append(keys, string(b))
	}
	src, err := source.New(source.Spec{
		URL: o.repo, Ref: ref, Path: o.path, Auth: o.auth,
		CacheDir: filepath.Join(o.stateDir, "source"), VerifyKeys: keys,
	})
	if err != nil {
		return serveSource{}, err
	}
	return serveSource{src: src, ref: ref}, nil
}
