package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

type applyOptions struct {
	kubeconfig     string
	context        string
	kube           *kubeFlags
	cluster        string
	revision       string
	sourceID       string
	dryRun         bool
	allowMassPrune bool
	wait           bool
	timeout        time.Duration
	// Lineage: where records go (no repo: nowhere).
	lineageRepo, lineageBranch, lineageStateDir, lineageAuthor string
	sops                                                       sopsOptions
}

func newApplyCommand(s streams) *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply DIR",
		Short: "Apply a config repo to its clusters, pruning what was removed",
		Long: `Render the config repo in DIR and make each cluster hold exactly its objects:
server-side apply with field manager "trellis" (CRDs and Namespaces first),
objects that did not change are not written, objects removed from the repo
are pruned, and objects changed by hand are restored.

Each cluster is reached through the kubeconfig context named by --context (one
cluster only), else by the Cluster's spec.context, else by its name; a context
that is not in the kubeconfig is an error, never the current context.

Clusters are applied concurrently and independently: one that fails never
blocks another. Each cluster's objects are printed as they are applied, one
line per object, under a "cluster NAME" header, then a summary line.

With --wait, trellis then waits up to --timeout for the applied objects to be
ready: kstatus for ordinary objects; WorkflowTemplates and CronWorkflows when
accepted; an InferenceService by its Ready condition. The runs the apply
started (Workflow runs, Katib Experiments) are then followed to their end
within the same --timeout, and their phase and outputs printed.

With --lineage-repo, each cluster's run is recorded as the daemon records
it: a commit on --lineage-branch of that repo with run.json (revision,
declarations, objects and what was done to each, the runs followed and
their outputs, the endpoints pinned) and run.log (the lines printed for the
cluster), Secret values redacted. Credentials come from $TRELLIS_GIT_TOKEN
or $TRELLIS_GIT_PASSWORD. A record that cannot be pushed waits in
--lineage-state-dir and is pushed by the next apply that records lineage.

An inventory per source and cluster (a ConfigMap in trellis-system) remembers
what was applied. Pruning every object of an inventory, or more than half of
it when that is more than 10 objects, is refused unless --allow-mass-prune.

Exit status: 0 when every cluster was applied, 1 when an object or a cluster
failed (or the repo is invalid), 2 usage error.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runApply(cmd.Context(), args[0], o, s)
		},
	}
	f := cmd.Flags()
	o.kube = addKubeFlags(f, &o.kubeconfig, &o.context, "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)", "kubeconfig context to use, instead of the one the Cluster declares")
	f.StringVar(&o.cluster, "cluster", "", "apply only this cluster")
	f.StringVar(&o.revision, "revision", "", "revision recorded on the objects (default: the Git commit checked out in DIR)")
	f.StringVar(&o.sourceID, "source-id", reconcile.DefaultSourceID, "id of the source; the inventory is per source and cluster")
	f.Var(dryRunFlag{&o.dryRun}, "dry-run", "server: send every write as a server-side dry run, nothing is persisted (a bare --dry-run means server); none: apply")
	f.Lookup("dry-run").NoOptDefVal = "server"
	f.BoolVar(&o.allowMassPrune, "allow-mass-prune", false, "allow pruning every object, or more than half, of an inventory")
	f.BoolVar(&o.wait, "wait", false, "wait for the applied objects to be ready")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	addLineageRecordFlags(f, &o.lineageRepo, &o.lineageBranch, &o.lineageStateDir, &o.lineageAuthor)
	addSOPSFlags(f, &o.sops)
	return cmd
}

// runApply renders dir and applies each of its clusters concurrently.
func runApply(ctx context.Context, dir string, o applyOptions, s streams) error {
	rev := o.revision
	if rev == "" {
		var err error
		if rev, err = source.LocalRevision(dir); err != nil {
			return fmt.Errorf("%s: revision: %w", dir, err)
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
		return failed()
	}
	if err := oneClusterForContext(o.context, res.Clusters); err != nil {
		return err
	}
	rec, err := newApplyRecorder(dir, rev, res, o)
	if err != nil {
		return err
	}
	blocks := newBlocks(s.out, len(res.Clusters))
	errs := make([]error, len(res.Clusters))
	var wg sync.WaitGroup
	for i, cluster := range res.Clusters {
		wg.Go(func() {
			defer blocks.finish(i)
			lrun := rec.start(cluster)
			printLine := func(line string) {
				blocks.printLine(i, line)
				lrun.Logger().Info(line)
			}
			p := &applyPrinter{printLine: printLine}
			if o.dryRun {
				p.suffix = " (server dry run)"
			}
			out := clusterrun.Cluster(ctx, cluster, clusterrun.Options{
				Connect: clusterrun.KubeConnector(kube), SourceID: o.sourceID, Revision: rev,
				DryRun: o.dryRun, AllowMassPrune: o.allowMassPrune, Wait: o.wait, Timeout: o.timeout,
			}, p)
			errs[i] = errors.Join(out.Error(), rec.finish(ctx, lrun, out, printLine))
		})
	}
	wg.Wait()
	ok := true
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(s.err, "error:", err)
			ok = false
		}
	}
	if !ok {
		return failed()
	}
	return nil
}

// applyPrinter prints a cluster's run as `trellis apply` does: a header, a
// line per object and a summary, then, with --wait, each change of
// status and each run followed.
type applyPrinter struct {
	printLine func(string)
	// suffix marks the lines of a dry run.
	suffix      string
	unreachable bool
}

func (p *applyPrinter) Connected(cluster, kubeContext string, err error) {
	if err != nil && kubeContext == "" {
		p.unreachable = true
		p.printLine(fmt.Sprintf("cluster %s: failed", cluster))
		return
	}
	p.printLine(fmt.Sprintf("cluster %s (context %s):", cluster, kubeContext))
	if err != nil {
		p.unreachable = true
		p.printLine(fmt.Sprintf("cluster %s: failed", cluster))
	}
}

func (p *applyPrinter) Change(c reconcile.Change) { p.printLine(c.String() + p.suffix) }

func (p *applyPrinter) Applied(cs *reconcile.ChangeSet, err error) {
	if p.unreachable {
		return
	}
	summary := cs.Summary()
	switch {
	case err != nil && len(cs.Changes) == 0:
		summary = "failed"
	case err != nil:
		summary += "; failed"
	}
	p.printLine(fmt.Sprintf("cluster %s: %s%s", cs.Cluster, summary, p.suffix))
}

func (p *applyPrinter) Status(ref reconcile.ObjectRef, st mlkind.Status, msg string) {
	p.printLine(fmt.Sprintf("%s %s %s", ref, st, msg))
}

func (p *applyPrinter) Waited(cluster string, notReady, total int) {
	if notReady > 0 {
		p.printLine(fmt.Sprintf("cluster %s: %d of %d objects not ready", cluster, notReady, total))
		return
	}
	p.printLine(fmt.Sprintf("cluster %s: %d objects ready", cluster, total))
}

func (p *applyPrinter) Followed(cluster string, followed []lineage.Followed) {
	for _, f := range followed {
		line := fmt.Sprintf("%s %s/%s %s", strings.ToLower(f.Kind), f.Namespace, f.Name, f.Phase)
		for _, out := range f.Outputs {
			line += fmt.Sprintf(" %s.%s=%s", out.Step, out.Name, out.Value)
		}
		if f.Message != "" {
			line += ": " + f.Message
		}
		p.printLine(line)
	}
	p.printLine(fmt.Sprintf("cluster %s: %d runs followed", cluster, len(followed)))
}

// blocks prints the lines of several concurrent jobs as one block per
// job, in job order, whatever order they finish in: the first unfinished
// job's lines are printed as they come, the others' are held until the
// jobs before them finish.
type blocks struct {
	mu   sync.Mutex
	w    io.Writer
	held []bytes.Buffer
	done []bool
	head int
}

func newBlocks(w io.Writer, n int) *blocks {
	return &blocks{w: w, held: make([]bytes.Buffer, n), done: make([]bool, n)}
}

// printLine prints line as job i's.
func (b *blocks) printLine(i int, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i == b.head {
		fmt.Fprintln(b.w, line)
		return
	}
	fmt.Fprintln(&b.held[i], line)
}

// finish marks job i done and prints what the next jobs held.
func (b *blocks) finish(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done[i] = true
	for b.head < len(b.done) && b.done[b.head] {
		b.head++
		if b.head < len(b.held) {
			_, _ = b.w.Write(b.held[b.head].Bytes())
			b.held[b.head].Reset()
		}
	}
}
