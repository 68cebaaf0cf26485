package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

type leaderOptions struct {
	enabled   bool
	namespace string
	name      string
}

func addLeaderFlags(f *pflag.FlagSet, o *leaderOptions) {
	f.BoolVar(&o.enabled, "leader-elect", false, "run only while holding a Lease, so that one of several replicas reconciles")
	f.StringVar(&o.namespace, "leader-election-namespace", "trellis-system", "namespace of the Lease")
	f.StringVar(&o.name, "leader-election-name", "trellis", "name of the Lease")
}

// runLeading runs fn until ctx ends; with leader election on, only while
// this process holds the Lease (in the cluster of the kubeconfig's current
// context, or the one it runs in). Losing the Lease ends fn and returns.
func runLeading(ctx context.Context, o leaderOptions, kubeconfig string, log *slog.Logger, fn func(context.Context) error) error {
	if !o.enabled {
		return fn(ctx)
	}
	cfg, err := homeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	id := leaderIdentity()
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, o.namespace, o.name,
		resourcelock.ResourceLockConfig{Identity: id}, cfg, 10*time.Second)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	var runErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("leading", "lease", o.namespace+"/"+o.name, "identity", id)
				runErr = fn(ctx)
				cancel()
			},
			OnStoppedLeading: func() { log.Info("no longer leading", "identity", id) },
		},
	})
	return runErr
}

// homeConfig reaches the cluster trellis runs in: the kubeconfig's current
// context, else the in-cluster service account.
func homeConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// leaderIdentity names this replica in the Lease: its host name (the pod's
// name in-cluster) and a random suffix, unique even for two replicas on
// one host.
func leaderIdentity() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}
