package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"trellis.dev/trellis/reconcile/mlkind"
)

// Poll intervals of Wait: the first poll is immediate, then the interval
// grows by half each time up to waitMaxInterval, so that objects that are
// ready at once cost one round of lists and slow ones cost little.
const (
	waitMinInterval = 100 * time.Millisecond
	waitMaxInterval = 2 * time.Second
	// waitListers bounds the lists Wait sends at once.
	waitListers = 8
)

// ErrWaitTimeout is wrapped by the error Wait returns when objects are
// still not done at the timeout.
var ErrWaitTimeout = errors.New("timed out")

// Readiness is the health of one object when Wait returned.
type Readiness struct {
	Ref     ObjectRef     `json:"object"`
	Status  mlkind.Status `json:"status"`
	Message string        `json:"message,omitempty"`
}

// Done reports whether the object reached a final state.
func (r Readiness) Done() bool { return r.Status.Done() }

// String prints "ref Status: message", for logs.
func (r Readiness) String() string {
	s := r.Ref.String() + " " + string(r.Status)
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// Wait polls the objects refs name until every one is done (ready or
// failed, see mlkind.Status.Done), the timeout passes or ctx ends. A timeout of 0
// or less leaves only ctx to bound the wait.
//
// Each poll costs one List per (kind, namespace), whatever the number of
// objects. progress, when not nil, is called from Wait's goroutine each
// time an object's status or message changes.
//
// The result has one Readiness per ref, in the order of refs, even when
// the error is not nil. The error wraps ErrWaitTimeout when objects were
// still not done at the timeout, or ctx's error; failed objects are not an
// error of Wait: they are in the result.
func Wait(ctx context.Context, c *Client, refs []ObjectRef, timeout time.Duration, progress func(ObjectRef, mlkind.Status, string)) ([]Readiness, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	w := newWaiter(c, refs, progress)
	interval := waitMinInterval
	for {
		w.poll(ctx)
		pending := w.pending()
		if len(pending) == 0 {
			return w.results, nil
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return w.results, waitError(ctx.Err(), timeout, pending)
		case <-timer.C:
		}
		interval = min(interval*3/2, waitMaxInterval)
	}
}

// waitError explains why Wait gave up on the pending objects.
func waitError(err error, timeout time.Duration, pending []Readiness) error {
	names := make([]string, 0, 3)
	for _, r := range pending[:min(len(pending), 3)] {
		names = append(names, r.String())
	}
	if len(pending) > 3 {
		names = append(names, fmt.Sprintf("and %d more", len(pending)-3))
	}
	if errors.Is(err, context.DeadlineExceeded) && timeout > 0 {
		err = fmt.Errorf("%w after %s", ErrWaitTimeout, timeout)
	}
	return fmt.Errorf("wait: %d objects not ready (%s): %w", len(pending), strings.Join(names, "; "), err)
}

// waitGroup is the objects of one kind in one namespace: one List each.
type waitGroup struct {
	gvk       schema.GroupVersionKind
	namespace string
	// index of each object's name in waiter.results
	names map[string]int
}

// waiter holds the state of one Wait.
type waiter struct {
	c        *Client
	results  []Readiness
	groups   []*waitGroup
	progress func(ObjectRef, mlkind.Status, string)
	// reset records that the REST mapper was reset once after a kind
	// was not found, in case it was installed after discovery was cached.
	reset bool
}

func newWaiter(c *Client, refs []ObjectRef, progress func(ObjectRef, mlkind.Status, string)) *waiter {
	w := &waiter{c: c, results: make([]Readiness, len(refs)), progress: progress}
	byKey := map[string]*waitGroup{}
	for i, ref := range refs {
		w.results[i] = Readiness{Ref: ref, Status: mlkind.StatusUnknown, Message: "not checked yet"}
		gvk := refGVK(ref)
		key := gvk.String() + "|" + ref.Namespace
		g := byKey[key]
		if g == nil {
			g = &waitGroup{gvk: gvk, namespace: ref.Namespace, names: map[string]int{}}
			byKey[key] = g
			w.groups = append(w.groups, g)
		}
		g.names[ref.Name] = i
	}
	return w
}

// pending returns the results not done yet.
func (w *waiter) pending() []Readiness {
	var out []Readiness
	for _, r := range w.results {
		if !r.Done() {
			out = append(out, r)
		}
	}
	return out
}

// poll lists every group that still has objects not done, and updates the
// results. Lists cut short by the end of ctx change nothing.
func (w *waiter) poll(ctx context.Context) {
	var mu sync.Mutex
	got := map[int]Readiness{}
	eg := errgroup.Group{}
	eg.SetLimit(waitListers)
	for _, g := range w.groups {
		if !w.groupPending(g) {
			continue
		}
		ri, err := w.resource(g)
		eg.Go(func() error {
			res := w.check(ctx, g, ri, err)
			if res == nil || ctx.Err() != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			for name, i := range g.names {
				got[i] = res[name]
			}
			return nil
		})
	}
	_ = eg.Wait() // check reports errors in the results
	for i := range w.results {
		if r, ok := got[i]; ok {
			w.set(i, r.Status, r.Message)
		}
	}
}

// resource returns the resource interface of g's kind. A kind that is
// not found is looked up again once, after resetting the REST mapper, in
// case its CRD was installed after discovery was cached.
func (w *waiter) resource(g *waitGroup) (dynamic.ResourceInterface, error) {
	ri, _, err := w.c.Resource(g.gvk, g.namespace)
	if meta.IsNoMatchError(err) && !w.reset {
		w.reset = true
		w.c.Mapper.Reset()
		ri, _, err = w.c.Resource(g.gvk, g.namespace)
	}
	return ri, err
}

func (w *waiter) groupPending(g *waitGroup) bool {
	for _, i := range g.names {
		if !w.results[i].Done() {
			return true
		}
	}
	return false
}

// set records a new status and reports it to progress when it changed.
func (w *waiter) set(i int, s mlkind.Status, msg string) {
	r := &w.results[i]
	if r.Status == s && r.Message == msg {
		return
	}
	r.Status, r.Message = s, msg
	if w.progress != nil {
		w.progress(r.Ref, s, msg)
	}
}

// check lists one group and returns the health of each of its objects,
// by name. A kind the cluster does not serve (mapErr) fails its objects;
// any other error leaves them Unknown, to be tried again at the next poll.
func (w *waiter) check(ctx context.Context, g *waitGroup, ri dynamic.ResourceInterface, mapErr error) map[string]Readiness {
	out := make(map[string]Readiness, len(g.names))
	all := func(s mlkind.Status, msg string) map[string]Readiness {
		for name := range g.names {
			out[name] = Readiness{Status: s, Message: msg}
		}
		return out
	}
	switch {
	case meta.IsNoMatchError(mapErr):
		return all(mlkind.StatusFailed, fmt.Sprintf("kind not served by the cluster: %v", mapErr))
	case mapErr != nil:
		return all(mlkind.StatusUnknown, mapErr.Error())
	}
	opts := metav1.ListOptions{}
	if len(g.names) == 1 {
		for name := range g.names {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	list, err := ri.List(ctx, opts)
	if err != nil {
		if deadlineNear(ctx, err) {
			return nil // the wait is ending: keep what the last poll saw
		}
		return all(mlkind.StatusUnknown, "list: "+listErrorMessage(err))
	}
	found := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		found[list.Items[i].GetName()] = &list.Items[i]
	}
	for name := range g.names {
		s, msg := mlkind.Health(found[name])
		out[name] = Readiness{Status: s, Message: msg}
	}
	return out
}

// listErrorMessage shortens an apiserver error to its message.
func listErrorMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status().Message
	}
	return err.Error()
}

// refGVK returns the group, version and kind of ref.
func refGVK(ref ObjectRef) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: ref.Group, Version: ref.Version, Kind: ref.Kind}
}

// deadlineNear reports whether err comes from the wait's own deadline,
// reached or, as client-go's rate limiter says before it is, about to be.
func deadlineNear(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "would exceed context deadline")
}
