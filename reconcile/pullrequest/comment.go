package pullrequest

import (
	"fmt"
	"slices"
	"strings"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// CommentMarker starts the sticky comment: a check finds its comment by it
// and updates it in place.
const CommentMarker = "<!-- trellis:plan -->"

// MaxCommentChars is GitHub's limit on the length of a comment.
const MaxCommentChars = 65536

// commentBudget is the most bytes RenderComment writes: GitHub's limit
// with a margin (a count of bytes is never below a count of characters).
const commentBudget = 60000

// Caps on lists that are not diffs, so that a broken repo still gets a
// readable comment.
const (
	maxProblemsShown = 50
	maxRefusedShown  = 20
)

// RenderComment writes the sticky comment of a check: the marker, the
// validation result with path:line:col problems, a summary table per
// cluster, and a collapsible diff per object. It shows what r holds, which
// Check has redacted. When the diffs do not fit within GitHub's limit,
// the largest are left out first, each still listed with its action, and
// the comment ends by saying how many were left out.
func RenderComment(r Result) string {
	return renderComment(&r, commentBudget)
}

func renderComment(r *Result, budget int) string {
	doc := layoutComment(r)
	doc.fit(budget)
	var b strings.Builder
	doc.write(&b)
	return b.String()
}

// stringWriter is a strings.Builder, or a sizeCounter.
type stringWriter interface {
	WriteString(s string) (int, error)
}

// sizeCounter counts what would be written.
type sizeCounter int

func (c *sizeCounter) WriteString(s string) (int, error) {
	*c += sizeCounter(len(s))
	return len(s), nil
}

// commentDoc is a comment laid out: a fixed head, then one section per
// cluster whose diffs may be omitted to fit.
type commentDoc struct {
	head     string
	sections []*commentSection
}

// commentSection is the part of one cluster: notes, then its entries.
type commentSection struct {
	title   string
	entries []*commentEntry
}

// commentEntry is one changed object: its diff in full, or one line.
type commentEntry struct {
	full, short string
	omitted     bool // shown as its short line
	unlisted    bool // not shown at all (counted in a closing line)
}

func (d *commentDoc) write(w stringWriter) {
	w.WriteString(d.head)
	omitted, unlisted := 0, 0
	for _, s := range d.sections {
		o, u := s.write(w)
		omitted, unlisted = omitted+o, unlisted+u
	}
	if omitted > 0 {
		w.WriteString("\n---\n\n**" + plural(omitted, "diff") + " omitted to stay within GitHub's comment size limit**")
		if unlisted > 0 {
			w.WriteString(fmt.Sprintf(" (%d of them not listed)", unlisted))
		}
		w.WriteString(".\n")
	}
}

// write writes the section and returns how many of its diffs it omitted,
// and how many of those it did not even list.
func (s *commentSection) write(w stringWriter) (omitted, unlisted int) {
	w.WriteString(s.title)
	for _, e := range s.entries {
		switch {
		case e.unlisted:
			omitted, unlisted = omitted+1, unlisted+1
		case e.omitted:
			omitted++
		default:
			w.WriteString(e.full)
		}
	}
	if omitted == 0 {
		return 0, 0
	}
	w.WriteString("Diffs omitted from this comment:\n\n")
	for _, e := range s.entries {
		if e.omitted && !e.unlisted {
			w.WriteString(e.short)
		}
	}
	if unlisted > 0 {
		w.WriteString(fmt.Sprintf("- … and %d more %s\n", unlisted, pluralNoun(unlisted, "object")))
	}
	w.WriteString("\n")
	return omitted, unlisted
}

func (d *commentDoc) size() int {
	var c sizeCounter
	d.write(&c)
	return int(c)
}

// fit omits diffs, largest first, until the comment fits in budget; if
// listing the omitted objects is still too long, the last ones are not
// listed.
func (d *commentDoc) fit(budget int) {
	if d.size() <= budget {
		return
	}
	var all []*commentEntry
	for _, s := range d.sections {
		all = append(all, s.entries...)
	}
	bySize := slices.Clone(all)
	slices.SortStableFunc(bySize, func(a, b *commentEntry) int { return len(b.full) - len(a.full) })
	for _, e := range bySize {
		if d.size() <= budget {
			return
		}
		e.omitted = true
	}
	for i := len(all) - 1; i >= 0 && d.size() > budget; i-- {
		all[i].unlisted = true
	}
}

// layoutComment lays r out.
func layoutComment(r *Result) *commentDoc {
	var b strings.Builder
	writeHeader(&b, r)
	writeValidation(&b, r)
	doc := &commentDoc{}
	if !r.Valid() {
		b.WriteString("### Plan\n\nNo plan: the head's declarations are invalid.\n")
		doc.head = b.String()
		return doc
	}
	writeSummary(&b, r)
	doc.head = b.String()
	for i := range r.Clusters {
		if s := layoutCluster(r, &r.Clusters[i]); s != nil {
			doc.sections = append(doc.sections, s)
		}
	}
	return doc
}

func writeHeader(b *strings.Builder, r *Result) {
	pr := &r.PullRequest
	b.WriteString(CommentMarker + "\n## trellis plan\n\n")
	fmt.Fprintf(b, "Pull request #%d: %s → %s, head %s, base %s.\n\n",
		pr.Number, code(pr.Head.Ref), code(pr.Base.Ref), code(short(pr.Head.SHA)), code(short(pr.Base.SHA)))
	if r.Fork {
		fmt.Fprintf(b, "> [!NOTE]\n> This pull request comes from a fork (%s): it is checked without cluster credentials, so no live dry-run runs.\n\n", code(forkName(pr)))
	}
	if len(r.SOPSWithheld) > 0 {
		names := make([]string, len(r.SOPSWithheld))
		for i, f := range r.SOPSWithheld {
			names[i] = code(f)
		}
		fmt.Fprintf(b, "> [!NOTE]\n> %d SOPS file(s) were not decrypted (%s): %s. Their Secrets are checked by their encrypted form: the plan shows a Secret as changed when its ciphertext changed.\n\n", len(names), ForkSOPSPolicy, strings.Join(names, ", "))
	}
}

// forkName is the head's repository, or a word for a deleted fork.
func forkName(pr *PullRequest) string {
	if pr.Head.Repo == "" {
		return "deleted"
	}
	return pr.Head.Repo
}

func writeValidation(b *strings.Builder, r *Result) {
	if r.Valid() {
		fmt.Fprintf(b, "### ✅ Validation\n\n%s.\n\n", capitalize(validSummary(r.Declarations)))
		return
	}
	total := render.CountProblems(r.Problems)
	fmt.Fprintf(b, "### ❌ Validation\n\n%s in the head's declarations:\n\n", plural(total, "problem"))
	var lines []string
	for i, p := range r.Problems {
		if i == maxProblemsShown || p.More > 0 {
			lines = append(lines, fmt.Sprintf("… and %d more", total-i))
			break
		}
		lines = append(lines, p.String())
	}
	writeCodeBlock(b, "text", strings.Join(lines, "\n")+"\n")
	b.WriteString("\n")
}

// validSummary is "3 declarations are valid", or "no declarations".
func validSummary(n int) string {
	switch n {
	case 0:
		return "no declarations"
	case 1:
		return "1 declaration is valid"
	}
	return fmt.Sprintf("%d declarations are valid", n)
}

func writeSummary(b *strings.Builder, r *Result) {
	b.WriteString("### Plan\n\n")
	if r.BaseError != "" {
		fmt.Fprintf(b, "> [!WARNING]\n> The base (%s) does not render, so the plan compares the head with nothing.\n\n", code(short(r.PullRequest.Base.SHA)))
		writeCodeBlock(b, "text", r.BaseError+"\n")
		b.WriteString("\n")
	}
	if len(r.Clusters) == 0 {
		b.WriteString("Neither the base nor the head declares a cluster.\n")
		return
	}
	b.WriteString("| Cluster | Added | Changed | Removed | Unchanged | Prune guard | Live dry-run |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for i := range r.Clusters {
		c := &r.Clusters[i]
		guard := "✅ ok"
		if c.PruneRefusal != "" {
			guard = "⛔ refused"
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %s | %s |\n", code(c.Cluster),
			c.Count(reconcile.Created), c.Count(reconcile.Configured), c.Count(reconcile.Pruned), c.Unchanged,
			guard, liveCell(r, c))
	}
}

// liveCell is the live dry-run's column of the summary table.
func liveCell(r *Result, c *ClusterResult) string {
	switch {
	case r.Fork:
		return "not run (fork)"
	case !r.LiveAsked:
		return "not run"
	case c.LiveError != "":
		return "⚠️ failed"
	case c.LiveRefused() > 0:
		return fmt.Sprintf("❌ %d refused", c.LiveRefused())
	}
	cs := reconcile.ChangeSet{}
	for _, d := range c.Live {
		cs.Changes = append(cs.Changes, reconcile.Change{Object: d.Ref, Action: d.Action})
	}
	return "✅ " + cs.Summary()
}

// layoutCluster lays out the section of one cluster, or nil when it has
// nothing to show.
func layoutCluster(r *Result, c *ClusterResult) *commentSection {
	var b strings.Builder
	if c.PruneRefusal != "" {
		fmt.Fprintf(&b, "⛔ **Prune guard:** %s\n\n", escapeHTML(c.PruneRefusal))
	}
	if c.LiveError != "" {
		fmt.Fprintf(&b, "⚠️ **Live dry-run failed:** %s\n\n", escapeHTML(oneLine(c.LiveError)))
	}
	writeRefused(&b, c)
	writePruneSource(&b, c)
	s := &commentSection{}
	for _, ch := range c.Changes {
		s.entries = append(s.entries, layoutChange(ch))
	}
	if b.Len() == 0 && len(s.entries) == 0 {
		return nil
	}
	s.title = fmt.Sprintf("\n#### Cluster %s\n\n", code(c.Cluster)) + b.String()
	return s
}

// writePruneSource says where the removals come from: the cluster's
// inventory (the prune query apply itself asks), or Git alone.
func writePruneSource(b *strings.Builder, c *ClusterResult) {
	switch {
	case c.PrunedFrom != "":
		fmt.Fprintf(b, "Removed: what an apply of the head prunes, as the cluster's inventory %s answers.\n\n", code(c.PrunedFrom))
	case c.Count(reconcile.Pruned) > 0:
		b.WriteString("Removed: the base's objects the head no longer has, seen from Git alone (without a live dry-run, the inventory is not asked).\n\n")
	}
}

// writeRefused lists the objects the live dry-run refused.
func writeRefused(b *strings.Builder, c *ClusterResult) {
	n := c.LiveRefused()
	if n == 0 {
		return
	}
	fmt.Fprintf(b, "❌ **The dry run refused %s:**\n\n", plural(n, "object"))
	shown := 0
	for _, d := range c.Live {
		if d.Action != reconcile.Failed {
			continue
		}
		if shown == maxRefusedShown {
			fmt.Fprintf(b, "- … and %d more\n", n-shown)
			break
		}
		fmt.Fprintf(b, "- %s: %s\n", code(d.Ref.String()), escapeHTML(oneLine(d.Err)))
		shown++
	}
	b.WriteString("\n")
}

// actionWords are the actions as a reviewer reads them.
var actionWords = map[reconcile.Action]string{
	reconcile.Created:    "added",
	reconcile.Adopted:    "adopted",
	reconcile.Configured: "changed",
	reconcile.Pruned:     "removed",
}

// layoutChange lays out one changed object: a collapsible diff, or one
// line when omitted.
func layoutChange(ch reconcile.PlannedChange) *commentEntry {
	word := actionWords[ch.Action]
	if word == "" {
		word = string(ch.Action)
	}
	var full strings.Builder
	fmt.Fprintf(&full, "<details><summary>%s %s</summary>\n\n", word, code(ch.Ref.String()))
	writeCodeBlock(&full, "diff", ch.Unified)
	full.WriteString("\n</details>\n\n")
	return &commentEntry{full: full.String(), short: fmt.Sprintf("- %s %s\n", word, code(ch.Ref.String()))}
}

// writeCodeBlock writes text in a fenced block whose fence is longer than
// any run of backticks in text.
func writeCodeBlock(b *strings.Builder, lang, text string) {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	b.WriteString(fence + lang + "\n" + text + fence + "\n")
}

// code is s as inline code, safe in Markdown and HTML alike.
func code(s string) string {
	return "<code>" + escapeHTML(s) + "</code>"
}

// oneLine joins the lines of s.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// capitalize upper-cases the first letter of an ASCII sentence.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// htmlEscaper escapes what HTML and Markdown would read as markup.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeHTML escapes s for the body of an HTML element.
func escapeHTML(s string) string { return htmlEscaper.Replace(s) }
