package pullrequest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
)

// AppliedMarker starts the summary comment of revision sha on a merged
// pull request; it differs from the plan's CommentMarker, and from the
// summary of another revision.
func AppliedMarker(sha string) string { return "<!-- trellis:applied " + sha + " -->" }

// sectionMarker starts each cluster's section of a summary, followed by
// the cluster's name and its run's result: a summary is read back from
// its comment by it, so that a restarted daemon adds to it.
const sectionMarker = "<!-- trellis:cluster "

// Caps on the lists of a section, so that a summary of many clusters
// stays readable and within GitHub's limit.
const (
	maxErrorsShown   = 10
	maxFailedShown   = 20
	maxFollowedShown = 20
	maxOutputsShown  = 10
	maxValueChars    = 300
)

// appliedSection is one cluster's part of a summary.
type appliedSection struct {
	cluster string
	result  lineage.Result
	// head is the marker and the heading; text is head and the details.
	head, text string
}

// resultIcons mark a result in a heading.
var resultIcons = map[lineage.Result]string{
	lineage.Succeeded: "✅",
	lineage.Failed:    "❌",
	lineage.NoOp:      "➖",
	lineage.DryRun:    "🔍",
}

// renderApplied writes the summary of revision src.Revision on merged
// pull request pr: a header, then each cluster's section by name. When
// the details do not fit within GitHub's limit, only the headings are
// kept.
func renderApplied(pr *PullRequest, src lineage.Source, sections map[string]appliedSection) string {
	names := make([]string, 0, len(sections))
	for name := range sections {
		names = append(names, name)
	}
	slices.Sort(names)
	var head strings.Builder
	rev := lineage.ShortRevision(src.Revision)
	fmt.Fprintf(&head, "%s\n## trellis applied %s\n\n", AppliedMarker(src.Revision), code(rev))
	fmt.Fprintf(&head, "Pull request #%d was merged as %s", pr.Number, code(rev))
	if src.Ref != "" {
		fmt.Fprintf(&head, " on %s", code(src.Ref))
	}
	fmt.Fprintf(&head, "; %s applied it:\n\n", plural(len(names), "cluster"))
	full := head.String()
	for _, name := range names {
		full += sections[name].text
	}
	if len(full) <= commentBudget {
		return full
	}
	short := head.String() + "Details are left out to stay within GitHub's comment size limit; the lineage records hold them.\n\n"
	for _, name := range names {
		short += sections[name].head + "\n"
	}
	return short
}

