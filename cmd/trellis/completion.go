package main

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/schema"
)

// completionTimeout bounds the repo load behind a completion: a shell
// waits for it.
const completionTimeout = 5 * time.Second

// registerCompletions gives every command's --cluster the Clusters its
// DIR argument declares, and its --context the contexts of the kubeconfig
// it would read (--kubeconfig, else $KUBECONFIG or ~/.kube/config), to the
// shell completion cobra generates (`trellis completion bash|zsh|fish`).
func registerCompletions(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Flags().Lookup("cluster") != nil {
			_ = cmd.RegisterFlagCompletionFunc("cluster", completeClusters)
		}
		if cmd.Flags().Lookup("context") != nil {
			_ = cmd.RegisterFlagCompletionFunc("context", completeContexts)
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

// completeClusters lists the Clusters declared in the repo of the first
// positional argument (the current directory without one).
func completeClusters(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	dir := "."
	if len(args) > 0 {
		dir = args[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	repo, err := render.Load(ctx, dir, render.Limits{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, d := range repo.Declarations {
		if d.Kind == schema.KindCluster && strings.HasPrefix(d.Name, toComplete) {
			names = append(names, d.Name)
		}
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeRunIDs lists the run ids on the lineage branch of --repo, newest
// first, each described by its cluster and result, for the RUN-ID argument
// of lineage show.
func completeRunIDs(f *lineageFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 || f.repo == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		auth, err := f.auth.Method(f.repo)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		st, err := lineage.Open(ctx, f.repo, f.branch, auth)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		recs, err := st.Records()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var ids []string
		for _, r := range recs {
			if strings.HasPrefix(r.RunID, toComplete) {
				ids = append(ids, r.RunID+"\t"+r.Cluster+" "+string(r.Result))
			}
		}
		return ids, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeContexts lists the contexts of the kubeconfig the command would
// read.
func completeContexts(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f := cmd.Flags().Lookup("kubeconfig"); f != nil {
		rules.ExplicitPath = f.Value.String()
	}
	cfg, err := rules.Load()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for name := range cfg.Contexts {
		if strings.HasPrefix(name, toComplete) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}
