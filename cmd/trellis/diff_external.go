package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"trellis.dev/trellis/reconcile"
)

// envExternalDiff names the program `trellis diff` shows changes with, as
// `kubectl diff` does: "diff -u -N", "meld", "dyff between --omit-header".
const envExternalDiff = "KUBECTL_EXTERNAL_DIFF"

// externalDiff shows the changed objects of diffs with program, as kubectl
// diff does with $KUBECTL_EXTERNAL_DIFF: it writes the live and the Git
// version (the server's dry-run result) of each object to two directories,
// LIVE and MERGED, one file per object named
// group.version.kind.namespace.name (no live file for an object to create,
// no merged one for an object to prune), and runs program with the two
// directories as its last arguments, its output on the command's. Secret
// values are redacted in both, as in the built-in diff. The program's exit
// status 0 or 1 (differences found) is a diff's; anything else is an error.
func externalDiff(ctx context.Context, program string, diffs []reconcile.ObjectDiff, s streams) error {
	args := strings.Fields(program)
	if len(args) == 0 {
		return nil
	}
	tmp, err := os.MkdirTemp("", "trellis-diff-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	live, merged := filepath.Join(tmp, "LIVE"), filepath.Join(tmp, "MERGED")
	for _, d := range []string{live, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	for _, d := range diffs {
		if !d.Changed() {
			continue
		}
		name := externalDiffName(d.Ref)
		for dir, text := range map[string]string{live: d.Live, merged: d.Merged} {
			if text == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				return err
			}
		}
	}
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], live, merged)...)
	cmd.Stdout, cmd.Stderr = s.out, s.err
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return nil // differences, as diff says them
	}
	if err != nil {
		return fmt.Errorf("$%s (%s): %w", envExternalDiff, program, err)
	}
	return nil
}

// externalDiffName is the file name kubectl diff gives an object.
func externalDiffName(r reconcile.ObjectRef) string {
	group := r.Group
	if group == "" {
		group = "core"
	}
	parts := []string{group, r.Version, r.Kind, r.Namespace, r.Name}
	if r.Namespace == "" {
		parts = []string{group, r.Version, r.Kind, r.Name}
	}
	return strings.Join(parts, ".")
}
