package main

import (
	"fmt"

	"cuelang.org/go/cue/cuecontext"
	"github.com/spf13/cobra"

	"trellis.dev/trellis/schema"
)

func newSchemaCommand(s streams) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of declarations, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of trellis declarations, generated from
the CUE schemas. Point yaml-language-server at it to validate YAML as you type:

  # yaml-language-server: $schema=./trellis.schema.json`,
		Args: exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			sc, err := schema.Load(cuecontext.New())
			if err != nil {
				return err
			}
			b, err := sc.JSONSchema(kind)
			if err != nil {
				return usageError{err}
			}
			fmt.Fprintln(s.out, string(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "print the schema of one kind (Cluster, Pipeline, Experiment, Endpoint)")
	return cmd
}
