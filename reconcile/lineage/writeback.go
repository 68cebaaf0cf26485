package lineage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/source"
)

// The author and committer of lineage commits unless told otherwise
// (`--lineage-author`, whose default is DefaultAuthor).
const (
	DefaultAuthorName  = "trellis"
	DefaultAuthorEmail = "trellis@localhost"
	DefaultAuthor      = DefaultAuthorName + " <" + DefaultAuthorEmail + ">"
)

// DefaultBranch is the lineage branch of the config repo.
const DefaultBranch = "trellis/lineage"

// remoteName is the remote of the Writer's repository.
const remoteName = "origin"

// Backoff bounds the retries of a push: Attempts tries, waiting Initial,
// then twice as long each time up to Max, with jitter.
type Backoff struct {
	Initial, Max time.Duration
	Attempts     int
}

// DefaultBackoff is used when Writer.Backoff is zero.
var DefaultBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 10 * time.Second, Attempts: 10}

// DefaultAttemptTimeout bounds one fetch-and-push attempt when
// Writer.AttemptTimeout is zero: a remote that accepts connections and
// never answers costs one attempt this long, not forever.
const DefaultAttemptTimeout = 30 * time.Second

// Writer keeps lineage records on disk until they are pushed, and pushes
// each as one commit on the lineage branch. It keeps a bare repository in
// StateDir/lineage.git, so that each push fetches only what other writers
// added. One Writer per StateDir; its methods are safe for concurrent use.
type Writer struct {
	// RepoURL is the config repo (any URL go-git pushes to, or a path).
	RepoURL string
	// Auth is the credentials for RepoURL (nil: none).
	Auth transport.AuthMethod
	// Branch is the lineage branch (default DefaultBranch).
	Branch string
	// AuthorName and AuthorEmail sign the commits (default DefaultAuthor).
	AuthorName, AuthorEmail string
	// StateDir holds pending records and the repository.
	StateDir string
	// Redactor, when set, redacts records and logs again as they are
	// queued.
	Redactor *redact.Redactor
	Backoff  Backoff
	// AttemptTimeout bounds each fetch-and-push attempt of Flush (default
	// DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// Log receives the Writer's own logs (nil: discarded).
	Log *slog.Logger
	// Now is the clock of commit times (default time.Now).
	Now func() time.Time

	// pushing holds one token, taken by the Flush that pushes: a caller
	// waiting for another's push gives up when its context ends.
	pushing     chan struct{}
	pushingOnce sync.Once
	// stateMu guards held and every change of the pending directory
	// (write, replace, reject, remove), so that a reader never sees a run
	// half moved, and a run is never filed as rejected while it is pushed.
	stateMu sync.Mutex
	// held are the runs Held by this process and not yet Enqueued.
	held map[string]bool
	// beforePush, in tests, runs between the fetch and the push.
	beforePush func()
}

// Enqueue writes the record and its log to STATE/pending/<run-id>/,
// atomically, where they stay until Flush pushed them. It replaces the
// run's Held record.
func (w *Writer) Enqueue(rec Record, log []byte) error {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	if err := w.write(rec, log); err != nil {
		return err
	}
	delete(w.held, rec.RunID)
	return nil
}

