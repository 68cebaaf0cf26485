package lineage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/redact"
)

// FollowOptions configure Follow.
type FollowOptions struct {
	// Interval is the time between two reads of a target; 0 reads each
	// target once. (Callers take it from clusterrun.FollowInterval,
	// trellis' one default.)
	Interval time.Duration
	// Timeout bounds the following; 0 leaves it to ctx. (Callers take it
	// from clusterrun.FollowTimeout.)
	Timeout time.Duration
	// OnFinished, when not nil, is called once for each target as it
	// finishes (see Observe), from Follow's goroutine: the daemon re-pins
	// endpoints when a pipeline run has succeeded.
	OnFinished func(Followed)
	// Log, when not nil, gets each phase change at Info ("run Running",
	// "run Succeeded", with kind, namespace and name) and what went wrong
	// at Debug.
	Log *slog.Logger
	// PodLogs, when not nil, gets the logs of the main container of every
	// Pod node of a Workflow when it finishes, each line prefixed with
	// "[<workflow>/<step>] ".
	PodLogs io.Writer
	// PodLogLimit bounds the pod logs of one Workflow run, in bytes
	// (default DefaultPodLogLimit).
	PodLogLimit int
	// Redactor hides secrets in the pod logs; nil hides nothing. (The
	// Followed results are redacted with the rest of the Record.)
	Redactor *redact.Redactor
}

func (o FollowOptions) withDefaults() FollowOptions {
	if o.PodLogLimit <= 0 {
		o.PodLogLimit = DefaultPodLogLimit
	}
	return o
}

// Targets returns what the apply of cs started or updated and is to be
// followed: the Argo Workflows, Katib Experiments and KServe
// InferenceServices it created or configured, sorted by kind, namespace
// and name. Unchanged objects are not followed: a run that already
// existed was followed by the apply that created it, and an unchanged
// InferenceService serves what it served before.
func Targets(cs *reconcile.ChangeSet) []reconcile.ObjectRef {
	if cs == nil || cs.DryRun {
		return nil
	}
	var out []reconcile.ObjectRef
	for _, c := range cs.Changes {
		if c.Action.Wrote() && Followable(c.Object) {
			out = append(out, c.Object)
		}
	}
	sort.Slice(out, func(i, j int) bool { return refLess(out[i], out[j]) })
	return out
}

// Follow reads each target every opts.Interval until all have finished
// (see Observe), opts.Timeout has passed or ctx ends, and returns the last
// observation of each, sorted by kind, namespace and name.
//
// A target still not finished when following stops keeps the phase last
// seen, with a message saying so ("following stopped after 30m: still
// Running"). A target that could never be read has phase Unknown and the
// error as message; one that is gone (deleted, or of a kind the cluster
// does not serve) is given up at once. Follow runs in the caller's
// goroutine and starts none that outlive it.
func Follow(ctx context.Context, c *reconcile.Client, targets []reconcile.ObjectRef, opts FollowOptions) []Followed {
	opts = opts.withDefaults()
	parent := ctx
	cancel := context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
	}
	defer cancel()
	f := newFollower(c, targets, opts)
	for {
		f.poll(ctx)
		if f.allDone() || ctx.Err() != nil || opts.Interval <= 0 {
			break
		}
		timer := time.NewTimer(opts.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
	}
	if !f.allDone() {
		reason := "following stopped after " + shortDuration(opts.Timeout)
		switch err := parent.Err(); {
		case err != nil:
			reason = "following stopped (" + err.Error() + ")"
		case opts.Interval <= 0 && ctx.Err() == nil:
			reason = "read once"
		}
		f.stop(reason)
	}
	return f.results()
}

// notRead is the message of a target not read yet.
const notRead = "not read yet"

// target is one object being followed.
type target struct {
	ref  reconcile.ObjectRef
	last Followed
	// read: the object was read at least once; done: it is no longer
	// polled (it finished, or is gone).
	read, done bool
}

// follower holds the state of one Follow.
type follower struct {
	c       *reconcile.Client
	opts    FollowOptions
	log     *slog.Logger
	targets []*target
	// reset records that the REST mapper was reset once after a kind
	// was not found, in case it was installed after discovery was cached.
	reset   bool
	core    kubernetes.Interface
	coreErr error
}

