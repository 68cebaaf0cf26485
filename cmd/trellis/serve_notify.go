package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/notify"
)

// newServeNotifier returns the notifier of --notify-config, or nil
// without one.
func newServeNotifier(path string, log *slog.Logger) (*notify.Notifier, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := notify.LoadConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		// An optional Secret not created yet: run without notifications.
		log.Warn("notify config file missing; no notifications are sent", "file", path)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	log.Info("notifications configured", "providers", len(cfg.Providers))
	return notify.New(cfg, notify.Options{Log: log.With("component", "notify")})
}

// bothRecorded calls each hook that is set with every record.
func bothRecorded(hooks ...func(context.Context, lineage.Record)) func(context.Context, lineage.Record) {
	var set []func(context.Context, lineage.Record)
	for _, h := range hooks {
		if h != nil {
			set = append(set, h)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return func(ctx context.Context, rec lineage.Record) {
		for _, h := range set {
			h(ctx, rec)
		}
	}
}

// withNotifier runs n (when set) beside fn, until fn returns.
func withNotifier(n *notify.Notifier, fn func(context.Context) error) func(context.Context) error {
	if n == nil {
		return fn
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.Run(ctx) }()
		defer wg.Wait()
		defer cancel()
		return fn(ctx)
	}
}

// notifierRecord is n's Recorded hook, nil without a notifier.
func notifierRecord(n *notify.Notifier) func(context.Context, lineage.Record) {
	if n == nil {
		return nil
	}
	return n.Record
}
