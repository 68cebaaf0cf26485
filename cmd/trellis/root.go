package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, as kubectl's.
const (
	exitOK      = 0
	exitFailed  = 1 // the job failed: invalid input, failed apply, changes found by diff
	exitUsage   = 2
	exitUnknown = 3
)

// exitError carries an exit code; its message (if any) has been printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failed returns an error that exits with code 1 after the caller printed
// what failed.
func failed() error { return &exitError{code: exitFailed} }

// streams are where a command writes.
type streams struct {
	out, err io.Writer
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(streams{out: stdout, err: stderr})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "error:", err)
	if isUsageError(err) || isUnknownCommand(err) {
		return exitUsage
	}
	return exitFailed
}

// isUnknownCommand reports cobra's error for a command that does not exist,
// a usage error; cobra has no type for it, only this message
// (cobra command.go, legacyArgs and Find).
func isUnknownCommand(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

// usageError marks errors of the command line itself.
type usageError struct{ error }

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "trellis",
		Short:         "GitOps for machine-learning platforms on Kubernetes",
		Long:          "trellis validates CUE and YAML declarations of ML platforms, renders them into\nKubeflow's objects, applies them to clusters and records their lineage in Git.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newValidateCommand(s),
		newRenderCommand(s),
		newDiffCommand(s),
		newApplyCommand(s),
		newStatusCommand(s),
		newServeCommand(s),
		newPRCommand(s),
		newSchemaCommand(s),
		newVersionCommand(s),
		newLineageCommand(s),
	)
	root.AddCommand(newSuspendCommands(s)...)
	registerCompletions(root)
	return root
}

// exactArgs is cobra.ExactArgs whose error is a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
