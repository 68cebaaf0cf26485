package reconcile

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Markers that replace secret values. A hash of the value would tell
// whether it changed without showing it, but a hash of a short or
// low-entropy secret is guessable, so a diff compares the two sides
// instead and marks the keys whose value changed.
const (
	// RedactedMarker replaces a secret value.
	RedactedMarker = "<redacted>"
	// RedactedChangedMarker replaces a desired secret value that differs
	// from the live one.
	RedactedChangedMarker = "<redacted: changed>"
)

// lastAppliedAnnotation is where kubectl's client-side apply keeps a copy
// of the object, Secret values included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// secretValueFields are the fields of a v1 Secret that hold values.
var secretValueFields = []string{"data", "stringData"}

// IsSecret reports whether obj is a core v1 Secret.
func IsSecret(obj *unstructured.Unstructured) bool {
	if obj == nil {
		return false
	}
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// RedactSecret returns a copy of obj in which every value of a Secret's
// data and stringData is RedactedMarker, and kubectl's last-applied
// annotation (which holds the values too) is gone. Keys stay, so that a
// reader sees which keys a Secret has. Other kinds are returned as an
// unchanged copy; nil stays nil.
func RedactSecret(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	out := obj.DeepCopy()
	if !IsSecret(out) {
		return out
	}
	redactSecretValues(out, nil)
	return out
}

// RedactPair redacts the live and the desired form of one object for a
// diff. Both become RedactSecret copies, except that a desired value that
// differs from the live value of the same key (or whose key is new) is
// RedactedChangedMarker, so that the diff shows that the key changed and
// nothing of either value. Either side may be nil. Values are compared as
// the apiserver stores them: stringData counts as base64 data.
func RedactPair(live, desired *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !IsSecret(live) && !IsSecret(desired) {
		return RedactSecret(live), RedactSecret(desired)
	}
	var liveValues map[string]string
	if live != nil {
		liveValues = secretValues(live)
	}
	l := RedactSecret(live)
	if !IsSecret(desired) {
		return l, RedactSecret(desired)
	}
	d := desired.DeepCopy()
	redactSecretValues(d, func(key, value string) string {
		if live == nil {
			return RedactedMarker
		}
		if old, ok := liveValues[key]; !ok || old != value {
			return RedactedChangedMarker
		}
		return RedactedMarker
	})
	return l, d
}

// redactSecretValues replaces, in place, each value of data and
// stringData by marker(key, value as base64 data), or RedactedMarker when
// marker is nil, and drops the last-applied annotation.
func redactSecretValues(obj *unstructured.Unstructured, marker func(key, value string) string) {
	values := secretValues(obj)
	for _, field := range secretValueFields {
		m, ok := obj.Object[field].(map[string]any)
		if !ok {
			if obj.Object[field] != nil { // malformed: hide it whole
				obj.Object[field] = RedactedMarker
			}
			continue
		}
		for k := range m {
			m[k] = RedactedMarker
			if marker != nil {
				m[k] = marker(k, values[k])
			}
		}
	}
	if ann := obj.GetAnnotations(); ann != nil {
		if _, ok := ann[lastAppliedAnnotation]; ok {
			delete(ann, lastAppliedAnnotation)
			setOrDropAnnotations(obj, ann)
		}
	}
}

// secretValues returns a Secret's values by key as the apiserver would
// store them: base64 data, with stringData encoded and winning over data,
// as the apiserver merges them.
func secretValues(obj *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if data, ok := obj.Object["data"].(map[string]any); ok {
		for k, v := range data {
			out[k] = fmt.Sprint(v)
		}
	}
	if data, ok := obj.Object["stringData"].(map[string]any); ok {
		for k, v := range data {
			out[k] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(v)))
		}
	}
	return out
}

// Redactor replaces secrets in free text (logs, lineage records, PR
// comments) with RedactedMarker. It is safe for concurrent use.
type Redactor struct {
	patterns []*regexp.Regexp
}

// DefaultRedactPatterns are credentials that commonly leak into logs:
// bearer tokens, basic-auth URLs, password/token/secret assignments,
// GitHub and AWS access keys, and PEM private keys.
var DefaultRedactPatterns = []string{
	`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]+=*)`,
	`://[^/\s:@]+:([^/\s@]+)@`,
	`(?i)(?:password|passwd|token|secret|api[_-]?key)["']?\s*[:=]\s*["']?([^\s"',;]+)`,
	`\b(gh[pousr]_[A-Za-z0-9]{36,})\b`,
	`\b((?:AKIA|ASIA)[A-Z0-9]{16})\b`,
	`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`,
}

// NewRedactor compiles patterns (Go regexps). A match is replaced whole,
// or, when the pattern has capturing groups, only what the groups
// matched, so that `password=(\S+)` keeps "password=" and hides the rest.
func NewRedactor(patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %q: %w", p, err)
		}
		r.patterns = append(r.patterns, re)
	}
	return r, nil
}

// WithValues returns a Redactor that also hides each of the literal
// values (such as the values of the Secrets a run applied). Empty values
// are ignored. Longer values are hidden first, so that a value that is a
// prefix of another never leaves the other's tail in sight.
func (r *Redactor) WithValues(values ...string) *Redactor {
	out := &Redactor{patterns: append([]*regexp.Regexp(nil), r.patterns...)}
	values = slices.Clone(values)
	slices.SortStableFunc(values, func(a, b string) int { return len(b) - len(a) })
	for _, v := range values {
		if v != "" {
			out.patterns = append(out.patterns, regexp.MustCompile(regexp.QuoteMeta(v)))
		}
	}
	return out
}

// Redact returns s with every match of the Redactor's patterns replaced.
func (r *Redactor) Redact(s string) string {
	for _, re := range r.patterns {
		s = redactMatches(re, s)
	}
	return s
}

// redactMatches replaces re's matches in s: whole, or only their groups.
func redactMatches(re *regexp.Regexp, s string) string {
	if re.NumSubexp() == 0 {
		return re.ReplaceAllLiteralString(s, RedactedMarker)
	}
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		for g := 1; g <= re.NumSubexp(); g++ {
			start, end := m[2*g], m[2*g+1]
			if start < last || start < 0 { // group did not take part, or overlaps
				continue
			}
			b.WriteString(s[last:start])
			b.WriteString(RedactedMarker)
			last = end
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// setOrDropAnnotations sets obj's annotations, removing the field when
// there are none left, as the apiserver does.
func setOrDropAnnotations(obj *unstructured.Unstructured, ann map[string]string) {
	if len(ann) == 0 {
		ann = nil
	}
	obj.SetAnnotations(ann)
}
