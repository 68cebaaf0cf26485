package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/render"
)

func newValidateCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "Validate the declarations of a config repo",
		Long: `Validate every declaration of the config repo in DIR against the schemas, and
the references between them (clusters, namespaces, node pools, pipeline steps,
quotas). Every problem is printed as path:line:col: message; the exit code is 1
when there is any.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Everything render checks: validate passes only what renders.
			res, err := render.Dir(cmd.Context(), args[0], render.Options{UpstreamSchemas: true})
			if err != nil {
				printProblems(s.err, err, args[0])
				return failed()
			}
			fmt.Fprintf(s.out, "%s: %d declarations and %d manifests are valid\n", args[0], len(res.Declarations), res.Manifests)
			return nil
		},
	}
}

// printProblems prints each problem of err as path:line:col: message,
// paths relative to dir.
func printProblems(w io.Writer, err error, dir string) {
	problems := render.Problems(err, dir, render.Explain())
	for _, p := range problems {
		if p.Path == "" && p.More == 0 {
			fmt.Fprintln(w, "error:", p)
			continue
		}
		fmt.Fprintln(w, p)
	}
	if len(problems) == 0 {
		fmt.Fprintln(w, "error:", err)
	}
}
