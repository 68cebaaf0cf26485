package lineage

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"trellis.dev/trellis/reconcile/redact"
)

// DefaultLogLimit is the size at which a run log is truncated.
const DefaultLogLimit = 1 << 20

// teeHandler sends each log record, redacted, to next (standard output)
// and to the run's log: the same record at the same moment, as tee does.
type teeHandler struct {
	next slog.Handler
	log  slog.Handler
	red  *redact.Redactor
}

var _ slog.Handler = (*teeHandler)(nil)

// NewTeeHandler returns a handler that writes each record to next and, as
// text, to w; both get the record after red (which may be nil) has
// redacted its message and attributes. next may be nil.
func NewTeeHandler(next slog.Handler, w io.Writer, level slog.Leveler, red *redact.Redactor) slog.Handler {
	if next == nil {
		next = slog.DiscardHandler
	}
	return &teeHandler{next: next, log: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), red: red}
}

// Enabled reports whether either side takes records of level.
func (h *teeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level) || h.log.Enabled(ctx, level)
}

// Handle writes the redacted record to both sides.
func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redactAttr(a))
		return true
	})
	var errs []error
	if h.next.Enabled(ctx, r.Level) {
		errs = append(errs, h.next.Handle(ctx, out.Clone()))
	}
	if h.log.Enabled(ctx, r.Level) {
		errs = append(errs, h.log.Handle(ctx, out))
	}
	return errors.Join(errs...)
}

// WithAttrs returns a tee whose sides both have the redacted attrs.
func (h *teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.redactAttr(a)
	}
	return &teeHandler{next: h.next.WithAttrs(red), log: h.log.WithAttrs(red), red: h.red}
}

// WithGroup returns a tee whose sides are both in group name.
func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{next: h.next.WithGroup(name), log: h.log.WithGroup(name), red: h.red}
}

func (h *teeHandler) redact(s string) string {
	if h.red == nil {
		return s
	}
	return h.red.Redact(s)
}

// redactAttr redacts a string, an error, a Stringer or any other value
// (printed with %v), and the attributes of a group.
func (h *teeHandler) redactAttr(a slog.Attr) slog.Attr {
	if h.red == nil {
		return a
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.red.Redact(v.String()))
	case slog.KindAny:
		s := textOf(v.Any())
		if r := h.red.Redact(s); r != s {
			return slog.String(a.Key, r)
		}
		return slog.Attr{Key: a.Key, Value: v}
	case slog.KindGroup:
		group := v.Group()
		out := make([]any, len(group))
		for i, g := range group {
			out[i] = h.redactAttr(g)
		}
		return slog.Group(a.Key, out...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// textOf is a value as slog's text handler prints it: bytes as a string,
// a TextMarshaler's text, else %v (which also shows the strings a JSON
// handler would print).
func textOf(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// boundedBuffer keeps the first limit bytes written to it, then one note
// that the rest was dropped. Each Write is kept whole or dropped whole, so
// that the log ends on a complete line.
type boundedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int
	truncated bool
}

// Write appends p while it fits.
func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return len(p), nil
	}
	if b.buf.Len()+len(p) > b.limit {
		b.truncated = true
		fmt.Fprintf(&b.buf, "... run log truncated at %d bytes\n", b.limit)
		return len(p), nil
	}
	return b.buf.Write(p)
}

// Bytes is a copy of what was kept.
func (b *boundedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
