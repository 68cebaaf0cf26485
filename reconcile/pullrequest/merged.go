package pullrequest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
)

// SummaryOptions configure Summaries.
type SummaryOptions struct {
	// GitHub is the repository's API client.
	GitHub *GitHub
	// Redact are patterns (Go regexps) hidden in the comment besides what
	// the records already hide; nil means redact.DefaultPatterns.
	Redact []string
	Log    *slog.Logger
	// Attempts bounds the tries to post one record's summary (default 5);
	// Backoff is the wait after the first failure, doubled after each
	// (default 30s). GitHub's rate limits are waited out below that, by
	// the client's transport.
	Attempts int
	Backoff  time.Duration
	// Done, when set, is called after each record was handled, from Run's
	// goroutine: err is the last failure when the summary could not be
	// posted.
	Done func(rec lineage.Record, err error)
}

// Queue bounds.
const (
	// maxQueuedRecords is the most records waiting for Run; beyond, the
	// oldest is dropped (and logged).
	maxQueuedRecords = 256
	// maxRevisions is the most revisions whose clusters Summaries
	// remembers; the oldest is forgotten first.
	maxRevisions = 64
)

// Summaries posts, on each merged pull request whose merge commit was
// applied, one comment per revision that sums up every cluster's run of
// it: result, objects changed, runs followed, pins and run id. Record
// queues a record and returns at once; Run posts, one record at a time.
type Summaries struct {
	o        SummaryOptions
	redactor *redact.Redactor
	sleep    func(ctx context.Context, d time.Duration) error
	wake     chan struct{}

	mu    sync.Mutex
	queue []lineage.Record

	// revisions is what was posted per revision; only Run's goroutine
	// reads and writes it.
	revisions map[string]*revisionState
	order     []string // revisions, oldest first
}

// revisionState is the sections of one revision's summary.
type revisionState struct {
	sections map[string]appliedSection // by cluster
	// posted is set when the summary holding every section was posted
	// (or there was no merged pull request to post it on).
	posted bool
}

// NewSummaries returns Summaries; Run starts them.
func NewSummaries(o SummaryOptions) (*Summaries, error) {
	if o.GitHub == nil {
		return nil, errors.New("merged pull request summaries: no GitHub client")
	}
	if o.Redact == nil {
		o.Redact = redact.DefaultPatterns
	}
	redactor, err := redact.New(o.Redact)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	return &Summaries{o: o, redactor: redactor, sleep: sleepContext, wake: make(chan struct{}, 1),
		revisions: map[string]*revisionState{}}, nil
}

// Record queues the finished record of a cluster's run for its
// revision's summary. It never blocks: when Run is behind by
// maxQueuedRecords, the oldest record is dropped, and logged.
func (s *Summaries) Record(_ context.Context, rec lineage.Record) {
	s.mu.Lock()
	if len(s.queue) == maxQueuedRecords {
		old := s.queue[0]
		s.queue = s.queue[1:]
		s.o.Log.Warn("merged pull request summary dropped: too many records waiting", "cluster", old.Cluster, "revision", old.Source.Revision, "run", old.RunID)
	}
	s.queue = append(s.queue, rec)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run posts the summaries of the queued records until ctx ends.
func (s *Summaries) Run(ctx context.Context) error {
	for {
		for {
			rec, ok := s.next()
			if !ok || ctx.Err() != nil {
				break
			}
			err := s.handle(ctx, rec)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				s.o.Log.Error("merged pull request summary not posted", "cluster", rec.Cluster, "revision", rec.Source.Revision, "run", rec.RunID, "error", err)
			}
			if s.o.Done != nil {
				s.o.Done(rec, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// next takes the oldest queued record.
func (s *Summaries) next() (lineage.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return lineage.Record{}, false
	}
	rec := s.queue[0]
	s.queue = s.queue[1:]
	return rec, true
}

// handle adds rec's section to its revision's summary and posts it, when
// the section is news: a cluster's first run of the revision, or one
// after a failed run. Later runs of the same revision (drift
// corrections) leave the summary as it is.
func (s *Summaries) handle(ctx context.Context, rec lineage.Record) error {
	rev := rec.Source.Revision
	if rev == "" || rec.Cluster == "" {
		return nil
	}
	st := s.revision(rev)
	changed := addSection(st.sections, renderAppliedSection(rec, s.redactor))
	if !changed && st.posted {
		return nil
	}
	var err error
	for attempt := 1; ; attempt++ {
		if err = s.post(ctx, rec, st); err == nil {
			st.posted = true
			return nil
		}
		st.posted = false
		if attempt >= s.o.Attempts || ctx.Err() != nil {
			return err
		}
		wait := s.o.Backoff << (attempt - 1)
		s.o.Log.Warn("merged pull request summary not posted; retrying", "cluster", rec.Cluster, "revision", rev, "attempt", attempt, "wait", wait.String(), "error", err)
		if serr := s.sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// revision is the state of rev, created (and the oldest forgotten) when
// new.
func (s *Summaries) revision(rev string) *revisionState {
	if st, ok := s.revisions[rev]; ok {
		return st
	}
	if len(s.order) == maxRevisions {
		delete(s.revisions, s.order[0])
		s.order = s.order[1:]
	}
	st := &revisionState{sections: map[string]appliedSection{}}
	s.revisions[rev], s.order = st, append(s.order, rev)
	return st
}

// post updates the summary of the revision on each merged pull request
// of it: the comment's sections (those of an earlier process included)
// merged with st's.
func (s *Summaries) post(ctx context.Context, rec lineage.Record, st *revisionState) error {
	gh := s.o.GitHub
	rev := rec.Source.Revision
	prs, err := gh.PullRequestsOfCommit(ctx, rev)
	if err != nil {
		return err
	}
	marker := AppliedMarker(rev)
	var errs []error
	for _, pr := range prs {
		if !pr.Merged {
			continue
		}
		old, err := gh.findComment(ctx, pr.Number, marker)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sections := parseAppliedSections(old.GetBody())
		for _, sec := range st.sections {
			addSection(sections, sec)
		}
		src := rec.Source
		src.Ref = s.redactor.Redact(src.Ref)
		body := renderApplied(&pr, src, sections)
		c, err := gh.putComment(ctx, pr.Number, old, body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.o.Log.Info("merged pull request summary posted", "pr", pr.Number, "revision", rev, "cluster", rec.Cluster, "comment", c.Action, "url", c.HTMLURL)
	}
	return errors.Join(errs...)
}

// addSection puts sec into sections when it replaces what is there (see
// replacesSection), and reports whether it did.
func addSection(sections map[string]appliedSection, sec appliedSection) bool {
	old, ok := sections[sec.cluster]
	if ok && !replacesSection(old.result, sec.result) {
		return false
	}
	if ok && old.text == sec.text {
		return false
	}
	sections[sec.cluster] = sec
	return true
}

// replacesSection decides whether a cluster's run of a revision with
// result next replaces, in the summary, the run already shown with
// result old: the first run of a revision is the one that applied it,
// so a later run (a drift correction, a daemon restarted) only replaces
// a failed run, whose retry tells how the revision ended.
func replacesSection(old, next lineage.Result) bool {
	return old == lineage.Failed && next != ""
}
