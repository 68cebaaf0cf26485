package dashboard

import (
	"fmt"
	"html/template"
	"net/url"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// count is one action and how many objects it touched.
type count struct {
	Action reconcile.Action
	N      int
}

// funcs are the templates' helpers.
func (s *server) funcs() template.FuncMap {
	return template.FuncMap{
		"short":     lineage.ShortRevision,
		"firstLine": lineage.FirstLine,
		"when":      when,
		"ago":       ago,
		"took":      took,
		"status":    statusClass,
		"counts":    orderedCounts,
		"commitURL": lineage.CommitURL,
		"runURL":    s.links.run,
		"path":      url.PathEscape,
		"clip":      clip,
		"kindName":  func(k string) string { return kindNames[k] },
	}
}

// when prints a time in UTC, to the second; "" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago prints how long before now t was, coarsely.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// took prints the time between two times.
func took(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return ""
	}
	return end.Sub(start).Round(100 * time.Millisecond).String()
}

// statusClass is the CSS class (its colour) of a result, phase or action.
func statusClass(s any) string {
	switch fmt.Sprint(s) {
	case "succeeded", "Succeeded", "Ready", "True", "created", "adopted", "success", "pinned":
		return "ok"
	case "failed", "Failed", "Error", "TimedOut", "failure", "error":
		return "bad"
	case "configured", "pruned", "Running", "Pending", "suspended", "drift", "pending", "dry-run", "Unknown":
		return "warn"
	}
	return "muted"
}

// orderedCounts lists the non-zero counts in the order of
// reconcile.Actions.
func orderedCounts(m map[reconcile.Action]int) []count {
	var out []count
	for _, a := range reconcile.Actions {
		if n := m[a]; n > 0 {
			out = append(out, count{a, n})
		}
	}
	return out
}

// recordCounts counts a record's objects by action.
func recordCounts(r lineage.Record) map[reconcile.Action]int {
	m := map[reconcile.Action]int{}
	for _, o := range r.Objects {
		m[o.Action]++
	}
	return m
}

// clip shortens s to n characters, with an ellipsis in the middle, which
// keeps the ends of a URI or a run name.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 5 {
		return s
	}
	head := (n - 1) / 2
	return string(r[:head]) + "…" + string(r[len(r)-(n-1-head):])
}
