package pullrequest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// DefaultPollInterval is how often a Watcher lists the open pull requests
// when no webhook tells it sooner.
const DefaultPollInterval = 5 * time.Minute

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// GitHub is the repository's API client.
	GitHub *GitHub
	// Check is the template of every check: RepoURL, GitToken, Dial,
	// WorkDir and Redact are used; GitHub and Number are filled in.
	Check Options
	// PollInterval is the time between two listings of the open pull
	// requests, the fallback when webhooks are missed (default
	// DefaultPollInterval).
	PollInterval time.Duration
	Log          *slog.Logger
	// Checked, when set, is called after every check the watcher ran,
	// from its goroutine, with the watcher's context (it ends when the
	// watcher stops) and the check's result and error.
	Checked func(ctx context.Context, number int, res *Result, err error)
}

// Watcher checks each new head of the open pull requests of a
// repository: it lists them when it starts and every PollInterval, and
// checks a pull request at once when Notify says it changed. Checks run
// one at a time, in Run's goroutine, so that GitHub's rate limits slow
// down pull-request checks and nothing else.
type Watcher struct {
	o    WatchOptions
	wake chan struct{}

	mu      sync.Mutex
	pending []int        // pull requests notified, oldest first
	queued  map[int]bool // the numbers in pending
	// checked is the head SHA and base ref last checked, by number; only
	// Run's goroutine reads and writes it.
	checked map[int]checkKey
}

// checkKey is what a check checked: a pull request is checked again
// when its head moves or its base branch changes.
type checkKey struct {
	headSHA, baseRef string
}

func keyOf(pr *PullRequest) checkKey {
	return checkKey{headSHA: pr.Head.SHA, baseRef: pr.Base.Ref}
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(o WatchOptions) *Watcher {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Watcher{o: o, wake: make(chan struct{}, 1), queued: map[int]bool{}, checked: map[int]checkKey{}}
}

// Notify queues pull request n for a check now (a pull_request webhook:
// opened, synchronize, reopened, edited, ready_for_review). It never
// blocks; a number already queued is queued once.
func (w *Watcher) Notify(n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	if !w.queued[n] {
		w.queued[n] = true
		w.pending = append(w.pending, n)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run lists and checks the open pull requests at once and every
// PollInterval, and the notified ones as they come, until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if w.o.GitHub == nil {
		return errors.New("pull request watcher: no GitHub client")
	}
	ticker := time.NewTicker(w.o.PollInterval)
	defer ticker.Stop()
	w.poll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			w.poll(ctx)
		case <-w.wake:
			w.drain(ctx)
		}
	}
}

// poll lists the open pull requests, forgets the closed ones, and checks
// each whose head was not checked yet. Notified pull requests go first.
func (w *Watcher) poll(ctx context.Context) {
	prs, err := w.o.GitHub.OpenPullRequests(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.o.Log.Error("pull requests not listed; retrying at the next poll", "repo", w.o.GitHub.Repo(), "error", err)
		}
		return
	}
	open := map[int]bool{}
	for _, pr := range prs {
		open[pr.Number] = true
	}
	for n := range w.checked {
		if !open[n] {
			delete(w.checked, n)
		}
	}
	for i := range prs {
		w.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		if w.checked[prs[i].Number] != keyOf(&prs[i]) {
			w.check(ctx, prs[i].Number)
		}
	}
}

// drain checks the notified pull requests whose head was not checked
// yet, oldest first.
func (w *Watcher) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, ok := w.next()
		if !ok {
			return
		}
		pr, err := w.o.GitHub.PullRequest(ctx, n)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				w.o.Log.Error("pull request not read; retrying at the next poll", "pr", n, "error", err)
			}
		case pr.State != "open":
			delete(w.checked, n)
		case w.checked[n] != keyOf(pr):
			w.check(ctx, n)
		}
	}
}

// next takes the oldest notified pull request.
func (w *Watcher) next() (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return 0, false
	}
	n := w.pending[0]
	w.pending = w.pending[1:]
	delete(w.queued, n)
	return n, true
}

// check checks pull request n and remembers its head when the check
// completed; a failed check is logged and tried again at the next poll.
func (w *Watcher) check(ctx context.Context, n int) {
	opts := w.o.Check
	opts.GitHub, opts.Number = w.o.GitHub, n
	log := w.o.Log.With("repo", w.o.GitHub.Repo(), "pr", n)
	res, err := Check(ctx, opts)
	switch {
	case err != nil && ctx.Err() != nil:
		return
	case err != nil:
		log.Error("pull request check failed; retrying at the next poll", "error", err)
	default:
		w.checked[n] = keyOf(&res.PullRequest)
		attrs := []any{"head", res.PullRequest.Head.SHA, "fork", res.Fork}
		if res.Comment != nil {
			attrs = append(attrs, "comment", res.Comment.Action, "url", res.Comment.HTMLURL)
		}
		for _, st := range res.Statuses {
			attrs = append(attrs, st.Context, st.State)
		}
		log.Info("pull request checked", attrs...)
	}
	if w.o.Checked != nil {
		w.o.Checked(ctx, n, res, err)
	}
}
