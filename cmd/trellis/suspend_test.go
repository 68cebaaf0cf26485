package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"trellis.dev/trellis/reconcile/daemon"
)

// TestSuspendResume: the commands write and remove the files the daemon
// reads.
func TestSuspendResume(t *testing.T) {
	state := t.TempDir()
	r := runCLI(t, t.TempDir(), []string{"suspend", "--state-dir", state, "--cluster", "prod"}, nil)
	assert.Equal(t, exitOK, r.exit, r.stderr)
	assert.Equal(t, "cluster prod: suspended\n", r.stdout)
	assert.True(t, daemon.Suspended(state, "prod"))
	assert.False(t, daemon.Suspended(state, "staging"))

	r = runCLI(t, t.TempDir(), []string{"suspend", "--state-dir", state}, nil)
	assert.Equal(t, "every cluster: suspended\n", r.stdout)
	assert.True(t, daemon.Suspended(state, "staging"))

	for _, args := range [][]string{{"resume", "--state-dir", state}, {"resume", "--state-dir", state, "--cluster", "prod"}} {
		r = runCLI(t, t.TempDir(), args, nil)
		assert.Equal(t, exitOK, r.exit, r.stderr)
	}
	assert.False(t, daemon.Suspended(state, "prod"))
	r = runCLI(t, t.TempDir(), []string{"resume", "--state-dir", state}, nil)
	assert.Equal(t, exitOK, r.exit, "resuming what runs is no error: %s", r.stderr)

	r = runCLI(t, t.TempDir(), []string{"suspend", "--state-dir", state + "/missing"}, nil)
	assert.Equal(t, exitUsage, r.exit)
}
