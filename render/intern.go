package render

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// An interner makes the objects of one render share their equal parts:
// below an object's top level, but its metadata, every map or list equal
// to one met before in the same render is replaced by that one. Rendered
// declarations repeat themselves (the same parameters, resources,
// artifacts, node selectors, often whole specs in a generated repo), and a
// Go map costs some 300 bytes however small: sharing them is most of the
// memory a render of thousands of declarations keeps. It is the rule a
// Cache already keeps (see cache_render.go): what is below an object's
// metadata is never changed once rendered; whoever changes it changes a
// DeepCopy.
//
// An interner lives for one render: an object rendered again (its
// declaration changed) gets maps no earlier render's object has, which
// the render child's wire relies on (see bodyKey).
type interner struct {
	mu    sync.Mutex
	maps  map[string]map[string]any
	lists map[string][]any
}

func newInterner() *interner {
	return &interner{maps: map[string]map[string]any{}, lists: map[string][]any{}}
}

// objects interns the top-level values but metadata of objs, in place. A
// nil interner does nothing.
func (in *interner) objects(objs []*unstructured.Unstructured) {
	if in == nil {
		return
	}
	w := &internWork{in: in}
	for _, o := range objs {
		if o == nil {
			continue
		}
		for k, v := range o.Object {
			if k == "metadata" {
				continue
			}
			if c, ok := w.value(v); ok {
				o.Object[k] = c
			}
		}
	}
}

// internWork is one goroutine's interning: its buffers.
type internWork struct {
	in   *interner
	key  []byte
	keys []string
}

// value returns the shared value equal to v; ok is false for a value of a
// type it does not know (which it leaves, and whose parents it does not
// share). It replaces v's maps and lists by shared ones.
func (w *internWork) value(v any) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		known := true
		for k, x := range v {
			c, ok := w.value(x)
			known = known && ok
			if ok && composite(c) {
				v[k] = c
			}
		}
		if !known {
			return v, false
		}
		keys := w.keys[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.keys = keys[:0]
		b := append(w.key[:0], '{')
		for _, k := range keys {
			b = appendRaw(b, k)
			b = appendName(b, v[k])
			b = append(b, ',')
		}
		w.key = b
		return shared(&w.in.mu, w.in.maps, b, v), true
	case []any:
		known := true
		for i, x := range v {
			c, ok := w.value(x)
			known = known && ok
			if ok && composite(c) {
				v[i] = c
			}
		}
		if !known {
			return v, false
		}
		if len(v) == 0 {
			return v, true // nothing to share
		}
		b := append(w.key[:0], '[')
		for _, x := range v {
			b = appendName(b, x)
			b = append(b, ',')
		}
		w.key = b
		return shared(&w.in.mu, w.in.lists, b, v), true
	case string, bool, int64, int, nil:
		return v, true
	case float64:
		return v, !math.IsNaN(v)
	}
	return v, false
}

func composite(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// appendName appends a name of v, a value value returned: a shared map or
// list by its address (the interner keeps it, so no other takes it) and,
// for a list, its length (a shorter list may start at the same address);
// any other by its type and value.
func appendName(b []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		b = append(b, 'm')
		return strconv.AppendUint(b, uint64(reflect.ValueOf(v).Pointer()), 16)
	case []any:
		if len(v) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, 'l')
		b = strconv.AppendUint(b, uint64(reflect.ValueOf(v).Pointer()), 16)
		b = append(b, ':')
		return strconv.AppendInt(b, int64(len(v)), 10)
	case string:
		return appendRaw(append(b, 's'), v)
	case bool:
		return strconv.AppendBool(b, v)
	case int64:
		b = append(b, 'i')
		return strconv.AppendInt(b, v, 10)
	case int:
		b = append(b, 'i')
		return strconv.AppendInt(b, int64(v), 10)
	case float64:
		b = append(b, 'f')
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case nil:
		return append(b, "null"...)
	}
	panic(fmt.Sprintf("render: interning a %T", v))
}

// appendRaw appends s after its length, which tells where it ends.
func appendRaw(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// shared returns the value seen first under key in seen, v if none was,
// and keeps it there.
func shared[T any](mu *sync.Mutex, seen map[string]T, key []byte, v T) T {
	mu.Lock()
	defer mu.Unlock()
	if c, hit := seen[string(key)]; hit {
		return c
	}
	seen[string(key)] = v
	return v
}
