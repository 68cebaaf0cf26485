package clusterrun

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"trellis.dev/trellis/render"
)

// Clusters reached through a kubeconfig Secret (a Cluster's
// spec.kubeconfigSecret): the Secret is read from the home cluster, the
// one trellis runs in (its in-cluster config), or, out of a cluster, the
// current context of --kubeconfig. The kubeconfig it holds reaches the
// cluster through spec.context when set, else its current context. It is
// read again whenever the cluster's client is rebuilt (after a failed
// apply), so a rotated Secret is picked up.

// HomeConfig reaches the cluster trellis runs in (its pod's service
// account), or, out of a cluster or with kubeconfig given, the current
// context of kubeconfig: where kubeconfig Secrets and Leases are.
func HomeConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// secretConfig reads the kubeconfig of cluster from its Secret. Errors
// name the Secret and the key, never what the Secret holds.
func (c *Pool) secretConfig(ctx context.Context, cluster render.Cluster) (*rest.Config, error) {
	ref := cluster.Spec.KubeconfigSecret
	key := ref.Key
	if key == "" {
		key = "kubeconfig"
	}
	where := fmt.Sprintf("kubeconfig Secret %s/%s", ref.Namespace, ref.Name)
	home, err := HomeConfig(c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %s: the home cluster: %w", cluster.Name, where, err)
	}
	home.Timeout = RequestTimeout
	kube, err := kubernetes.NewForConfig(home)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %s: %w", cluster.Name, where, err)
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	secret, err := kube.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %s: %w", cluster.Name, where, err)
	}
	data, ok := secret.Data[key]
	if !ok {
		return nil, fmt.Errorf("cluster %s: %s has no key %q", cluster.Name, where, key)
	}
	raw, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %s, key %q: not a kubeconfig", cluster.Name, where, key)
	}
	overrides := &clientcmd.ConfigOverrides{}
	if want := cluster.Spec.Context; want != "" {
		if raw.Contexts[want] == nil {
			return nil, fmt.Errorf("cluster %s: %s, key %q: no context %q (from spec.context)", cluster.Name, where, key, want)
		}
		overrides.CurrentContext = want
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %s, key %q: %w", cluster.Name, where, key, err)
	}
	return cfg, nil
}
