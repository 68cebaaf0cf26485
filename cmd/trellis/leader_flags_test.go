package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"trellis.dev/trellis/reconcile/elect"
)

// TestLeaderFlags: the flags of leader election and sharding, checked
// together.
func TestLeaderFlags(t *testing.T) {
	ok := elect.Timing{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	assert.Error(t, leaderOptions{shards: 2, enabled: true, timing: ok}.validate())
	assert.Error(t, leaderOptions{holder: "x", timing: ok}.validate())
	assert.Error(t, leaderOptions{shards: -1, timing: ok}.validate())
	assert.Error(t, leaderOptions{enabled: true, timing: elect.Timing{LeaseDuration: time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second}}.validate())
	assert.NoError(t, leaderOptions{shards: 4, holder: "x", timing: ok}.validate())
	assert.NoError(t, leaderOptions{enabled: true, timing: ok}.validate())
}
