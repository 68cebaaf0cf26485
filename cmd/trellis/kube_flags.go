package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile/clusterrun"
)

// kubeFlags are kubectl's flags for reaching clusters, from cli-runtime's
// ConfigFlags: --kubeconfig, --context, --as, --as-group, --as-uid and
// --request-timeout. Flags that would point every declared cluster at
// one server or user (--server, --cluster, --user, --token, ...) are left
// out: each Cluster declaration names its own context.
type kubeFlags struct {
	cf *genericclioptions.ConfigFlags
}

// addKubeFlags registers the flags on f; --kubeconfig and --context are
// written to kubeconfig and context, with the usage given.
func addKubeFlags(f *pflag.FlagSet, kubeconfig, context *string, kubeconfigUsage, contextUsage string) *kubeFlags {
	cf := &genericclioptions.ConfigFlags{
		KubeConfig:       kubeconfig,
		Context:          context,
		Impersonate:      new(string),
		ImpersonateUID:   new(string),
		ImpersonateGroup: &[]string{},
		Timeout:          new(string),
	}
	cf.AddFlags(f)
	f.Lookup("kubeconfig").Usage = kubeconfigUsage
	f.Lookup("context").Usage = contextUsage
	f.Lookup("request-timeout").Usage = "bound on each request to a cluster, as kubectl's (1s, 2m; a bare number is seconds)"
	f.Lookup("request-timeout").DefValue = clusterrun.RequestTimeout.String()
	return &kubeFlags{cf: cf}
}

// kube returns what the flags say, for clusterrun.
func (k *kubeFlags) kube() (clusterrun.Kube, error) {
	timeout, err := requestTimeout(*k.cf.Timeout)
	if err != nil {
		return clusterrun.Kube{}, err
	}
	return clusterrun.Kube{
		Kubeconfig: *k.cf.KubeConfig,
		Context:    *k.cf.Context,
		Impersonate: rest.ImpersonationConfig{UserName: *k.cf.Impersonate, UID: *k.cf.ImpersonateUID,
			Groups: *k.cf.ImpersonateGroup},
		Timeout: timeout,
	}, nil
}

// requestTimeout parses --request-timeout as kubectl does: a duration,
// or a bare number of seconds; "" and "0" leave the default.
func requestTimeout(v string) (time.Duration, error) {
	if v == "" || v == "0" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, usageError{fmt.Errorf("--request-timeout %q: want a duration such as 30s or 2m, or a number of seconds", v)}
	}
	return d, nil
}
