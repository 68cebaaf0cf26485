package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// The per-kind renderers build objects as plain JSON values: map[string]any,
// []any, string, int64, float64 and bool, the only types unstructured
// objects deep-copy. Lists made from maps are sorted, so the output is
// deterministic.

// ResourceGPU is the extended resource name of NVIDIA GPUs.
const ResourceGPU = "nvidia.com/gpu"

// Limits of the names and label values the renderers make.
const (
	maxNameLen       = 63 // a DNS-1123 label
	maxLabelValueLen = 63
	// maxKatibNameLen is Katib's limit on Experiment names, from which it
	// derives trial and job names.
	maxKatibNameLen = 40
	// hashLen is the number of hex digits of a content hash in a name.
	hashLen = 8
)

// newObject returns an object with the given type, namespace (empty for
// cluster-scoped objects), name, labels and annotations.
func newObject(apiVersion, kind, namespace, name string, labels, annotations map[string]string) *unstructured.Unstructured {
	meta := map[string]any{"name": name}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	if len(labels) > 0 {
		meta["labels"] = stringMap(labels)
	}
	if len(annotations) > 0 {
		meta["annotations"] = stringMap(annotations)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   meta,
	}}
}

// mergeStrings merges string maps; later maps win. It returns nil when all
// are empty.
func mergeStrings(maps ...map[string]string) map[string]string {
	var out map[string]string
	for _, m := range maps {
		for k, v := range m {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// stringMap converts a string map to a JSON object.
func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// anyList converts strings to a JSON array, mapping each through f when f
// is not nil.
func anyList(ss []string, f func(string) string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		if f != nil {
			s = f(s)
		}
		out[i] = s
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quantity returns q in canonical form ("0.5" is "500m"), as the apiserver
// stores it; a string it cannot parse is returned unchanged.
func quantity(q schema.Quantity) string {
	parsed, err := resource.ParseQuantity(string(q))
	if err != nil {
		return string(q)
	}
	return parsed.String()
}

// resourceList returns the cpu, memory and nvidia.com/gpu of r that are
// set, each prefixed with prefix ("requests." in a ResourceQuota), or nil.
func resourceList(r *schema.Resources, prefix string) map[string]any {
	if r == nil {
		return nil
	}
	out := map[string]any{}
	if r.CPU != "" {
		out[prefix+"cpu"] = quantity(r.CPU)
	}
	if r.Memory != "" {
		out[prefix+"memory"] = quantity(r.Memory)
	}
	if r.GPU > 0 {
		out[prefix+ResourceGPU] = strconv.FormatInt(r.GPU, 10)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// containerResources returns a container's resources, or nil when r sets
// nothing: its requests, and its limits where declared. GPUs are limited to
// their request, as Kubernetes requires of extended resources.
//
// CPU and memory without a declared limit are left to the namespace's
// LimitRange default, except when that default is below the request: the
// LimitRanger admission plugin would set it and the apiserver then refuse a
// request above its limit, so the limit is the request, as a pod that asks
// for no more than it needs.
func containerResources(r *schema.WorkloadResources, defaults *schema.Resources) map[string]any {
	if r == nil {
		return nil
	}
	out := map[string]any{}
	setIf(out, "requests", resourceList(&r.Resources, ""))
	var declared schema.ResourceLimits
	if r.Limits != nil {
		declared = *r.Limits
	}
	var fallback schema.Resources
	if defaults != nil {
		fallback = *defaults
	}
	limits := map[string]any{}
	for _, res := range []struct {
		name                     string
		request, limit, fallback schema.Quantity
	}{
		{"cpu", r.CPU, declared.CPU, fallback.CPU},
		{"memory", r.Memory, declared.Memory, fallback.Memory},
	} {
		switch {
		case res.limit != "":
			limits[res.name] = quantity(res.limit)
		case res.request != "" && res.fallback != "" && quantityLess(res.fallback, res.request):
			limits[res.name] = quantity(res.request)
		}
	}
	if r.GPU > 0 {
		limits[ResourceGPU] = strconv.FormatInt(r.GPU, 10)
	}
	if len(limits) > 0 {
		out["limits"] = limits
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// quantityLess reports whether quantity a is less than b; unparsable
// quantities (the schema checked the syntax) compare as not less.
func quantityLess(a, b schema.Quantity) bool {
	qa, err1 := resource.ParseQuantity(string(a))
	qb, err2 := resource.ParseQuantity(string(b))
	return err1 == nil && err2 == nil && qa.Cmp(qb) < 0
}

// defaultLimits returns the default limits of a declaration's namespace
// (its LimitRange's default), or nil.
func defaultLimits(in kindInput) *schema.Resources {
	if in.Cluster == nil {
		return nil
	}
	if l := in.Cluster.Spec.Namespaces[in.Namespace].Limits; l != nil {
		return l.Default
	}
	return nil
}

// requests returns what a workload requests, or nil.
func requests(r *schema.WorkloadResources) *schema.Resources {
	if r == nil {
		return nil
	}
	return &r.Resources
}

// setNodePool sets the nodeSelector and tolerations of the named node pool
// of cluster c on spec, a pod spec or an object shaped like one. It does
// nothing when pool is empty or unknown (validation reports the latter).
func setNodePool(spec map[string]any, c *schema.Cluster, pool string) {
	if pool == "" || c == nil {
		return
	}
	np, ok := c.Spec.NodePools[pool]
	if !ok {
		return
	}
	if len(np.NodeSelector) > 0 {
		spec["nodeSelector"] = stringMap(np.NodeSelector)
	}
	if len(np.Tolerations) > 0 {
		tols := make([]any, len(np.Tolerations))
		for i, t := range np.Tolerations {
			tols[i] = toleration(t)
		}
		spec["tolerations"] = tols
	}
}

// toleration converts a toleration, leaving out what is unset; an Exists
// toleration has no value.
func toleration(t schema.Toleration) map[string]any {
	out := map[string]any{}
	if t.Key != "" {
		out["key"] = t.Key
	}
	if t.Operator != "" {
		out["operator"] = t.Operator
	}
	if t.Value != "" && t.Operator != "Exists" {
		out["value"] = t.Value
	}
	if t.Effect != "" {
		out["effect"] = t.Effect
	}
	return out
}

// envList returns env as a list of {name, value} sorted by name, mapping
// values through f when f is not nil, or nil when env is empty.
func envList(env map[string]string, f func(string) string) []any {
	if len(env) == 0 {
		return nil
	}
	out := make([]any, 0, len(env))
	for _, k := range sortedKeys(env) {
		v := env[k]
		if f != nil {
			v = f(v)
		}
		out = append(out, map[string]any{"name": k, "value": v})
	}
	return out
}

// setIf sets m[key] to v unless v is empty: nil, "", or an empty map or
// list.
func setIf(m map[string]any, key string, v any) {
	switch v := v.(type) {
	case nil:
		return
	case string:
		if v == "" {
			return
		}
	case map[string]any:
		if len(v) == 0 {
			return
		}
	case []any:
		if len(v) == 0 {
			return
		}
	}
	m[key] = v
}

// contentHash returns the first hashLen hex digits of the SHA-256 of v's
// canonical JSON (encoding/json sorts object keys). v must hold JSON
// values only; anything else is a bug of the renderer, and panics.
func contentHash(v any) string {
	sum := sha256.Sum256(appendJSON(nil, v))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// appendJSON appends v as json.Marshal encodes it (the bytes names are
// hashed from), without its reflection on the maps, lists, plain strings
// and integers a rendered value is made of; anything else is left to
// json.Marshal.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := sortedKeys(v) // json.Marshal sorts a map's keys
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, v[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, x)
		}
		return append(b, ']')
	case string:
		return appendJSONString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case bool:
		return strconv.AppendBool(b, v)
	case nil:
		return append(b, "null"...)
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("render: hashing a value that is not JSON: %v", err))
	}
	return append(b, out...)
}

// appendJSONString appends s quoted, as json.Marshal does: a string of
// printable ASCII but the characters it escapes as is, any other by
// json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s) // a string always encodes
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// hashedName returns base-hash, truncating base so that the name is at
// most max characters long and does not end the base with '-'.
func hashedName(base, hash string, max int) string {
	if keep := max - len(hash) - 1; len(base) > keep {
		base = strings.TrimRight(base[:keep], "-")
	}
	return base + "-" + hash
}

// labelValue turns s into a valid label value: characters other than
// letters, digits, '-', '_' and '.' become '-', the value is cut to 63
// characters (keeping the tail when keepTail is set, as for a revision
// whose commit hash comes last), and it starts and ends alphanumeric.
func labelValue(s string, keepTail bool) string {
	b := []byte(s)
	for i, c := range b {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			b[i] = '-'
		}
	}
	if len(b) > maxLabelValueLen {
		if keepTail {
			b = b[len(b)-maxLabelValueLen:]
		} else {
			b = b[:maxLabelValueLen]
		}
	}
	trim := func(r rune) bool { return r > 0x7f || !isAlnum(byte(r)) }
	return strings.TrimFunc(string(b), trim)
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// durationSeconds returns a Go duration ("90s", "1.5h") in whole seconds,
// rounded up, and whether d was set and valid.
func durationSeconds(d string) (int64, bool) {
	if d == "" {
		return 0, false
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur <= 0 {
		return 0, false
	}
	return int64(math.Ceil(dur.Seconds())), true
}

// metadataString is metadata.<field>[key] of o, or "".
func metadataString(o *unstructured.Unstructured, field, key string) string {
	md, _ := o.Object["metadata"].(map[string]any)
	m, _ := md[field].(map[string]any)
	v, _ := m[key].(string)
	return v
}

// setMetadataString sets metadata.<field>[key] of an object from copyTop,
// copying the map it changes.
func setMetadataString(o *unstructured.Unstructured, field, key, value string) {
	md := o.Object["metadata"].(map[string]any)
	old, _ := md[field].(map[string]any)
	m := make(map[string]any, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[key] = value
	md[field] = m
}
