package main

// Reaching a cluster from the operator's laptop: which kubeconfig context
// a Cluster declaration maps to. Shared by `trellis diff` and
// `trellis apply`, so that both reach the same cluster the same way.

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"trellis.dev/trellis/render"
)

// restConfigFor returns the REST config that reaches cluster through the
// kubeconfig file (empty: kubectl's default, $KUBECONFIG or
// ~/.kube/config).
//
// The context is, in order:
//  1. contextName, the --context flag, when given: it must exist;
//  2. the Cluster declaration's spec.context, else the cluster's name;
//  3. when that context is not in the kubeconfig and single is set (one
//     cluster is being reconciled, as with --cluster or a repo declaring
//     one cluster), the kubeconfig's current context.
//
// Commands that reach clusters (diff, apply) call it once per cluster.
func restConfigFor(kubeconfig, contextName string, cluster render.Cluster, single bool) (*rest.Config, error) {
	cfg, _, err := kubeConfigFor(kubeconfig, contextName, cluster, single)
	return cfg, err
}

// kubeConfigFor is restConfigFor that also returns the context it chose,
// for messages.
func kubeConfigFor(kubeconfig, contextName string, cluster render.Cluster, single bool) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: kubeconfig: %w", cluster.Name, err)
	}
	name, err := kubeContext(raw, contextName, cluster, single)
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w", cluster.Name, err)
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: kube context %q: %w", cluster.Name, name, err)
	}
	return cfg, name, nil
}

// kubeContext picks the context of cluster in raw; see restConfigFor.
func kubeContext(raw *clientcmdapi.Config, contextName string, cluster render.Cluster, single bool) (string, error) {
	if contextName != "" {
		if raw.Contexts[contextName] == nil {
			return "", fmt.Errorf("kube context %q (from --context) is not in the kubeconfig", contextName)
		}
		return contextName, nil
	}
	want, from := cluster.Spec.Context, "spec.context"
	if want == "" {
		want, from = cluster.Name, "the cluster's name"
	}
	if raw.Contexts[want] != nil {
		return want, nil
	}
	if single && raw.CurrentContext != "" && raw.Contexts[raw.CurrentContext] != nil {
		return raw.CurrentContext, nil
	}
	return "", fmt.Errorf("kube context %q (from %s) is not in the kubeconfig; pass --context", want, from)
}
