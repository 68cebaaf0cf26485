package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/daemon"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

// serveTokenEnv is where `trellis serve` finds the GitHub token first
// when no file is given; $GITHUB_TOKEN comes next, as for `trellis pr`.
const serveTokenEnv = "TRELLIS_GITHUB_TOKEN"

// serveGitHubOptions are the flags of serve's pull-request side.
type serveGitHubOptions struct {
	repo, apiURL, tokenFile string
	pollInterval            time.Duration
	requestTimeout          time.Duration
}

func addServeGitHubFlags(f *pflag.FlagSet, o *serveGitHubOptions) {
	f.StringVar(&o.repo, "github-repo", "", "the config repo on GitHub, OWNER/NAME: check its open pull requests and sum up merged ones once applied (default: none)")
	f.StringVar(&o.apiURL, "github-api-url", "", "GitHub's REST API (default https://api.github.com; https://HOST/api/v3 for GitHub Enterprise Server)")
	f.StringVar(&o.tokenFile, "github-token-file", "", "file holding the GitHub token (default: $"+serveTokenEnv+", else $"+tokenEnv+")")
	f.DurationVar(&o.requestTimeout, "github-request-timeout", pullrequest.DefaultRequestTimeout, "how long one request to GitHub's API may take before it fails (the check is tried again at the next poll)")
	f.DurationVar(&o.pollInterval, "pr-poll-interval", pullrequest.DefaultPollInterval, "time between two listings of the open pull requests, besides pull_request webhooks")
}

// serveGitHub is serve's pull-request side: a watcher that checks each
// new head of the open pull requests, and the summaries of merged ones.
// A nil *serveGitHub (no --github-repo) does nothing.
type serveGitHub struct {
	watcher   *pullrequest.Watcher
	summaries *pullrequest.Summaries
}

// newServeGitHub builds the pull-request side from o, or nil without
// --github-repo. The live dry-run of a pull request reaches its clusters
// through conn, as the daemon does; a fork never gets a client.
func newServeGitHub(o serveOptions, conn *clusterrun.Pool, records *lineage.Writer, checked func(context.Context, int, *pullrequest.Result, error), log *slog.Logger) (*serveGitHub, error) {
	g := o.github
	if g.repo == "" {
		if g.apiURL != "" || g.tokenFile != "" {
			return nil, usageError{errors.New("--github-api-url and --github-token-file need --github-repo")}
		}
		return nil, nil
	}
	if g.pollInterval <= 0 {
		return nil, usageError{fmt.Errorf("--pr-poll-interval must be positive, not %s", g.pollInterval)}
	}
	token, err := serveGitHubToken(g.tokenFile)
	if err != nil {
		return nil, err
	}
	keys, err := o.sops.serveKeys()
	if err != nil {
		return nil, err
	}
	bounds, err := o.render.bounds()
	if err != nil {
		return nil, err
	}
	gh, err := pullrequest.NewGitHub(pullrequest.GitHubOptions{APIURL: g.apiURL, Token: token, Repo: g.repo,
		Retry: pullrequest.RetryPolicy{RequestTimeout: g.requestTimeout}})
	if err != nil {
		return nil, usageError{err}
	}
	work := filepath.Join(o.stateDir, "pr")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("pull request checks: %w", err)
	}
	log = log.With("github", g.repo)
	watcher := pullrequest.NewWatcher(pullrequest.WatchOptions{
		GitHub: gh, PollInterval: g.pollInterval, Log: log, Checked: bothChecked(recordChecks(records, log), checked),
		Check: pullrequest.Options{
			GitToken: token, WorkDir: work, Path: o.path, SourceID: o.sourceID, RenderBounds: bounds, SOPS: keys,
			Dial: func(ctx context.Context, cluster render.Cluster, _ bool) (*reconcile.Client, error) {
				return conn.Connect(ctx, cluster)
			},
		},
	})
	summaries, err := pullrequest.NewSummaries(pullrequest.SummaryOptions{GitHub: gh, Log: log})
	if err != nil {
		return nil, err
	}
	return &serveGitHub{watcher: watcher, summaries: summaries}, nil
}

// recordChecks returns the watcher's hook that has the lineage records of
// every pull-request check queued and pushed by w, from the watcher's
// goroutine: a slow push delays the next check (at most
// recordChecksTimeout), never an apply; stopping the watcher stops the
// push, and the records wait on disk. Nil without w.
func recordChecks(w *lineage.Writer, log *slog.Logger) func(context.Context, int, *pullrequest.Result, error) {
	if w == nil {
		return nil
	}
	return func(ctx context.Context, _ int, res *pullrequest.Result, _ error) {
		if res == nil || res.Started.IsZero() || res.Finished.IsZero() {
			return // the check did not get as far as the pull request
		}
		ctx, cancel := context.WithTimeout(ctx, recordChecksTimeout)
		defer cancel()
		if err := w.Write(ctx, []byte(res.Body), res.Records()...); err != nil {
			log.Warn("lineage records of a pull-request check not pushed yet", "pr", res.PullRequest.Number, "error", err)
		}
	}
}

// recordChecksTimeout bounds the push of a check's lineage records.
const recordChecksTimeout = 2 * time.Minute

// bothChecked calls a, then b, each when set.
func bothChecked(a, b func(context.Context, int, *pullrequest.Result, error)) func(context.Context, int, *pullrequest.Result, error) {
	return func(ctx context.Context, n int, res *pullrequest.Result, err error) {
		for _, f := range []func(context.Context, int, *pullrequest.Result, error){a, b} {
			if f != nil {
				f(ctx, n, res, err)
			}
		}
	}
}

// serveGitHubToken reads the token from file, else from
// $TRELLIS_GITHUB_TOKEN, else from $GITHUB_TOKEN. Its value is never part
// of a message.
func serveGitHubToken(file string) (string, error) {
	if file == "" {
		if token := strings.TrimSpace(os.Getenv(serveTokenEnv)); token != "" {
			return token, nil
		}
		if strings.TrimSpace(os.Getenv(tokenEnv)) == "" {
			return "", usageError{errors.New("--github-repo: no GitHub token: pass --github-token-file or set $" + serveTokenEnv + " or $" + tokenEnv)}
		}
	}
	return githubToken(file)
}

// recorded is the daemon's Recorded hook: each finished record goes to
// the summaries of merged pull requests, without waiting.
func (g *serveGitHub) recorded() func(context.Context, lineage.Record) {
	if g == nil {
		return nil
	}
	return g.summaries.Record
}

// route is the webhook's Trigger (daemon.Route): pull requests are
// checked by the watcher, when --github-repo is set.
func (g *serveGitHub) route(ref source.Ref, poll func()) func(daemon.Event) {
	var check func(int)
	if g != nil {
		check = g.watcher.Notify
	}
	return daemon.Route(ref, poll, check)
}

// around runs fn, and with it the watcher and the summaries, which end
// when fn does.
func (g *serveGitHub) around(fn func(context.Context) error) func(context.Context) error {
	if g == nil {
		return fn
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		for _, run := range []func(context.Context) error{g.watcher.Run, g.summaries.Run} {
			wg.Add(1)
			go func() { defer wg.Done(); _ = run(ctx) }()
		}
		return fn(ctx)
	}
}

// run runs the watcher and the summaries until ctx ends (nil: none); with
// --shards, while shard 0 is held.
func (g *serveGitHub) run(ctx context.Context) error {
	if g == nil {
		return nil
	}
	return g.around(func(ctx context.Context) error { <-ctx.Done(); return nil })(ctx)
}