// Write queues recs, each with log, and pushes every pending record. An
// error says which records stay queued on disk, for a later Flush.
func (w *Writer) Write(ctx context.Context, log []byte, recs ...Record) error {
	for _, rec := range recs {
		if err := w.Enqueue(rec, log); err != nil {
			return fmt.Errorf("lineage record %s: %w", rec.RunID, err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		return fmt.Errorf("lineage records stay queued in %s: %w", w.StateDir, err)
	}
	return nil
}

// Hold writes a run's record as it stands to disk, as Enqueue does, but
// Flush leaves it alone until Enqueue replaces it with the finished
// record: a run being followed is pushed once, when it is done. Should the
// process stop first, the next Writer of the state directory, knowing
// nothing of the hold, pushes the record as it was held.
func (w *Writer) Hold(rec Record, log []byte) error {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	if err := w.write(rec, log); err != nil {
		return err
	}
	if w.held == nil {
		w.held = map[string]bool{}
	}
	w.held[rec.RunID] = true
	return nil
}

// isHeld reports whether this process holds run id. The caller holds
// stateMu.
func (w *Writer) isHeld(id string) bool { return w.held[id] }

// write redacts and writes a pending run, replacing one this process
// holds. The caller holds stateMu.
func (w *Writer) write(rec Record, log []byte) error {
	if err := validRunID(rec.RunID); err != nil {
		return err
	}
	if w.Redactor != nil {
		var err error
		if rec, err = rec.Redacted(w.Redactor); err != nil {
			return err
		}
		log = []byte(w.Redactor.Redact(string(log)))
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	if w.held[rec.RunID] {
		return replacePending(w.StateDir, rec, data, log)
	}
	return writePending(w.StateDir, rec, data, log)
}

// Pending is the number of records waiting to be pushed (held ones
// included). It only reads: a broken record is counted, and filed as
// rejected by the next Flush.
func (w *Writer) Pending() (int, error) {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	return countPending(w.StateDir)
}

// Flush pushes every pending record, one commit each, in run-id order. A
// rejected push is fetched, re-made on the new tip and retried with
// backoff; records leave the disk only once their push succeeded. It
// returns an error when the attempts ran out or ctx ended; the records
// then stay pending for the next Flush.
func (w *Writer) Flush(ctx context.Context) error {
	w.pushingOnce.Do(func() { w.pushing = make(chan struct{}, 1) })
	select {
	case w.pushing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("lineage records stay pending: waiting for another push: %w", ctx.Err())
	}
	defer func() { <-w.pushing }()
	w.stateMu.Lock()
	runs, rerr := readPending(w.StateDir, w.isHeld)
	w.stateMu.Unlock()
	if len(runs) == 0 {
		return rerr
	}
	repo, err := w.open()
	if err != nil {
		return errors.Join(rerr, err)
	}
	b := w.backoff()
	delay := b.Initial
	for attempt := 1; ; attempt++ {
		err = w.attempt(ctx, repo, runs)
		if err == nil {
			w.stateMu.Lock()
			defer w.stateMu.Unlock()
			return errors.Join(rerr, removeAll(runs))
		}
		if attempt >= b.Attempts || ctx.Err() != nil {
			break
		}
		w.logger().Info("lineage push retried", "attempt", attempt, "error", err)
		if werr := wait(ctx, jitter(delay)); werr != nil {
			err = werr
			break
		}
		delay = min(2*delay, b.Max)
	}
	return errors.Join(rerr, fmt.Errorf("lineage branch %s of %s: %d records stay pending: %w",
		w.branch(), source.StripCredentials(w.RepoURL), len(runs), err))
}

// attempt is one pushOnce, bounded by AttemptTimeout.
func (w *Writer) attempt(ctx context.Context, repo *git.Repository, runs []pendingRun) error {
	timeout := w.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("the lineage remote did not answer within %s (the push is retried; records wait on disk)", timeout))
	defer cancel()
	err := w.pushOnce(actx, repo, runs)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		return fmt.Errorf("%w: %w", context.Cause(actx), err)
	}
	return err
}

// pushOnce fetches the branch, commits the runs not yet on it on top and
// pushes without force.
func (w *Writer) pushOnce(ctx context.Context, repo *git.Repository, runs []pendingRun) error {
	tip, err := w.fetch(ctx, repo)
	if err != nil {
		return err
	}
	pushed, err := onBranch(repo, tip, runs)
	if err != nil {
		return err
	}
	head := tip
	for _, p := range runs {
		if pushed[p.record.RunID] {
			continue // pushed before a crash or a lost reply
		}
		if head, err = commitRun(repo.Storer, head, p, w.signature()); err != nil {
			return err
		}
	}
	if head == tip {
		return nil
	}
	if w.beforePush != nil {
		w.beforePush()
	}
	local := plumbing.NewBranchReferenceName(w.branch())
	if err := repo.Storer.SetReference(plumbing.NewHashReference(local, head)); err != nil {
		return fmt.Errorf("branch %s: %w", w.branch(), err)
	}
	err = repo.PushContext(ctx, &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(local + ":" + local)},
		Auth:       w.Auth,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push: %w", err)
	}
	w.logger().Info("lineage pushed", "branch", w.branch(), "commit", head.String(), "records", len(runs)-len(pushed))
	return nil
}

