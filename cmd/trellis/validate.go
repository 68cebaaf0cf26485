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
		RunE: func(_ *cobra.Command, args []string) error {
			repo, err := loadRepo(args[0], s.err)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "%s: %d declarations and %d manifests are valid\n", args[0], len(repo.Declarations), len(repo.Manifests))
			return nil
		},
	}
}

// loadRepo loads the repo at dir; on invalid input it prints every problem
// to w and returns an error that exits with code 1.
func loadRepo(dir string, w io.Writer) (*render.Repo, error) {
	repo, err := render.Load(dir)
	if err != nil {
		printProblems(w, err, dir)
		return nil, failed()
	}
	return repo, nil
}

// printProblems prints each problem of err as path:line:col: message,
// paths relative to dir.
func printProblems(w io.Writer, err error, dir string) {
	problems := render.Problems(err, dir, render.Explain())
	for _, p := range problems {
		if p.Path == "" {
			fmt.Fprintln(w, "error:", p)
			continue
		}
		fmt.Fprintln(w, p)
	}
	if len(problems) == 0 {
		fmt.Fprintln(w, "error:", err)
	}
}
