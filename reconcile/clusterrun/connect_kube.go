package clusterrun

// Reaching a cluster: which kubeconfig context a Cluster declaration maps
// to. Shared by every command that reaches clusters (diff, apply, status,
// suspend, resume, pr, serve), so that all reach the same cluster the same
// way, and none ever falls back to another one.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/render"
)

// inClusterContext names the cluster trellis runs in, in a Cluster's
// spec.context: the service account of the pod, when no kubeconfig
// context of that name exists.
const inClusterContext = "in-cluster"

// Kube is how a command reaches clusters: kubectl's flags, as
// cli-runtime's ConfigFlags parse them.
type Kube struct {
	// Kubeconfig is the kubeconfig file (--kubeconfig); empty: kubectl's
	// default, every file of $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Context is the context of every cluster reached (--context), instead
	// of the one each Cluster declares.
	Context string
	// Impersonate acts as another user (--as, --as-group, --as-uid), as
	// kubectl does. A tenant namespace's applier, when declared, still
	// applies that namespace's objects.
	Impersonate rest.ImpersonationConfig
	// Timeout bounds each request (--request-timeout); zero:
	// RequestTimeout.
	Timeout time.Duration
}

// KubeConfig returns the REST config that reaches cluster through
// k.Kubeconfig, as k's user and with its request timeout, and the context
// it chose, for messages. The context is, in order:
//  1. k.Context, the --context flag, when given;
//  2. the Cluster declaration's spec.context, which defaults to the
//     cluster's name;
//  3. for spec.context "in-cluster" only, when the kubeconfig has no
//     context of that name, the cluster trellis runs in (its pod's service
//     account).
//
// A context that is not found is an error naming the cluster, the context
// and every kubeconfig file searched: never the current context instead,
// which may be another cluster. (A Cluster's kubeconfigSecret is read by
// trellis serve only: see Pool.)
func KubeConfig(k Kube, cluster render.Cluster) (*rest.Config, string, error) {
	cfg, name, err := kubeConfig(k.Kubeconfig, k.Context, cluster)
	if err != nil {
		return nil, name, err
	}
	k.Configure(cfg)
	return cfg, name, nil
}

// Configure sets k's user (--as) and request timeout on cfg, when given.
func (k Kube) Configure(cfg *rest.Config) {
	if k.Impersonate.UserName != "" || len(k.Impersonate.Groups) > 0 || k.Impersonate.UID != "" {
		cfg.Impersonate = k.Impersonate
	}
	if k.Timeout > 0 {
		cfg.Timeout = k.Timeout
	}
}

func kubeConfig(kubeconfig, contextName string, cluster render.Cluster) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: kubeconfig: %w", cluster.Name, err)
	}
	name, err := kubeContext(raw, contextName, cluster)
	if errors.Is(err, errUseInCluster) {
		cfg, inErr := rest.InClusterConfig()
		if inErr != nil {
			return nil, "", fmt.Errorf("cluster %s: spec.context is %q, but no kubeconfig context has that name (searched %s) and trellis is not running in a pod: %w",
				cluster.Name, inClusterContext, Searched(rules), inErr)
		}
		return cfg, inClusterContext, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w (searched %s)%s", cluster.Name, err, Searched(rules), hint(contextName, cluster))
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: kube context %q: %w", cluster.Name, name, err)
	}
	return cfg, name, nil
}

// KubeConnector reaches a cluster through the kubeconfig context
// KubeConfig picks (k.Context, the --context flag, first), each request
// bounded by k.Timeout or RequestTimeout: the connector of the CLI's
// commands.
func KubeConnector(k Kube) Connector {
	return func(cluster render.Cluster) (*reconcile.Client, string, error) {
		cfg, kubeContext, err := KubeConfig(k, cluster)
		if err != nil {
			return nil, "", err
		}
		client, err := NewClient(cfg)
		if err != nil {
			return nil, kubeContext, fmt.Errorf("cluster %s: %w", cluster.Name, err)
		}
		return client, kubeContext, nil
	}
}

// errUseInCluster says that the cluster is the one trellis runs in.
var errUseInCluster = errors.New("in-cluster")

// kubeContext picks the context of cluster in raw; see KubeConfig.
func kubeContext(raw *clientcmdapi.Config, contextName string, cluster render.Cluster) (string, error) {
	if contextName != "" {
		if raw.Contexts[contextName] == nil {
			return "", fmt.Errorf("kube context %q (from --context) is not in the kubeconfig", contextName)
		}
		return contextName, nil
	}
	want, from := cluster.Spec.Context, "spec.context"
	if want == "" {
		want, from = cluster.Name, "the cluster's name, as it declares no spec.context"
	}
	if raw.Contexts[want] != nil {
		return want, nil
	}
	if want == inClusterContext && cluster.Spec.Context == inClusterContext {
		return "", errUseInCluster
	}
	return "", fmt.Errorf("kube context %q (from %s) is not in the kubeconfig", want, from)
}

// hint says how to fix a context that was not found.
func hint(contextName string, cluster render.Cluster) string {
	switch {
	case contextName != "":
		return ""
	case cluster.Spec.KubeconfigSecret != nil:
		return "; its kubeconfigSecret is read by trellis serve only: pass --context"
	}
	return "; pass --context, or add the context to the kubeconfig"
}

// Searched names the kubeconfig files the rules read, and where that list
// came from.
func Searched(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return "kubeconfig " + rules.ExplicitPath + " (--kubeconfig)"
	}
	files := rules.GetLoadingPrecedence()
	from := "the default"
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		from = "$" + clientcmd.RecommendedConfigPathEnvVar
	}
	word := "kubeconfig"
	if len(files) > 1 {
		word = "kubeconfigs"
	}
	return word + " " + strings.Join(files, ", ") + " (" + from + ")"
}
