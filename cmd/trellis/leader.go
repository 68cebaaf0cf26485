package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"trellis.dev/trellis/reconcile/elect"
)

type leaderOptions struct {
	enabled   bool
	namespace string
	name      string
	timing    elect.Timing
	// shards, when positive, splits the clusters into that many shards,
	// each held through a Lease of its own (see elect.Sharder).
	shards int
	holder string
}

func addLeaderFlags(f *pflag.FlagSet, o *leaderOptions) {
	f.BoolVar(&o.enabled, "leader-elect", false, "run only while holding a Lease, so that one of several replicas reconciles")
	f.StringVar(&o.namespace, "leader-election-namespace", "trellis-system", "namespace of the Leases (of --leader-elect and of --shards)")
	f.StringVar(&o.name, "leader-election-name", "trellis", "name of the Lease; with --shards, the shards' Leases are NAME-shard-I and the replicas' NAME-member-HASH")
	f.DurationVar(&o.timing.LeaseDuration, "lease-duration", elect.DefaultTiming.LeaseDuration, "how long a Lease not renewed stays held: the longest a dead replica's clusters wait for another one")
	f.DurationVar(&o.timing.RenewDeadline, "renew-deadline", elect.DefaultTiming.RenewDeadline, "how long the holder tries to renew its Lease before it stops reconciling what the Lease holds")
	f.DurationVar(&o.timing.RetryPeriod, "retry-period", elect.DefaultTiming.RetryPeriod, "time between two tries to take or renew a Lease")
	f.IntVar(&o.shards, "shards", 0, "split the declared clusters into this many shards by a hash of their name, each held by one replica at a time through a Lease of its own (0: no sharding)")
	f.StringVar(&o.holder, "shard-holder", "", "identity of this replica in the Leases, unique among the replicas (default: the host name, the pod's name in-cluster, and a random suffix)")
}

// validate checks the leader election flags.
func (o leaderOptions) validate() error {
	if o.shards < 0 {
		return usageError{fmt.Errorf("--shards must not be negative, not %d", o.shards)}
	}
	if o.shards > 0 && o.enabled {
		return usageError{errors.New("--shards and --leader-elect exclude each other: with --shards each shard has a Lease of its own")}
	}
	if o.holder != "" && o.shards == 0 {
		return usageError{errors.New("--shard-holder needs --shards")}
	}
	if o.enabled || o.shards > 0 {
		if err := o.timing.Validate(); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// election is what the flags say, for package elect.
func (o leaderOptions) election() elect.Options {
	return elect.Options{Namespace: o.namespace, Name: o.name, Timing: o.timing}
}

// sharding is what the flags say of shards, for package elect.
func (o leaderOptions) sharding() elect.ShardOptions {
	return elect.ShardOptions{Options: o.election(), Shards: o.shards, Holder: o.holder}
}
