package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

type diffOptions struct {
	kubeconfig     string
	context        string
	kube           *kubeFlags
	cluster        string
	revision       string
	sourceID       string
	allowMassPrune bool
	color          string
	output         string
	sops           sopsOptions
}

// diffReport is diff -o json: per cluster, the diffs and what they sum to.
type diffReport struct {
	Clusters []clusterDiff `json:"clusters"`
}

// clusterDiff is one cluster's part of diffReport.
type clusterDiff struct {
	Cluster string `json:"cluster"`
	Context string `json:"context,omitempty"`
	// Changed is whether apply would write or delete anything.
	Changed bool `json:"changed"`
	// Summary counts the objects by action, as the text output's last line.
	Summary string                 `json:"summary,omitempty"`
	Objects []reconcile.ObjectDiff `json:"objects"`
	// SuspendedSince is set when the cluster's inventory is suspended.
	SuspendedSince string `json:"suspendedSince,omitempty"`
	// Refusal is why apply would fail, deleting nothing.
	Refusal string `json:"refusal,omitempty"`
	Error   string `json:"error,omitempty"`
}

func newDiffCommand(s streams) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff DIR",
		Short: "Show what apply would change in each cluster",
		Long: `Render the config repo in DIR and show, per cluster and per object, what
applying it would change: a unified diff from the live object to the result of
a server-side dry-run apply. Secret values are never shown: a changed value
shows as '<redacted: changed>'. A new revision alone is no change.

Deletions are what apply would prune: the objects of the inventory of
--source-id (as apply's) that the render no longer has, after the ownership
policy, the prune annotations and the prune guard; each is shown as a diff
from the live object to nothing. The same query decides what apply deletes.

Each cluster is reached through the kubeconfig context named by --context (one
cluster only), else by the Cluster's spec.context, else by its name; a context
that is not in the kubeconfig is an error, never the current context.

Exit status, as kubectl diff's: 0 no changes, 1 changes found (deletions
included), 2 usage error, 3 an error (invalid repo, unreachable cluster or
missing context, a refused dry run, a prune the guard refuses).

-o json prints one report instead: per cluster, every object with its action,
live and merged YAML and unified diff (Secret values redacted as above), the
summary, and any error; the exit status is the same.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			colour, err := useColor(o.color, s.out)
			if err != nil {
				return usageError{err}
			}
			if o.output != "text" && o.output != "json" {
				return usageError{fmt.Errorf("--output %q: want text or json", o.output)}
			}
			return runDiff(cmd.Context(), args[0], o, s, colour)
		},
	}
	f := cmd.Flags()
	o.kube = addKubeFlags(f, &o.kubeconfig, &o.context, "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)", "kubeconfig context to use, instead of the one the Cluster declares")
	f.StringVar(&o.cluster, "cluster", "", "diff only this cluster")
	f.StringVar(&o.revision, "revision", "", "revision of the objects (default: the Git commit checked out in DIR)")
	f.StringVar(&o.sourceID, "source-id", reconcile.DefaultSourceID, "id of the source whose inventory says what apply would prune (as apply's --source-id)")
	f.BoolVar(&o.allowMassPrune, "allow-mass-prune", false, "judge the prune as apply --allow-mass-prune would")
	f.StringVar(&o.color, "color", "auto", "colour the diff: auto (on a terminal), always or never")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text (unified diffs) or json (a report)")
	addSOPSFlags(f, &o.sops)
	return cmd
}

// runDiff renders dir and diffs each cluster; clusters are independent,
// so one that fails does not hide the others.
func runDiff(ctx context.Context, dir string, o diffOptions, s streams, colour bool) error {
	rev := o.revision
	if rev == "" {
		var err error
		if rev, err = source.LocalRevision(dir); err != nil {
			return &exitError{code: exitUnknown, err: fmt.Errorf("%s: revision: %w", dir, err)}
		}
	}
	keys, err := o.sops.keys()
	if err != nil {
		return err
	}
	kube, err := o.kube.kube()
	if err != nil {
		return err
	}
	res, err := render.Dir(ctx, dir, render.Options{Revision: rev, Cluster: o.cluster, SOPS: keys})
	if err != nil {
		printProblems(s.err, err, dir)
		return &exitError{code: exitUnknown}
	}
	if err := oneClusterForContext(o.context, res.Clusters); err != nil {
		return err
	}
	changed, errs := false, 0
	report := diffReport{Clusters: []clusterDiff{}}
	for _, cluster := range res.Clusters {
		d, err := diffCluster(ctx, cluster, clusterrun.KubeConnector(kube), o, s, colour)
		if err != nil {
			fmt.Fprintln(s.err, "error:", err)
			d.Error = err.Error()
			errs++
		}
		changed = changed || d.Changed
		report.Clusters = append(report.Clusters, d)
	}
	if o.output == "json" {
		if err := writeJSON(s.out, report); err != nil {
			return err
		}
	}
	switch {
	case errs > 0:
		return &exitError{code: exitUnknown}
	case changed:
		return failed()
	}
	return nil
}

// diffCluster diffs one cluster, prints its changes (unless -o json) and
// summary, and returns what it found. Objects whose dry run failed are
// printed and make the error.
func diffCluster(ctx context.Context, cluster render.Cluster, connect clusterrun.Connector, o diffOptions, s streams, colour bool) (clusterDiff, error) {
	d := clusterDiff{Cluster: cluster.Name, Objects: []reconcile.ObjectDiff{}}
	client, kubeContext, err := connect(cluster)
	if err != nil {
		return d, err
	}
	d.Context = kubeContext
	diffs, ps, err := reconcile.DiffCluster(ctx, client, cluster, reconcile.Options{SourceID: o.sourceID, AllowMassPrune: o.allowMassPrune})
	if err != nil {
		return d, fmt.Errorf("cluster %s (context %s): %w", cluster.Name, kubeContext, err)
	}
	d.Objects = append(d.Objects, diffs...)
	d.SuspendedSince, d.Refusal = ps.SuspendedSince, ps.Refusal
	external := os.Getenv(envExternalDiff)
	printed := s
	if o.output == "json" {
		printed.out, external = io.Discard, ""
	}
	cs, changed := printDiffs(printed, cluster.Name, kubeContext, diffs, colour, external == "")
	d.Changed, d.Summary = changed, cs.Summary()
	if changed && external != "" {
		if err := externalDiff(ctx, external, diffs, s); err != nil {
			return d, err
		}
	}
	fmt.Fprintf(s.err, "cluster %s: %s\n", cluster.Name, diffSummary(cs))
	if ps.SuspendedSince != "" {
		fmt.Fprintf(s.err, "cluster %s: suspended since %s (inventory %s): apply changes nothing until trellis resume\n", cluster.Name, ps.SuspendedSince, ps.Inventory)
	}
	var errs []error
	if n := cs.Count(reconcile.Failed); n > 0 {
		errs = append(errs, fmt.Errorf("cluster %s: the dry run failed for %d of %d objects", cluster.Name, n, len(diffs)))
	}
	if ps.Refusal != "" {
		errs = append(errs, fmt.Errorf("cluster %s: apply would fail, deleting nothing: %s", cluster.Name, ps.Refusal))
	}
	return d, errors.Join(errs...)
}

// printDiffs prints the diff of each changed object on out, under a
// header naming the cluster, and each failure on err. It returns the
// change set of the diffs and whether any object would change.
func printDiffs(s streams, cluster, kubeContext string, diffs []reconcile.ObjectDiff, colour, unified bool) (*reconcile.ChangeSet, bool) {
	cs := &reconcile.ChangeSet{Cluster: cluster}
	changed := false
	for _, d := range diffs {
		cs.Changes = append(cs.Changes, reconcile.Change{Object: d.Ref, Action: d.Action, Reason: d.Err})
		switch d.Action {
		case reconcile.Failed:
			fmt.Fprintf(s.err, "error: cluster %s: %s: %s\n", cluster, d.Ref, d.Err)
			continue
		case reconcile.Skipped:
			fmt.Fprintf(s.err, "cluster %s: %s skipped: %s\n", cluster, d.Ref, d.Note)
			continue
		}
		if !d.Changed() {
			continue
		}
		if !changed {
			fmt.Fprintf(s.out, "# cluster %s (context %s)\n", cluster, kubeContext)
			changed = true
		}
		if d.Note != "" {
			fmt.Fprintf(s.out, "# %s: %s\n", d.Ref, d.Note)
		}
		if unified {
			writeUnified(s.out, d.Unified, colour)
		}
	}
	return cs, changed
}

// diffSummary is the change set's summary, "no changes" when nothing
// would be written.
func diffSummary(cs *reconcile.ChangeSet) string {
	if cs.Count(reconcile.Created)+cs.Count(reconcile.Adopted)+cs.Count(reconcile.Configured)+cs.Count(reconcile.Pruned)+cs.Count(reconcile.Failed) == 0 {
		return fmt.Sprintf("no changes (%s)", cs.Summary())
	}
	return cs.Summary()
}

// ANSI colours of a diff, as git's.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
)

// writeUnified writes a unified diff, coloured when asked: file headers
// bold, hunk headers cyan, removed lines red, added lines green.
func writeUnified(w io.Writer, unified string, colour bool) {
	if !colour {
		fmt.Fprint(w, unified)
		return
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(unified, "\n") {
		if line == "" {
			continue
		}
		text, nl := strings.CutSuffix(line, "\n")
		code := ""
		switch {
		case strings.HasPrefix(text, "---"), strings.HasPrefix(text, "+++"):
			code = ansiBold
		case strings.HasPrefix(text, "@@"):
			code = ansiCyan
		case strings.HasPrefix(text, "-"):
			code = ansiRed
		case strings.HasPrefix(text, "+"):
			code = ansiGreen
		}
		if code != "" {
			text = code + text + ansiReset
		}
		b.WriteString(text)
		if nl {
			b.WriteString("\n")
		}
	}
	fmt.Fprint(w, b.String())
}

// useColor decides from --color whether to colour what goes to out: auto
// colours a terminal, unless $NO_COLOR is set.
func useColor(mode string, out io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		f, ok := out.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	default:
		return false, fmt.Errorf("--color must be auto, always or never, not %q", mode)
	}
}