// fetch updates the remote-tracking branch and returns its tip; zero when
// the branch (or the whole repository) does not exist yet.
func (w *Writer) fetch(ctx context.Context, repo *git.Repository) (plumbing.Hash, error) {
	tracking := plumbing.NewRemoteReferenceName(remoteName, w.branch())
	spec := config.RefSpec("+" + plumbing.NewBranchReferenceName(w.branch()) + ":" + tracking)
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName, RefSpecs: []config.RefSpec{spec}, Auth: w.Auth, Force: true,
	})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch) || errors.Is(err, transport.ErrEmptyRemoteRepository):
		_ = repo.Storer.RemoveReference(tracking)
		return plumbing.ZeroHash, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	ref, err := repo.Storer.Reference(tracking)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch: %s: %w", tracking, err)
	}
	return ref.Hash(), nil
}

// onBranch returns the run ids whose record is already in tip's tree.
func onBranch(repo *git.Repository, tip plumbing.Hash, runs []pendingRun) (map[string]bool, error) {
	out := map[string]bool{}
	if tip.IsZero() {
		return out, nil
	}
	c, err := repo.CommitObject(tip)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", tip, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", tip, err)
	}
	for _, p := range runs {
		if _, err := tree.File(p.record.Dir() + "/" + recordFile); err == nil {
			out[p.record.RunID] = true
		}
	}
	return out, nil
}

// open opens (or creates) the bare repository in the state directory, its
// remote pointing at RepoURL.
func (w *Writer) open() (*git.Repository, error) {
	path := filepath.Join(w.StateDir, "lineage.git")
	repo, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(path, true)
	}
	if err != nil {
		return nil, fmt.Errorf("lineage repository %s: %w", path, err)
	}
	if r, err := repo.Remote(remoteName); err == nil && len(r.Config().URLs) == 1 && r.Config().URLs[0] == w.RepoURL {
		return repo, nil
	}
	_ = repo.DeleteRemote(remoteName)
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{w.RepoURL}}); err != nil {
		return nil, fmt.Errorf("lineage repository %s: %w", path, err)
	}
	return repo, nil
}

func (w *Writer) branch() string {
	if w.Branch == "" {
		return DefaultBranch
	}
	return w.Branch
}

func (w *Writer) backoff() Backoff {
	b := w.Backoff
	if b.Attempts <= 0 {
		b.Attempts = DefaultBackoff.Attempts
	}
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max < b.Initial {
		b.Max = max(b.Initial, DefaultBackoff.Max)
	}
	return b
}

func (w *Writer) signature() object.Signature {
	sig := object.Signature{Name: w.AuthorName, Email: w.AuthorEmail, When: time.Now()}
	if w.Now != nil {
		sig.When = w.Now()
	}
	if sig.Name == "" {
		sig.Name = DefaultAuthorName
	}
	if sig.Email == "" {
		sig.Email = DefaultAuthorEmail
	}
	return sig
}

func (w *Writer) logger() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// jitter returns d plus up to half of d, at random, so that writers that
// collided do not collide again.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/2+1))
}

// wait waits d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func removeAll(runs []pendingRun) error {
	var errs []error
	for _, p := range runs {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("pending run %s: %w", p.record.RunID, err))
		}
	}
	return errors.Join(errs...)
}