func newFollower(c *reconcile.Client, refs []reconcile.ObjectRef, opts FollowOptions) *follower {
	f := &follower{c: c, opts: opts, log: opts.Log}
	if f.log == nil {
		f.log = discardLogger
	}
	seen := map[reconcile.ObjectRef]bool{}
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		f.targets = append(f.targets, &target{ref: ref, last: Followed{
			Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Phase: PhaseUnknown, Message: notRead,
		}})
	}
	sort.Slice(f.targets, func(i, j int) bool { return refLess(f.targets[i].ref, f.targets[j].ref) })
	return f
}

func (f *follower) allDone() bool {
	for _, t := range f.targets {
		if !t.done {
			return false
		}
	}
	return true
}

// poll reads each target not done yet, once. Reads cut short by the end
// of ctx change nothing.
func (f *follower) poll(ctx context.Context) {
	for _, t := range f.targets {
		if t.done || ctx.Err() != nil {
			continue
		}
		f.read(ctx, t)
	}
}

// read reads one target and records what it saw.
func (f *follower) read(ctx context.Context, t *target) {
	gvk := schema.GroupVersionKind{Group: t.ref.Group, Version: t.ref.Version, Kind: t.ref.Kind}
	ri, _, err := f.c.Resource(gvk, t.ref.Namespace)
	if meta.IsNoMatchError(err) && !f.reset {
		f.reset = true
		f.c.Mapper.Reset()
		ri, _, err = f.c.Resource(gvk, t.ref.Namespace)
	}
	if meta.IsNoMatchError(err) {
		f.giveUp(t, fmt.Sprintf("kind not served by the cluster: %v", err))
		return
	}
	if err == nil {
		obj, gerr := ri.Get(ctx, t.ref.Name, metav1.GetOptions{})
		switch {
		case gerr == nil:
			f.observe(ctx, t, obj)
			return
		case ctx.Err() != nil:
			return
		case apierrors.IsNotFound(gerr):
			f.giveUp(t, gerr.Error())
			return
		}
		err = gerr
	}
	f.log.Debug("run not read", "kind", t.ref.Kind, "namespace", t.ref.Namespace, "name", t.ref.Name, "error", err)
	if !t.read {
		t.last.Phase, t.last.Message = PhaseUnknown, err.Error()
	}
}

// giveUp stops following a target that will never be read.
func (f *follower) giveUp(t *target, msg string) {
	f.log.Warn("run not followed", "kind", t.ref.Kind, "namespace", t.ref.Namespace, "name", t.ref.Name, "error", msg)
	t.last.Phase, t.last.Message = PhaseUnknown, msg
	t.done = true
}

// observe records the observation of a target read from the cluster.
func (f *follower) observe(ctx context.Context, t *target, obj *unstructured.Unstructured) {
	now, finished := Observe(obj)
	if !t.read || now.Phase != t.last.Phase {
		f.log.Info("run "+now.Phase, "kind", now.Kind, "namespace", now.Namespace, "name", now.Name)
	}
	t.read, t.last = true, now
	if !finished {
		return
	}
	t.done = true
	if t.ref.Group == "argoproj.io" && t.ref.Kind == "Workflow" {
		f.podLogs(ctx, obj)
	}
	if f.opts.OnFinished != nil {
		f.opts.OnFinished(now)
	}
}

// stop notes, on each target not done, that following stopped.
func (f *follower) stop(reason string) {
	for _, t := range f.targets {
		if t.done {
			continue
		}
		if !t.read {
			if t.last.Message == notRead {
				t.last.Message = reason + " before it was read"
			}
			continue
		}
		msg := reason + ": still " + t.last.Phase
		if t.last.Message != "" {
			msg += ": " + t.last.Message
		}
		t.last.Message = msg
		f.log.Warn("run "+t.last.Phase+" when following stopped", "kind", t.ref.Kind, "namespace", t.ref.Namespace, "name", t.ref.Name)
	}
}

func (f *follower) results() []Followed {
	out := make([]Followed, len(f.targets))
	for i, t := range f.targets {
		out[i] = t.last
	}
	return out
}

func refLess(a, b reconcile.ObjectRef) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Group < b.Group
}

// shortDuration prints d without its zero tails: 30m, 1h, 1h30m, 50ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
