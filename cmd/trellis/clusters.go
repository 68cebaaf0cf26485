package main

// The clusters that status, suspend and resume read and write: the
// Clusters a config repo declares, each reached through its own context
// (clusterrun.KubeConfig), or, without a repo, the one cluster behind --context.

import (
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/render"
)

// reachOptions are the flags that say which clusters to reach.
type reachOptions struct {
	kubeconfig string
	context    string
	kube       *kubeFlags
	cluster    string
	sourceID   string
}

// reached is one cluster reached, or why it could not be.
type reached struct {
	// name is the Cluster's name; "" without a repo and --cluster (every
	// inventory of the cluster behind the context).
	name    string
	context string
	client  *reconcile.Client
	err     error
}

// reach returns the clusters of the repo at dir (all of them, or
// --cluster, which must be declared), each through its context; without
// dir, the cluster behind --context, else the kubeconfig's current
// context, as kubectl does (trellis only reads or writes its own
// inventories there, of --cluster when set). Problems of the repo are
// printed on w, and the error exits with code 1.
func reach(ctx context.Context, dir string, o reachOptions, w io.Writer) ([]reached, error) {
	kube, err := o.kube.kube()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		cfg, name, err := currentConfig(kube)
		if err != nil {
			return nil, err
		}
		r := reached{name: o.cluster, context: name}
		r.client, r.err = clusterrun.NewClient(cfg)
		return []reached{r}, nil
	}
	// Reaching clusters needs no secret: SOPS files are not decrypted.
	res, err := render.Dir(ctx, dir, render.Options{Cluster: o.cluster, SOPS: render.SOPSKeys{Withheld: "finding clusters needs no secret"}})
	if err != nil {
		printProblems(w, err, dir)
		return nil, failed()
	}
	if err := oneClusterForContext(o.context, res.Clusters); err != nil {
		return nil, err
	}
	out := make([]reached, len(res.Clusters))
	for i, cluster := range res.Clusters {
		r := reached{name: cluster.Name}
		r.client, r.context, r.err = clusterrun.KubeConnector(kube)(cluster)
		out[i] = r
	}
	return out, nil
}

// currentConfig is the cluster behind k.Context, else the kubeconfig's
// current context.
func currentConfig(k clusterrun.Kube) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.Kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	name := raw.CurrentContext
	if k.Context != "" {
		name = k.Context
	}
	if name == "" || raw.Contexts[name] == nil {
		return nil, "", fmt.Errorf("kube context %q is not in the kubeconfig (searched %s); pass --context", name, clusterrun.Searched(rules))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kube context %q: %w", name, err)
	}
	k.Configure(cfg)
	return cfg, name, nil
}

// where names a reached cluster in messages.
func (r reached) where() string {
	if r.name == "" {
		return "context " + r.context
	}
	if r.context == "" {
		return "cluster " + r.name
	}
	return fmt.Sprintf("cluster %s (context %s)", r.name, r.context)
}

// oneClusterForContext refuses --context when it would send several
// clusters to one context: each cluster is a different cluster.
func oneClusterForContext(contextName string, clusters []render.Cluster) error {
	if contextName == "" || len(clusters) <= 1 {
		return nil
	}
	names := make([]string, len(clusters))
	for i, c := range clusters {
		names[i] = c.Name
	}
	return usageError{fmt.Errorf("--context names one cluster's context, and %d clusters are selected (%s): add --cluster NAME",
		len(clusters), strings.Join(names, ", "))}
}