// renderAppliedSection writes the section of rec's cluster; every free
// text of rec goes through redactor before it is escaped.
func renderAppliedSection(rec lineage.Record, redactor *redact.Redactor) appliedSection {
	clean := func(s string) string { return shorten(oneLine(redactor.Redact(s)), maxValueChars) }
	text := func(s string) string { return escapeHTML(clean(s)) }
	cd := func(s string) string { return code(clean(s)) }
	var h strings.Builder
	fmt.Fprintf(&h, "%s%s %s -->\n", sectionMarker, rec.Cluster, rec.Result)
	icon := resultIcons[rec.Result]
	if icon == "" {
		icon = "❔"
	}
	fmt.Fprintf(&h, "### %s Cluster %s: %s\n", icon, cd(rec.Cluster), text(string(rec.Result)))
	var b strings.Builder
	b.WriteString(h.String() + "\n")
	fmt.Fprintf(&b, "Run %s, %s.\n\n", cd(rec.RunID), runTimes(rec.Started, rec.Finished))
	fmt.Fprintf(&b, "Objects: %s.\n\n", objectCounts(rec))
	writeList(&b, "Errors", len(rec.Errors), maxErrorsShown, func(i int) string { return text(rec.Errors[i]) })
	var failed []lineage.Object
	for _, o := range rec.Objects {
		if o.Action == reconcile.Failed {
			failed = append(failed, o)
		}
	}
	writeList(&b, "Objects that failed", len(failed), maxFailedShown, func(i int) string {
		o := failed[i]
		ref := reconcile.ObjectRef{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		line := cd(ref.String())
		if o.Reason != "" {
			line += ": " + text(o.Reason)
		}
		return line
	})
	writeList(&b, "Runs followed", len(rec.Followed), maxFollowedShown, func(i int) string {
		return followedLine(&rec.Followed[i], clean)
	})
	writeList(&b, "Pins", len(rec.Pins), len(rec.Pins), func(i int) string {
		p := rec.Pins[i]
		return fmt.Sprintf("endpoint %s serves artifact %s of step %s of pipeline %s, run %s: %s",
			cd(p.Namespace+"/"+p.Endpoint), cd(p.Artifact), cd(p.Step), cd(p.Pipeline), cd(p.Run), cd(p.URI))
	})
	writeLineageGraph(&b, rec, clean)
	return appliedSection{cluster: rec.Cluster, result: rec.Result, head: h.String(), text: b.String()}
}

// writeLineageGraph draws, in a Mermaid block that GitHub renders, what the
// run led to: the commit, the pipeline runs it created, their artifacts
// and the endpoints pinned to them, the experiments it followed and their
// optimal trials. Nothing is drawn for a run that created no pipeline
// run. Labels go through clean (redaction).
func writeLineageGraph(b *strings.Builder, rec lineage.Record, clean func(string) string) {
	out, err := lineage.Forward([]lineage.Record{rec}, rec.Source.Revision)
	if err != nil || len(out.Runs) == 0 {
		return
	}
	g := out.Graph()
	for i := range g.Nodes {
		n := &g.Nodes[i]
		n.Label, n.Detail, n.Link = clean(n.Label), clean(n.Detail), ""
	}
	for i := range g.Edges {
		g.Edges[i].Label = clean(g.Edges[i].Label)
	}
	b.WriteString("Lineage:\n\n```mermaid\n" + g.Mermaid() + "```\n\n")
}

// runTimes is "started 2024-01-01T10:00:00Z, took 1m30s".
func runTimes(started, finished time.Time) string {
	s := "started " + started.UTC().Format(time.RFC3339)
	if !finished.IsZero() && !finished.Before(started) {
		s += ", took " + finished.Sub(started).Round(time.Second).String()
	}
	return s
}

// objectCounts is "2 changed (1 created, 1 configured), 3 unchanged".
func objectCounts(rec lineage.Record) string {
	counts := map[reconcile.Action]int{}
	for _, o := range rec.Objects {
		counts[o.Action]++
	}
	var changed []string
	for _, a := range []reconcile.Action{reconcile.Created, reconcile.Adopted, reconcile.Configured, reconcile.Pruned} {
		if counts[a] > 0 {
			changed = append(changed, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	s := fmt.Sprintf("%d changed", rec.Changed())
	if len(changed) > 0 {
		s += " (" + strings.Join(changed, ", ") + ")"
	}
	for _, a := range []reconcile.Action{reconcile.Unchanged, reconcile.Failed, reconcile.Skipped} {
		if counts[a] > 0 {
			s += fmt.Sprintf(", %d %s", counts[a], a)
		}
	}
	return s
}

// followedLine describes a followed run: its kind, name and phase; a
// Workflow's artifacts, an InferenceService's URL and model, another
// run's outputs (an Experiment's optimal trial). clean redacts free
// text.
func followedLine(f *lineage.Followed, clean func(string) string) string {
	text := func(s string) string { return escapeHTML(clean(s)) }
	cd := func(s string) string { return code(clean(s)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", text(f.Kind), cd(f.Namespace+"/"+f.Name))
	if f.RunOf != "" {
		fmt.Fprintf(&b, " (%s)", cd(f.RunOf))
	}
	fmt.Fprintf(&b, ": **%s**", text(f.Phase))
	if f.URL != "" {
		fmt.Fprintf(&b, " at %s", cd(f.URL))
	}
	if f.ModelURI != "" {
		fmt.Fprintf(&b, ", model %s", cd(f.ModelURI))
	}
	if f.Message != "" {
		b.WriteString(": " + text(f.Message))
	}
	var outputs []lineage.Output
	for _, o := range f.Outputs {
		if f.Kind != "Workflow" || o.Kind == lineage.OutputArtifact {
			outputs = append(outputs, o)
		}
	}
	for i, o := range outputs {
		if i == maxOutputsShown {
			fmt.Fprintf(&b, "\n  - … and %d more", len(outputs)-i)
			break
		}
		name := o.Name
		if o.Step != "" {
			name = o.Step + "/" + o.Name
		}
		fmt.Fprintf(&b, "\n  - %s %s: %s", text(o.Kind), cd(name), cd(o.Value))
	}
	return b.String()
}

// writeList writes "Title:" and a bullet per item, at most shown of n.
func writeList(b *strings.Builder, title string, n, shown int, item func(int) string) {
	if n == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n\n", title)
	for i := range n {
		if i == shown {
			fmt.Fprintf(b, "- … and %d more\n", n-i)
			break
		}
		b.WriteString("- " + item(i) + "\n")
	}
	b.WriteString("\n")
}

// parseAppliedSections reads the sections back from a summary's body.
func parseAppliedSections(body string) map[string]appliedSection {
	out := map[string]appliedSection{}
	starts := []int{}
	for i := 0; ; {
		j := strings.Index(body[i:], "\n"+sectionMarker)
		if j < 0 {
			break
		}
		starts = append(starts, i+j+1)
		i += j + 1
	}
	for k, start := range starts {
		end := len(body)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		text := body[start:end]
		line, rest, _ := strings.Cut(text, "\n")
		fields := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, sectionMarker), "-->"))
		if len(fields) != 2 {
			continue
		}
		heading, _, _ := strings.Cut(rest, "\n")
		out[fields[0]] = appliedSection{cluster: fields[0], result: lineage.Result(fields[1]),
			head: line + "\n" + heading + "\n", text: text}
	}
	return out
}
