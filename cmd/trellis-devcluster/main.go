// Command trellis-devcluster runs a local Kubernetes control plane (etcd and
// kube-apiserver, no nodes) in the background, with the upstream CRDs that
// trellis renders to, for `make demo` and for trying trellis by hand.
//
//	trellis-devcluster up --dir .cache/devcluster    # start, or reuse a running one
//	trellis-devcluster status --dir .cache/devcluster
//	trellis-devcluster down --dir .cache/devcluster  # stop and remove everything
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"trellis.dev/trellis/test/controlplane"
)

const defaultDir = ".cache/devcluster"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code: 0 success, 1
// failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "trellis-devcluster: %v\n", err)
	var usage usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "trellis-devcluster",
		Short:         "Run a local etcd and kube-apiserver with trellis's upstream CRDs",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newUpCommand(stdout, stderr), newDownCommand(stdout), newStatusCommand(stdout))
	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", args)}
	}
	return nil
}

type upOptions struct {
	dir         string
	contextName string
	crds        bool
	timeout     time.Duration
}

func newUpCommand(stdout, stderr io.Writer) *cobra.Command {
	opts := upOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a control plane in the background, or reuse the one running in --dir",
		Long: "Start etcd and kube-apiserver detached from this process, install the upstream CRDs\n" +
			"and write a kubeconfig into --dir. If a healthy control plane already runs there, reuse it;\n" +
			"if a dead one is recorded there, clean it up and start afresh.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), opts, stdout, slog.New(slog.NewTextHandler(stderr, nil)))
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", defaultDir, "working directory of the control plane")
	cmd.Flags().StringVar(&opts.contextName, "context", controlplane.DefaultContextName,
		"name of the context in the written kubeconfig")
	cmd.Flags().BoolVar(&opts.crds, "crds", true,
		"install the upstream CRDs ($"+controlplane.EnvCRDDirs+" overrides the list)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long to wait for startup and CRDs")
	return cmd
}

// hasContext reports whether the kubeconfig at path has the named context.
func hasContext(path, name string) bool {
	cfg, err := clientcmd.LoadFromFile(path)
	return err == nil && cfg.Contexts[name] != nil
}

func runUp(ctx context.Context, opts upOptions, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cp, err := controlplane.Load(opts.dir)
	switch {
	case err == nil && cp.Healthy(ctx) == nil && hasContext(cp.KubeconfigPath(), opts.contextName):
		fmt.Fprintln(stdout, "control plane already running")
		printAccess(stdout, cp)
		return nil
	case err == nil:
		log.Info("recorded control plane is not healthy or has another context; restarting it",
			"dir", cp.Dir(), "context", opts.contextName)
		if err := cp.Stop(); err != nil {
			return fmt.Errorf("clean up %s: %w", cp.Dir(), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	begin := time.Now()
	cp, err = controlplane.Start(ctx, controlplane.Options{
		Dir:             opts.dir,
		ContextName:     opts.contextName,
		WithDefaultCRDs: opts.crds,
		StartTimeout:    opts.timeout,
		Detach:          true,
		Logger:          log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "control plane started in %s\n", time.Since(begin).Round(100*time.Millisecond))
	printAccess(stdout, cp)
	return nil
}

func printAccess(w io.Writer, cp *controlplane.ControlPlane) {
	fmt.Fprintf(w, "apiserver:  %s\n", cp.RESTConfig().Host)
	fmt.Fprintf(w, "kubeconfig: %s\n", cp.KubeconfigPath())
	fmt.Fprintf(w, "logs:       %s/*.log\n", cp.Dir())
	fmt.Fprintf(w, "use it:     export KUBECONFIG=%s\n", cp.KubeconfigPath())
	fmt.Fprintf(w, "stop it:    trellis-devcluster down --dir %s   (or: make devcluster-down)\n", cp.Dir())
}

func newDownCommand(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the control plane running in --dir and remove the directory",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			cp, err := controlplane.Load(dir)
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(stdout, "no control plane recorded in %s\n", dir)
				return nil
			}
			if err != nil {
				return err
			}
			if err := cp.Stop(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "control plane in %s stopped and removed\n", cp.Dir())
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir, "working directory of the control plane")
	return cmd
}

func newStatusCommand(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Report whether the control plane in --dir is running and ready (exit code 1 if not)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := controlplane.Load(dir)
			if err != nil {
				return err
			}
			if err := cp.Healthy(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "control plane running")
			printAccess(stdout, cp)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", defaultDir, "working directory of the control plane")
	return cmd
}
