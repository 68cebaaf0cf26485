package notify

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
)

// queueSize is how many events wait for one provider; beyond it the
// oldest is dropped, and the drop is logged.
const queueSize = 100

// Options configure a Notifier.
type Options struct {
	// Redactor hides secrets in every text of an event (titles, errors,
	// commit messages) before it leaves; records are redacted already,
	// this is the second guard. Nil: redact.Default().
	Redactor *redact.Redactor
	// Retry bounds each send.
	Retry Retry
	// Client sends the requests (default: one with no redirects followed).
	Client *http.Client
	Log    *slog.Logger
}

// Notifier sends the events of the records it is given to its providers.
// Record never blocks; Run sends, until its context ends.
type Notifier struct {
	o    Options
	outs []*outbox
	mu   sync.Mutex
	last map[string]lineage.Result // cluster -> result of its last record
}

// outbox is one provider's queue.
type outbox struct {
	p       Provider
	limiter *rate.Limiter
	queue   chan Event
	dropped int
	mu      sync.Mutex
}

// New returns a Notifier for the providers of c.
func New(c Config, o Options) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if o.Redactor == nil {
		o.Redactor = redact.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Retry = o.Retry.withDefaults()
	n := &Notifier{o: o, last: map[string]lineage.Result{}}
	for _, p := range c.Providers {
		perMinute := p.PerMinute
		if perMinute == 0 {
			perMinute = 60
		}
		n.outs = append(n.outs, &outbox{
			p:       p,
			limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), min(perMinute, 10)),
			queue:   make(chan Event, queueSize),
		})
	}
	return n, nil
}

// Record queues the events of rec for every provider that wants them,
// without waiting: it is the daemon's Recorded hook.
func (n *Notifier) Record(_ context.Context, rec lineage.Record) {
	n.mu.Lock()
	previous := n.last[rec.Cluster]
	n.last[rec.Cluster] = rec.Result
	n.mu.Unlock()
	for _, e := range Events(previous, rec) {
		e = n.redact(e)
		for _, out := range n.outs {
			if out.p.wants(e) {
				out.push(e, n.o.Log)
			}
		}
	}
}

// redact hides secrets in the event's texts.
func (n *Notifier) redact(e Event) Event {
	r := n.o.Redactor
	e.Title = r.Redact(e.Title)
	e.Source.Message = r.Redact(e.Source.Message)
	e.Source.Author = r.Redact(e.Source.Author)
	errs := make([]string, len(e.Errors))
	for i, s := range e.Errors {
		errs[i] = r.Redact(s)
	}
	if len(errs) > 0 {
		e.Errors = errs
	}
	if e.Run != nil {
		run := *e.Run
		run.Message = r.Redact(run.Message)
		outs := make([]lineage.Output, len(run.Outputs))
		for i, o := range run.Outputs {
			o.Value = r.Redact(o.Value)
			outs[i] = o
		}
		run.Outputs = outs
		e.Run = &run
	}
	return e
}

// push queues e, dropping the oldest event when the queue is full.
func (o *outbox) push(e Event, log *slog.Logger) {
	for {
		select {
		case o.queue <- e:
			return
		default:
		}
		select {
		case old := <-o.queue:
			o.mu.Lock()
			o.dropped++
			dropped := o.dropped
			o.mu.Unlock()
			log.Warn("notification dropped: the provider's queue is full", "provider", o.p.Name, "event", old.Kind, "run", old.RunID, "dropped", dropped)
		default:
		}
	}
}

// Run sends queued events, each provider on its own, until ctx ends;
// events still queued then are logged as not sent.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, out := range n.outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.drain(ctx, out)
		}()
	}
	wg.Wait()
	return nil
}

// drain sends out's events in order, within its rate limit.
func (n *Notifier) drain(ctx context.Context, out *outbox) {
	log := n.o.Log.With("provider", out.p.Name)
	for {
		select {
		case <-ctx.Done():
			if left := len(out.queue); left > 0 {
				log.Warn("notifications not sent: stopping", "queued", left)
			}
			return
		case e := <-out.queue:
			if err := out.limiter.Wait(ctx); err != nil {
				log.Warn("notification not sent: stopping", "event", e.Kind, "run", e.RunID)
				return
			}
			body, err := Message(out.p.Type, e)
			if err == nil {
				err = send(ctx, n.o.Client, out.p, body, n.o.Retry)
			}
			if err != nil {
				log.Error("notification not sent", "event", e.Kind, "run", e.RunID, "error", err)
				continue
			}
			log.Debug("notification sent", "event", e.Kind, "run", e.RunID)
		}
	}
}
