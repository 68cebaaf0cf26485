package render

import "math"

// mergeUpstream merges a declaration's upstream field, a JSON merge patch
// (RFC 7386), into dst, a rendered object's spec or part of one: an object
// merges key by key, null removes the key, any other value (a list
// included) replaces it. Numbers become int64 where they are whole, as the
// rest of a rendered object has them.
func mergeUpstream(dst, patch map[string]any) {
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[k] = sub
			}
			mergeUpstream(sub, v)
		default:
			dst[k] = normalized(v)
		}
	}
}

// normalized returns a JSON value with whole numbers as int64, and maps
// without null values (a merge patch's nulls only remove).
func normalized(v any) any {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalized(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if x != nil {
				out[k] = normalized(x)
			}
		}
		return out
	}
	return v
}
