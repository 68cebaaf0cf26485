package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile"
)

type statusOptions struct {
	reachOptions
	output string
}

func newStatusCommand(s streams) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [DIR] [--cluster NAME] [--kubeconfig K] [--context C] [-o json]",
		Short: "Show what each cluster runs, read from the cluster itself",
		Long: `Show, per cluster and per source that applies it, what the cluster itself
records on its inventory (a ConfigMap in trellis-system): the revision last
applied and when, the result, the objects by action and how many the inventory
holds, how many had drifted (changed by hand, and restored), and whether it is
suspended. An apply that changes nothing at the revision already recorded (a
drift check that found nothing) is not recorded again.

With DIR, the Clusters the config repo declares (or --cluster) are reached as
apply reaches them, and a cluster trellis never applied says so; without DIR,
the inventories on the cluster behind --context (else the current context), of
--cluster when set.

Exit status: 0, or 1 when a cluster could not be read.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "" && o.output != "json" && o.output != "text" {
				return usageError{fmt.Errorf("-o must be text or json, not %q", o.output)}
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return runStatus(cmd.Context(), dir, o, s)
		},
	}
	addReachFlags(cmd, &o.reachOptions, "only this cluster")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	return cmd
}

// clusterStatus is the status of one cluster reached.
type clusterStatus struct {
	Cluster     string                      `json:"cluster,omitempty"`
	Context     string                      `json:"context,omitempty"`
	Inventories []reconcile.InventoryStatus `json:"inventories"`
	Error       string                      `json:"error,omitempty"`
}

func runStatus(ctx context.Context, dir string, o statusOptions, s streams) error {
	targets, err := reach(ctx, dir, o.reachOptions, s.err)
	if err != nil {
		return err
	}
	out := make([]clusterStatus, len(targets))
	ok := true
	for i, r := range targets {
		out[i] = clusterStatus{Cluster: r.name, Context: r.context, Inventories: []reconcile.InventoryStatus{}}
		err := r.err
		if err == nil {
			var invs []reconcile.InventoryStatus
			invs, err = reconcile.Inventories(ctx, r.client, r.name, o.sourceID)
			out[i].Inventories = append(out[i].Inventories, invs...)
		}
		if err != nil {
			out[i].Error = err.Error()
			fmt.Fprintf(s.err, "error: %s: %v\n", r.where(), err)
			ok = false
		}
	}
	if o.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printStatus(s, out)
	}
	if !ok {
		return failed()
	}
	return nil
}

// printStatus prints one row per inventory, and one per declared cluster
// that has none.
func printStatus(s streams, clusters []clusterStatus) {
	w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tCONTEXT\tSOURCE\tREVISION\tAPPLIED\tRESULT\tOBJECTS\tDRIFTED\tSUSPENDED")
	for _, c := range clusters {
		if c.Error != "" {
			continue
		}
		if len(c.Inventories) == 0 && c.Cluster != "" {
			fmt.Fprintf(w, "%s\t%s\t-\t-\t-\tnever applied\t-\t-\t-\n", c.Cluster, c.Context)
		}
		for _, inv := range c.Inventories {
			rev, applied, result, drifted := "-", "-", "never applied", "-"
			if l := inv.Last; l != nil {
				rev, applied, result, drifted = shortRev(l.Revision), l.Finished.UTC().Format(time.RFC3339), resultText(l), fmt.Sprint(l.Drifted)
			}
			suspended := "no"
			if inv.Suspended() {
				suspended = "since " + inv.SuspendedSince
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", inv.Cluster, c.Context, inv.Source, rev, applied, result, inv.Objects, drifted, suspended)
		}
	}
	_ = w.Flush()
}

// resultText is "succeeded (2 created, 20 unchanged)".
func resultText(l *reconcile.AppliedStatus) string {
	var parts []string
	for _, a := range reconcile.Actions {
		if n := l.Counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return l.Result
	}
	return l.Result + " (" + strings.Join(parts, ", ") + ")"
}

// shortRev is a revision's first 12 characters.
func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	if rev == "" {
		return "-"
	}
	return rev
}
