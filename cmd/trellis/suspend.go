package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile"
)

// newSuspendCommands returns `trellis suspend` and `trellis resume`, which
// set and remove the suspension of clusters on their inventories, in the
// clusters themselves: every replica of trellis serve sees it, and a
// restart keeps it.
func newSuspendCommands(s streams) []*cobra.Command {
	return []*cobra.Command{newSuspendCommand(s, true), newSuspendCommand(s, false)}
}

func newSuspendCommand(s streams, suspend bool) *cobra.Command {
	var o reachOptions
	verb, short := "resume", "Let trellis apply suspended clusters again"
	if suspend {
		verb, short = "suspend", "Stop trellis from applying clusters, until resumed"
	}
	cmd := &cobra.Command{
		Use:   verb + " [DIR] [--cluster NAME] [--kubeconfig K] [--context C] [--source-id ID]",
		Short: short,
		Long: short + `.

Suspension is kept in each cluster, on the inventory ConfigMap of each source
that applies it (annotation trellis.dev/suspended, in trellis-system): every
replica of trellis serve, a restarted one, and trellis apply of the same source
see it, and apply nothing to a suspended cluster; polling and rendering go on,
so the latest revision applies on resume.

With DIR, the Clusters the config repo declares (or --cluster, which must be
one of them) are reached as apply reaches them; without DIR, --cluster names
the cluster whose inventories to change on the cluster behind --context (else
the current context). Every source's inventory of the cluster is changed, or
only --source-id's; with --source-id, suspend creates the inventory when the
cluster was never applied yet. Each inventory changed is printed, and each one
that already was as asked.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			if dir == "" && o.cluster == "" {
				return usageError{fmt.Errorf("%s needs DIR (its Clusters) or --cluster NAME", verb)}
			}
			return runSuspend(cmd.Context(), dir, o, suspend, s)
		},
	}
	addReachFlags(cmd, &o, verb+" only this cluster")
	return cmd
}

// addReachFlags adds the flags of reachOptions.
func addReachFlags(cmd *cobra.Command, o *reachOptions, clusterHelp string) {
	f := cmd.Flags()
	o.kube = addKubeFlags(f, &o.kubeconfig, &o.context, "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)", "kubeconfig context to use, instead of the one the Cluster declares")
	f.StringVar(&o.cluster, "cluster", "", clusterHelp)
	f.StringVar(&o.sourceID, "source-id", "", "only the inventory of this source (default: every source's)")
}

// runSuspend suspends or resumes each cluster reached, and prints what it
// did to each inventory.
func runSuspend(ctx context.Context, dir string, o reachOptions, suspend bool, s streams) error {
	targets, err := reach(ctx, dir, o, s.err)
	if err != nil {
		return err
	}
	ok := true
	for _, r := range targets {
		if err := suspendOne(ctx, r, o.sourceID, suspend, s); err != nil {
			fmt.Fprintf(s.err, "error: %s: %v\n", r.where(), err)
			ok = false
		}
	}
	if !ok {
		return failed()
	}
	return nil
}

func suspendOne(ctx context.Context, r reached, source string, suspend bool, s streams) error {
	if r.err != nil {
		return r.err
	}
	var changes []reconcile.SuspendChange
	var err error
	if suspend {
		changes, err = reconcile.Suspend(ctx, r.client, r.name, source, time.Now())
	} else {
		changes, err = reconcile.Resume(ctx, r.client, r.name, source)
	}
	for _, ch := range changes {
		fmt.Fprintf(s.out, "%s: %s\n", r.where(), suspendLine(ch, suspend))
	}
	if err != nil && r.name == "" {
		return errors.New("--cluster: " + err.Error())
	}
	return err
}

// suspendLine says what happened to one inventory.
func suspendLine(ch reconcile.SuspendChange, suspend bool) string {
	inv := fmt.Sprintf("inventory %s (cluster %s, source %s)", ch.Inventory, ch.Cluster, ch.Source)
	switch {
	case suspend && ch.Changed:
		return "suspended " + inv
	case suspend:
		return inv + " was already suspended, since " + ch.SuspendedSince
	case ch.Changed:
		return "resumed " + inv + ", suspended since " + ch.SuspendedSince
	}
	return inv + " was not suspended"
}
