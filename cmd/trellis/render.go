package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"

	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

type renderOptions struct {
	cluster  string
	output   string
	outDir   string
	watch    bool
	revision string
	sops     sopsOptions
	// showSecrets prints Secrets' values; else they are redacted.
	showSecrets bool
}

func newRenderCommand(s streams) *cobra.Command {
	var o renderOptions
	cmd := &cobra.Command{
		Use:   "render DIR",
		Short: "Render a config repo into the Kubernetes objects each cluster should hold",
		Long: `Render the config repo in DIR into Kubernetes objects, with no cluster involved.
Objects are printed in apply order, as YAML documents or, with -o json, as a v1
List. With --out, each cluster's objects are written to DIR/<cluster>.yaml (or
.json) instead. With --watch, the repo is rendered again on every save.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.output != "yaml" && o.output != "json" && o.output != "name":
				return usageError{fmt.Errorf("--output must be yaml, json or name, not %q", o.output)}
			case o.output == "name" && o.outDir != "":
				return usageError{fmt.Errorf("--output name prints to standard output: it cannot be written with --out")}
			}
			if o.watch {
				return watchRender(cmd.Context(), args[0], o, s, nil)
			}
			return renderOnce(cmd.Context(), args[0], o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cluster, "cluster", "", "render only this cluster")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml, json, or name (kind.group/name, as kubectl's)")
	f.StringVar(&o.outDir, "out", "", "write each cluster's objects to a file in this directory")
	f.BoolVar(&o.watch, "watch", false, "render again on every change, until interrupted")
	f.BoolVar(&o.showSecrets, "show-secrets", false, "print the values of Secrets (SOPS-decrypted ones included); by default they are redacted")
	addSOPSFlags(f, &o.sops)
	f.StringVar(&o.revision, "revision", "", "revision recorded on the objects (default: the Git commit checked out in DIR)")
	return cmd
}

// renderOnce renders dir and writes the result; invalid input prints its
// problems and fails with exit code 1.
func renderOnce(ctx context.Context, dir string, o renderOptions, s streams) error {
	rev := o.revision
	if rev == "" {
		var err error
		if rev, err = source.LocalRevision(dir); err != nil {
			return err
		}
	}
	keys, err := o.sops.keys()
	if err != nil {
		return err
	}
	res, err := render.Dir(ctx, dir, render.Options{Revision: rev, Cluster: o.cluster, SOPS: keys})
	if err != nil {
		printProblems(s.err, err, dir)
		return failed()
	}
	if !o.showSecrets {
		redactSecrets(res)
	}
	if o.outDir != "" {
		return writeClusters(res, o.outDir, o.output, s.err)
	}
	var objs []*unstructured.Unstructured
	for _, c := range res.Clusters {
		objs = append(objs, c.Objects...)
	}
	return writeObjects(s.out, objs, o.output)
}

// writeObjects prints objects as YAML documents, as a JSON v1 List, or by
// name: one kind.group/name a line, by kubectl's own NamePrinter.
func writeObjects(w io.Writer, objs []*unstructured.Unstructured, format string) error {
	if format == "name" {
		p := printers.NamePrinter{}
		for _, o := range objs {
			if err := p.PrintObj(o, w); err != nil {
				return err
			}
		}
		return nil
	}
	if format == "json" {
		items := make([]any, len(objs))
		for i, o := range objs {
			items[i] = o.Object
		}
		b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	return render.WriteYAML(w, objs)
}

// writeClusters writes each cluster's objects to dir/<cluster>.<format>.
func writeClusters(res *render.Result, dir, format string, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range res.Clusters {
		path := filepath.Join(dir, c.Name+"."+format)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		werr := writeObjects(f, c.Objects, format)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return werr
		}
		fmt.Fprintf(log, "wrote %s (%d objects)\n", path, len(c.Objects))
	}
	return nil
}

// watchRender renders dir, then again after every change, until ctx ends.
// rendered, when set, is called after each render (for tests).
func watchRender(ctx context.Context, dir string, o renderOptions, s streams, rendered func(error)) error {
	return watch(ctx, dir, func() {
		err := renderOnce(ctx, dir, o, s)
		if err != nil && !isExit(err, exitFailed) {
			fmt.Fprintln(s.err, "error:", err)
		}
		fmt.Fprintf(s.err, "watching %s for changes (Ctrl-C to stop)\n", dir)
		if rendered != nil {
			rendered(err)
		}
	})
}

// redactSecrets replaces the values of every Secret of res with markers
// (redact.Secret), so that render prints none unless
// --show-secrets.
func redactSecrets(res *render.Result) {
	for i := range res.Clusters {
		for j, obj := range res.Clusters[i].Objects {
			if redact.IsSecret(obj) {
				res.Clusters[i].Objects[j] = redact.Secret(obj)
			}
		}
	}
}
