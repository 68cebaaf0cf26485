package pullrequest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// minSecretLiteral is the shortest Secret value hidden wherever it
// appears in the comment's text: hiding every "ab" would garble the
// comment, and diffs hide Secret values of any length by their place.
const minSecretLiteral = 6

// resultRedactor hides secrets in what a Result shows.
type resultRedactor struct {
	// values hides the Secret values of both sides, as plain text and as
	// base64; text also hides the credentials patterns match.
	values, text *reconcile.Redactor
	// dirs are the checkout's directories, left out of messages.
	dirs []string
}

// newResultRedactor hides the values of every Secret that base or head
// renders, the values of unrendered Secrets (of a side that failed to
// render), and the patterns (DefaultRedactPatterns when nil).
func newResultRedactor(patterns, unrendered []string, results ...*render.Result) (*resultRedactor, error) {
	if patterns == nil {
		patterns = reconcile.DefaultRedactPatterns
	}
	text, err := reconcile.NewRedactor(patterns)
	if err != nil {
		return nil, err
	}
	values, err := reconcile.NewRedactor(nil)
	if err != nil {
		return nil, err
	}
	secrets := secretLiterals(results...)
	for _, v := range unrendered {
		if len(v) >= minSecretLiteral {
			secrets = append(secrets, v)
		}
	}
	// Longest first, so that a value inside another is not hidden first.
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return &resultRedactor{values: values.WithValues(secrets...), text: text.WithValues(secrets...)}, nil
}

// secretLiterals are the values of the Secrets of results, as written and
// encoded (data decoded, stringData encoded), longest first.
func secretLiterals(results ...*render.Result) []string {
	var out []string
	add := func(v string) {
		if len(v) >= minSecretLiteral {
			out = append(out, v)
		}
	}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, c := range r.Clusters {
			for _, o := range c.Objects {
				if !reconcile.IsSecret(o) {
					continue
				}
				data, _ := o.Object["data"].(map[string]any)
				for _, v := range data {
					s := fmt.Sprint(v)
					add(s)
					if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
						add(string(dec))
					}
				}
				stringData, _ := o.Object["stringData"].(map[string]any)
				for _, v := range stringData {
					add(fmt.Sprint(v))
					add(base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(v))))
				}
			}
		}
	}
	// Longest first, so that a value inside another is not hidden first.
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactMessage hides secrets and checkout paths in a message.
func (r *resultRedactor) redactMessage(s string) string {
	for _, d := range r.dirs {
		s = strings.ReplaceAll(s, d+"/", "")
		s = strings.ReplaceAll(s, d, ".")
	}
	return r.text.Redact(s)
}

// redactResult hides secrets in every text of res: messages lose
// credentials and Secret values, diffs (already redacted by key)
// lose any Secret value that is left.
func (r *resultRedactor) redactResult(res *Result) {
	for i := range res.Problems {
		res.Problems[i].Message = r.redactMessage(res.Problems[i].Message)
	}
	res.BaseError = r.redactMessage(res.BaseError)
	for i := range res.Clusters {
		c := &res.Clusters[i]
		c.LiveError = r.redactMessage(c.LiveError)
		for j := range c.Changes {
			c.Changes[j].Unified = r.values.Redact(c.Changes[j].Unified)
		}
		for j := range c.Live {
			d := &c.Live[j]
			d.Err = r.redactMessage(d.Err)
			d.Live, d.Merged, d.Unified = r.values.Redact(d.Live), r.values.Redact(d.Merged), r.values.Redact(d.Unified)
		}
	}
}
