package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile/daemon"
)

// newSuspendCommands returns `trellis suspend` and `trellis resume`, which
// create and remove the suspend files a running `trellis serve` reads from
// its state directory: no shell needed in the image, no redeploy, no Git.
func newSuspendCommands(s streams) []*cobra.Command {
	newCmd := func(verb, short string, do func(stateDir, cluster string) error) *cobra.Command {
		var stateDir, cluster string
		cmd := &cobra.Command{
			Use:   verb + " [--cluster NAME] [--state-dir D]",
			Short: short,
			Long: short + `.

A running 'trellis serve' with the same --state-dir sees it at its next apply:
a suspended cluster is neither applied nor corrected for drift; polling and
rendering go on, so the latest revision applies on resume. In a cluster:

  kubectl -n trellis-system exec deploy/trellis -- /trellis ` + verb + ` --state-dir /var/lib/trellis`,
			Args: exactArgs(0),
			RunE: func(*cobra.Command, []string) error {
				if _, err := os.Stat(stateDir); err != nil {
					return usageError{fmt.Errorf("--state-dir: %w", err)}
				}
				if err := do(stateDir, cluster); err != nil {
					return err
				}
				what := "every cluster"
				if cluster != "" {
					what = "cluster " + cluster
				}
				fmt.Fprintf(s.out, "%s: %sed\n", what, strings.TrimSuffix(verb, "e"))
				return nil
			},
		}
		cmd.Flags().StringVar(&stateDir, "state-dir", ".trellis-state", "the state directory of trellis serve")
		cmd.Flags().StringVar(&cluster, "cluster", "", "one cluster (default: every cluster of the source)")
		return cmd
	}
	return []*cobra.Command{
		newCmd("suspend", "Stop trellis serve from applying a cluster, or every cluster", daemon.Suspend),
		newCmd("resume", "Let trellis serve apply a suspended cluster, or every cluster, again", daemon.Resume),
	}
}
