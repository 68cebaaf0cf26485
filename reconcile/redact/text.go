package redact

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// MinValueLen is the shortest Secret value hidden wherever it appears in
// free text: hiding every "ab" would garble logs and comments, and
// diffs hide Secret values of any length by their place (see Pair).
const MinValueLen = 4

// DefaultPatterns are credentials that commonly leak into logs: bearer
// tokens, basic-auth URLs, password/token/secret assignments, GitHub and
// AWS access keys, and PEM private keys. An assignment hides its value
// on the same line only: "password:" at the end of a line (a YAML key
// whose value follows, a prompt) hides nothing of the next line.
var DefaultPatterns = []string{
	`(?i)\bbearer[ \t]+([A-Za-z0-9\-._~+/]+=*)`,
	`://[^/\s:@]+:([^/\s@]+)@`,
	`(?i)(?:password|passwd|token|secret|api[_-]?key)["']?[ \t]*[:=][ \t]*["']?([^\s"',;]+)`,
	`\b(gh[pousr]_[A-Za-z0-9]{36,})\b`,
	`\b((?:AKIA|ASIA)[A-Z0-9]{16})\b`,
	`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`,
}

// Redactor replaces secrets in free text (logs, diffs, lineage records,
// PR comments) with Marker: literal values (the Secrets of a revision)
// and the matches of patterns. It is safe for concurrent use; a nil
// Redactor hides nothing.
type Redactor struct {
	patterns []*regexp.Regexp
	// values are the literal values, longest first.
	values []string
}

// New compiles patterns (Go regexps). A match is hidden whole, or, when
// the pattern has capturing groups, only what the groups matched, so
// that `password=(\S+)` keeps "password=" and hides the rest.
func New(patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %q: %w; fix it or leave it out", p, err)
		}
		r.patterns = append(r.patterns, re)
	}
	return r, nil
}

// Default is a Redactor of DefaultPatterns.
func Default() *Redactor {
	r, err := New(DefaultPatterns)
	if err != nil {
		panic(err) // DefaultPatterns are tested
	}
	return r
}

// WithValues returns a Redactor that also hides each of the literal
// values (such as the values of the Secrets of a revision, see
// render.Result.SecretValues). Values shorter than MinValueLen are
// ignored. r itself is unchanged.
func (r *Redactor) WithValues(values ...string) *Redactor {
	out := &Redactor{}
	if r != nil {
		out.patterns, out.values = r.patterns, slices.Clone(r.values)
	}
	for _, v := range values {
		if len(v) >= MinValueLen && !slices.Contains(out.values, v) {
			out.values = append(out.values, v)
		}
	}
	slices.SortStableFunc(out.values, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Redact returns s with every occurrence of every value and every match
// of every pattern replaced by Marker. All are found in s as given, and
// overlapping ones are hidden as one, so no part of a value survives
// however values and matches nest or overlap: with Secrets "hunter2x"
// and "hunter2xTAILSECRET", "hunter2xTAILSECRET" becomes one Marker, not
// "<redacted>TAILSECRET".
func (r *Redactor) Redact(s string) string {
	if r == nil || s == "" {
		return s
	}
	var spans []span
	for _, v := range r.values {
		for i := 0; ; {
			j := strings.Index(s[i:], v)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(v)})
			i += j + 1
		}
	}
	for _, re := range r.patterns {
		spans = append(spans, matchSpans(re, s)...)
	}
	return hide(s, spans)
}

// span is the byte range [start, end) of s to hide.
type span struct{ start, end int }

// matchSpans are the ranges of re's matches in s: whole, or only their
// groups that took part.
func matchSpans(re *regexp.Regexp, s string) []span {
	var out []span
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if re.NumSubexp() == 0 {
			out = append(out, span{m[0], m[1]})
			continue
		}
		for g := 1; g <= re.NumSubexp(); g++ {
			if m[2*g] >= 0 && m[2*g+1] > m[2*g] {
				out = append(out, span{m[2*g], m[2*g+1]})
			}
		}
	}
	return out
}

// hide replaces each run of overlapping spans of s by one Marker;
// spans that only touch stay two markers.
func hide(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	last := 0
	cur := spans[0]
	flush := func() {
		b.WriteString(s[last:cur.start])
		b.WriteString(Marker)
		last = cur.end
	}
	for _, sp := range spans[1:] {
		if sp.start < cur.end {
			cur.end = max(cur.end, sp.end)
			continue
		}
		flush()
		cur = sp
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}
