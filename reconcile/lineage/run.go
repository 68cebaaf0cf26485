package lineage

import (
	"io"
	"log/slog"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/source"
)

// RunOptions describe a run as it starts.
type RunOptions struct {
	Source       Source
	Cluster      string
	Declarations []Declaration
	// Handler is where logs go besides the run's log (the daemon's or the
	// CLI's handler, on standard output). Nil discards them.
	Handler slog.Handler
	// Level is the lowest level kept in the run's log (default Info).
	Level slog.Leveler
	// Redactor hides secrets in the log and the record; nil hides nothing.
	Redactor *redact.Redactor
	// LogLimit bounds the run's log (default DefaultLogLimit).
	LogLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Run is one run being recorded: its logger tees to the run's log, and
// Finish makes its Record.
type Run struct {
	opts    RunOptions
	id      string
	started time.Time
	log     *boundedBuffer
	logger  *slog.Logger
}

// NewRun starts a run now.
func NewRun(opts RunOptions) *Run {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	if opts.LogLimit <= 0 {
		opts.LogLimit = DefaultLogLimit
	}
	opts.Source.URL = source.StripCredentials(opts.Source.URL)
	started := opts.Now().UTC()
	r := &Run{
		opts:    opts,
		id:      RunID(started, opts.Cluster, opts.Source.Revision),
		started: started,
		log:     &boundedBuffer{limit: opts.LogLimit},
	}
	h := NewTeeHandler(opts.Handler, r.log, opts.Level, opts.Redactor)
	r.logger = slog.New(h).With("run", r.id)
	return r
}

// ID is the run's id.
func (r *Run) ID() string { return r.id }

// Logger logs to the caller's handler and to the run's log at once.
func (r *Run) Logger() *slog.Logger { return r.logger }

// Log is the run's log so far (redacted, bounded).
func (r *Run) Log() []byte { return r.log.Bytes() }

// PodLogs is where the logs of the pods of the runs being followed go:
// into the run's log only, redacted. Write whole lines.
func (r *Run) PodLogs() io.Writer { return podLogWriter{r} }

type podLogWriter struct{ r *Run }

func (w podLogWriter) Write(p []byte) (int, error) {
	s := string(p)
	if w.r.opts.Redactor != nil {
		s = w.r.opts.Redactor.Redact(s)
	}
	if _, err := w.r.log.Write([]byte(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Finish ends the run and returns its Record, redacted. cs may be nil
// when the run failed before applying; err is the run's error, if any.
func (r *Run) Finish(cs *reconcile.ChangeSet, followed []Followed, err error) Record {
	rec := Record{
		SchemaVersion: SchemaVersion,
		RunID:         r.id,
		Source:        r.opts.Source,
		Cluster:       r.opts.Cluster,
		Started:       r.started,
		Finished:      r.opts.Now().UTC(),
		Result:        ResultOf(cs, followed, err),
		Declarations:  r.opts.Declarations,
		Objects:       []Object{},
		Followed:      followed,
	}
	if rec.Declarations == nil {
		rec.Declarations = []Declaration{}
	}
	if cs != nil {
		rec.Objects = Objects(cs)
		rec.Pins = cs.Pins
		if cs.Error != "" {
			rec.Errors = append(rec.Errors, cs.Error)
		}
	}
	if err != nil && (cs == nil || err.Error() != cs.Error) {
		rec.Errors = append(rec.Errors, err.Error())
	}
	red, rerr := rec.Redacted(r.opts.Redactor)
	if rerr != nil { // never happens: a Record always marshals; write nothing unredacted
		return Record{SchemaVersion: SchemaVersion, RunID: r.id, Cluster: r.opts.Cluster,
			Started: rec.Started, Finished: rec.Finished, Result: Failed, Errors: []string{"record could not be redacted"}}
	}
	return red
}
