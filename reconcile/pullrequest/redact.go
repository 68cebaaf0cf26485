package pullrequest

import (
	"slices"
	"strings"

	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
)

// resultRedactor hides secrets in what a Result shows.
type resultRedactor struct {
	// values hides the Secret values of both sides, as plain text and as
	// base64; text also hides the credentials patterns match.
	values, text *redact.Redactor
	// dirs are the checkout's directories, left out of messages.
	dirs []string
}

// newResultRedactor hides the values of every Secret that base or head
// renders (render.Result.SecretValues), the values of unrendered Secrets
// (of a side that failed to render), and the patterns
// (redact.DefaultPatterns when nil).
func newResultRedactor(patterns, unrendered []string, results ...*render.Result) (*resultRedactor, error) {
	if patterns == nil {
		patterns = redact.DefaultPatterns
	}
	text, err := redact.New(patterns)
	if err != nil {
		return nil, err
	}
	secrets := slices.Clone(unrendered)
	for _, r := range results {
		secrets = append(secrets, r.SecretValues()...)
	}
	var values *redact.Redactor
	return &resultRedactor{values: values.WithValues(secrets...), text: text.WithValues(secrets...)}, nil
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
