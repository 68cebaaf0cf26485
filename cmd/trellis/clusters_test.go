package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/render"
)

// TestOneClusterForContext refuses --context for several clusters.
func TestOneClusterForContext(t *testing.T) {
	two := []render.Cluster{{Name: "prod"}, {Name: "staging"}}
	require.NoError(t, oneClusterForContext("", two))
	require.NoError(t, oneClusterForContext("x", two[:1]))
	err := oneClusterForContext("x", two)
	require.EqualError(t, err, "--context names one cluster's context, and 2 clusters are selected (prod, staging): add --cluster NAME")
	assert.True(t, isUsageError(err))
}
